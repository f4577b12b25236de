//! `ensureFresh`: one refresh in flight per page, shared by every waiter.
//!
//! The refresh runs as a JS promise of its own (`future_to_promise` spawns it), so it completes and
//! saves its result whichever waiters remain; a waiter's abort signal ends only that waiter's wait.
//! The promise resolves to an outcome code; what the refresh produced is applied to the state by the
//! refresh itself, under the epoch it started in.

use std::rc::Rc;

use js_sys::Object;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::AbortSignal;

use crate::auth::{self, Answer};
use crate::config::Config;
use crate::error::{Code, Failure, FdError};
use crate::http;
use crate::js;
use crate::response::refresh_is_fatal;
use crate::session::{self, Freshness, Secret};
use crate::state::{self, Inflight};
use crate::time::now;

/// New tokens were saved under the epoch the refresh began in.
const FRESH: f64 = 0.0;
/// The session was replaced or ended while the refresh ran; its result was dropped.
const SUPERSEDED: f64 = 1.0;
/// The API said the refresh token is dead; the session has been ended.
const DEAD: f64 = 2.0;
/// 5xx, network, timeout or a malformed answer: the session is kept, the next call tries again.
const TRANSIENT: f64 = 3.0;

/// How many times a waiter starts over when the session changes under it, before giving up.
const MAX_ROUNDS: usize = 4;

/// The access token and partner id to send, refreshing first when under the threshold.
pub async fn ensure_fresh(signal: Option<&AbortSignal>) -> Result<(Secret, String), Failure> {
    let cfg = state::config()?;
    for _ in 0..MAX_ROUNDS {
        let (session, epoch, can_refresh, inflight) = state::with(|s| {
            let joinable = s
                .inflight
                .as_ref()
                .filter(|f| f.epoch == s.epoch)
                .map(|f| f.promise.clone());
            (
                s.session.clone(),
                s.epoch,
                cfg.cookie_mode || s.refresh_token.is_some(),
                joinable,
            )
        });
        let session = session.ok_or_else(FdError::not_signed_in)?;
        match (
            session::freshness(session.expires_at, now(), cfg.threshold_ms),
            can_refresh,
        ) {
            (Freshness::Fresh, _) | (Freshness::Stale, false) => {
                return Ok((session.access, session.partner))
            }
            (Freshness::Expired, false) => {
                // Restored after a reload in memory mode: no way to refresh, and the token is dead.
                state::expire(|s| s.epoch == epoch);
                return Err(FdError::session_expired().into());
            }
            _ => {}
        }
        let promise = inflight.unwrap_or_else(|| start(epoch, cfg.clone()));
        let waited = match signal {
            Some(signal) => http::abortable(&promise, signal),
            None => promise,
        };
        let outcome = JsFuture::from(waited)
            .await
            .map_err(Failure::Foreign)?
            .as_f64();
        let current = state::with(|s| (s.epoch == epoch).then(|| s.session.clone()).flatten());
        match (outcome, current) {
            (Some(DEAD), _) => return Err(FdError::session_expired().into()),
            (Some(FRESH), Some(s)) => return Ok((s.access, s.partner)),
            (Some(TRANSIENT), Some(s)) if now() < s.expires_at => return Ok((s.access, s.partner)),
            (Some(TRANSIENT), Some(_)) => {
                return Err(FdError::new(
                    Code::RefreshFailed,
                    &["the token expired and refreshing it failed; try again"],
                )
                .into())
            }
            // Replaced or ended meanwhile: look again at whatever is there now.
            _ => continue,
        }
    }
    Err(FdError::new(
        Code::RefreshFailed,
        &["the session kept changing during the refresh"],
    )
    .into())
}

fn start(epoch: u64, cfg: Rc<Config>) -> js_sys::Promise {
    let seq = state::with(|s| {
        s.refresh_seq += 1;
        s.refresh_seq
    });
    let promise = future_to_promise(async move {
        let outcome = attempt(epoch, &cfg).await;
        state::with(|s| {
            if s.inflight.as_ref().is_some_and(|f| f.seq == seq) {
                s.inflight = None;
            }
        });
        Ok(JsValue::from_f64(outcome))
    });
    state::with(|s| {
        s.inflight = Some(Inflight {
            epoch,
            seq,
            promise: promise.clone(),
        })
    });
    promise
}

async fn attempt(epoch: u64, cfg: &Config) -> f64 {
    let token = state::with(|s| s.refresh_token.clone());
    let body = Object::new();
    let token = match (cfg.cookie_mode, &token) {
        (false, Some(t)) => JsValue::from_str(t.expose()),
        _ => JsValue::NULL,
    };
    for (k, v) in [
        ("token", &token),
        ("device_key", &JsValue::NULL),
        ("device_group_key", &JsValue::NULL),
    ] {
        js::set(&body, k, v);
    }
    // A timeout aborts the request and the body read alike: a transient failure.
    let Ok(deadline) = http::timeout_signal(cfg.refresh_timeout_ms) else {
        return TRANSIENT;
    };
    let Ok(req) = http::auth_request(cfg, "POST", "/auth/refresh_token", &body, Some(&deadline))
    else {
        return TRANSIENT;
    };
    let Ok(resp) = http::send(&cfg.fetch, &req).await else {
        return TRANSIENT;
    };
    let status = resp.status();
    if refresh_is_fatal(status) {
        return if state::expire(|s| s.epoch == epoch) {
            DEAD
        } else {
            SUPERSEDED
        };
    }
    if !resp.ok() {
        return TRANSIENT;
    }
    let arrived = now();
    let Ok(text) = http::text(&resp).await else {
        return TRANSIENT;
    };
    let Some(Answer::Tokens(t)) = auth::parse_answer(&text) else {
        return TRANSIENT;
    };
    let expires_at = session::expires_at(arrived, &t.access, t.expires_in);
    if state::apply_refresh(epoch, t.access, expires_at, t.refresh) {
        FRESH
    } else {
        SUPERSEDED
    }
}
