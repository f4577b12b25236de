//! `ensureFresh`: one refresh in flight per client, shared by every waiter, and one across tabs.
//!
//! The refresh runs as a JS promise of its own (`task::promise` spawns it), so it completes and
//! saves its result whichever waiters remain; a waiter's abort signal ends only that waiter's wait.
//! The promise resolves to an outcome code; what the refresh produced is applied to the state by the
//! refresh itself, under the epoch it started in.
//!
//! Across tabs (see `tabs`): a tab that can refresh (memory mode with a refresh token, or cookie
//! mode) does so under the tabs' lock, after looking at what storage holds now; a tab that cannot
//! asks one that can.
use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::Cell;

use js_sys::{Array, Object, Promise};
use wasm_bindgen::JsValue;
use web_sys::AbortSignal;

use crate::auth::{self, Answer};
use crate::config::Config;
use crate::error::{Code, Failure, FdError};
use crate::http;
use crate::js;
use crate::response::refresh_is_fatal;
use crate::session::{Freshness, Secret};
use crate::state::{self, Client, Inflight};
use crate::storage;
use crate::tabs;
use crate::task::{self, wait};
use crate::time::now;

/// New tokens were saved under the epoch the refresh began in.
const FRESH: f64 = 0.0;
/// The session was replaced or ended while the refresh ran; its result was dropped.
const SUPERSEDED: f64 = 1.0;
/// The API said the refresh token is dead; the session has been ended.
const DEAD: f64 = 2.0;
/// 5xx, network, timeout or a malformed answer: the session is kept, the next call tries again.
const TRANSIENT: f64 = 3.0;
/// Another tab's refresh: its session, not under the threshold, has been adopted.
const ADOPTED: f64 = 4.0;
/// This tab cannot refresh and no tab that can answered: the token is used until it expires.
const NO_HOLDER: f64 = 5.0;

/// How many times a waiter starts over when the session changes under it, before giving up.
const MAX_ROUNDS: usize = 4;

/// The access token and partner id to send, refreshing first when under the threshold (`within`,
/// else `refreshThresholdMs`).
pub async fn ensure_fresh(
    c: &Client,
    signal: Option<&AbortSignal>,
    within: Option<f64>,
) -> Result<(Secret, String), Failure> {
    let cfg = c.config()?;
    for _ in 0..MAX_ROUNDS {
        let (session, epoch, holder, inflight) = c.with(|s| {
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
        // Memory mode without a refresh token: another tab may hold one.
        let can_ask = !holder && storage::shared();
        match (
            session.freshness(now(), within.unwrap_or(cfg.threshold_ms)),
            holder || can_ask,
        ) {
            (Freshness::Fresh, _) | (Freshness::Stale, false) => {
                return Ok((session.access, session.partner))
            }
            (Freshness::Expired, false) => return Err(expired_here(c, epoch)),
            _ => {}
        }
        let promise = inflight.unwrap_or_else(|| start(c, epoch, cfg.clone(), holder));
        let waited = match signal {
            Some(signal) => http::abortable(&promise, signal),
            None => promise,
        };
        let outcome = wait(waited).await.map_err(Failure::Foreign)?.as_f64();
        let current = c.with(|s| (s.epoch == epoch).then(|| s.session.clone()).flatten());
        match (outcome, current) {
            (Some(DEAD), _) => return Err(FdError::session_expired().into()),
            (Some(FRESH | ADOPTED), Some(s)) => return Ok((s.access, s.partner)),
            (Some(TRANSIENT | NO_HOLDER), Some(s)) if now() < s.expires_at => {
                return Ok((s.access, s.partner))
            }
            (Some(TRANSIENT), Some(_)) => {
                return Err(FdError::new(
                    Code::RefreshFailed,
                    &["the token expired and refreshing it failed; try again"],
                )
                .into())
            }
            (Some(NO_HOLDER), Some(_)) => return Err(expired_here(c, epoch)),
            // Replaced, ended or adopted meanwhile: look again at whatever is there now.
            _ => continue,
        }
    }
    Err(FdError::new(
        Code::RefreshFailed,
        &["the session kept changing during the refresh"],
    )
    .into())
}

/// An expired token that nothing can refresh (restored after a reload in memory mode, and no tab
/// holds a refresh token): the session is over.
fn expired_here(c: &Client, epoch: u64) -> Failure {
    state::expire(c, |s| s.epoch == epoch);
    FdError::session_expired().into()
}

fn start(c: &Client, epoch: u64, cfg: Rc<Config>, holder: bool) -> Promise {
    let seq = c.with(|s| {
        s.refresh_seq += 1;
        s.refresh_seq
    });
    let client = c.clone();
    let promise = task::promise(async move {
        let c = &client;
        let began = now();
        let outcome = if holder {
            let _held = tabs::lock(&cfg).await;
            refresh_locked(c, epoch, cfg.clone()).await
        } else {
            ask(c, epoch, &cfg).await
        };
        c.with(|s| {
            if s.inflight.as_ref().is_some_and(|f| f.seq == seq) {
                s.inflight = None;
            }
        });
        settled(c, outcome, holder, began);
        Ok(JsValue::from_f64(outcome))
    });
    c.with(|s| {
        s.inflight = Some(Inflight {
            epoch,
            seq,
            promise: promise.clone(),
        })
    });
    promise
}

/// Tells the `onRefresh` listeners how a refresh settled, once, before its waiters go on:
/// `{ outcome, source, durationMs }`, never a token. A refresh whose session was replaced meanwhile
/// (`SUPERSEDED`), or that found no tab to ask (`NO_HOLDER`), got no answer to report.
fn settled(c: &Client, outcome: f64, holder: bool, began: f64) {
    let (kind, here) = match outcome {
        FRESH => ("fresh", true),
        ADOPTED => ("fresh", false),
        TRANSIENT => ("transient_failure", holder),
        DEAD => ("dead", holder),
        _ => return,
    };
    let event = Object::new();
    js::set(&event, "outcome", &kind.into());
    let source = if here { "this_tab" } else { "other_tab" };
    js::set(&event, "source", &source.into());
    js::set(&event, "durationMs", &(now() - began).max(0.0).into());
    state::tell(c, state::Topic::Refresh, &event);
}

/// Under the tabs' lock: storage first (another tab may have refreshed, signed in or out while
/// this one waited), then the request, bounded by `refreshTimeoutMs` whatever the fetch does.
async fn refresh_locked(c: &Client, epoch: u64, cfg: Rc<Config>) -> f64 {
    tabs::settle(c, &cfg).await;
    if let Some(outcome) = reconcile(c, epoch, &cfg) {
        return outcome;
    }
    let late = Rc::new(Cell::new(false));
    let attempt = {
        let (c, cfg, late) = (c.clone(), cfg.clone(), late.clone());
        task::promise(async move { Ok(JsValue::from_f64(attempt(&c, epoch, &cfg, &late).await)) })
    };
    let deadline = tabs::sleep(cfg.refresh_timeout_ms);
    let first = wait(Promise::race(&Array::of2(&attempt, &deadline))).await;
    match first.ok().and_then(|v| v.as_f64()) {
        Some(outcome) => outcome,
        None => {
            // Out of time: whatever the request still brings is dropped.
            late.set(true);
            TRANSIENT
        }
    }
}

/// What storage holds now, against what this tab has, once the lock is ours. `Some(outcome)` when
/// there is nothing left to send: the session was replaced or removed, or another tab's newer one
/// of the same user was adopted. `None`: refresh.
fn reconcile(c: &Client, epoch: u64, cfg: &Config) -> Option<f64> {
    // No storage to ask: nothing to reconcile with.
    let raw = storage::read(&cfg.storage_key)?;
    let found = raw.as_ref().and_then(storage::parse);
    if let Some(x) = &found {
        tabs::saw(c, x);
    }
    let (current, stored) = c.with(|s| ((s.epoch == epoch).then(|| s.session.clone()), s.stored));
    let Some(Some(current)) = current else {
        return Some(SUPERSEDED);
    };
    match found {
        Some(x) if x == current => None,
        Some(x) if !x.same_user(&current) => {
            state::adopt(c, Some(x));
            Some(SUPERSEDED)
        }
        Some(x) if x.expires_at > current.expires_at => {
            let fresh = x.freshness(now(), cfg.threshold_ms) == Freshness::Fresh;
            state::adopt(c, Some(x));
            Some(if fresh { ADOPTED } else { SUPERSEDED })
        }
        // An older entry (a failed write of ours), or garbage: refresh.
        Some(_) => None,
        // Removed by another tab's sign-out, unless ours never got there (storage full).
        None if raw.is_none() && stored => {
            state::adopt(c, None);
            Some(SUPERSEDED)
        }
        None => None,
    }
}

/// Memory mode without a refresh token: asks a tab that holds one, then adopts what it saved.
async fn ask(c: &Client, epoch: u64, cfg: &Config) -> f64 {
    if let Some(outcome) = reconcile(c, epoch, cfg) {
        return outcome;
    }
    match tabs::ask(c, cfg).await {
        None => NO_HOLDER,
        Some(tabs::Answer::Transient) => TRANSIENT,
        Some(tabs::Answer::Dead) => {
            state::expire(c, |s| s.epoch == epoch);
            DEAD
        }
        Some(tabs::Answer::Fresh(expires_at)) => {
            tabs::await_stored(cfg, expires_at).await;
            match reconcile(c, epoch, cfg) {
                Some(ADOPTED) => ADOPTED,
                Some(SUPERSEDED) => SUPERSEDED,
                _ => TRANSIENT,
            }
        }
    }
}

async fn attempt(c: &Client, epoch: u64, cfg: &Config, late: &Cell<bool>) -> f64 {
    let token = c.with(|s| s.refresh_token.clone());
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
    let Ok(answer) = http::send(&cfg.fetch, &req).await else {
        return TRANSIENT;
    };
    if late.get() {
        return TRANSIENT;
    }
    if refresh_is_fatal(answer.status) {
        return if state::expire(c, |s| s.epoch == epoch) {
            DEAD
        } else {
            SUPERSEDED
        };
    }
    if !answer.ok() {
        return TRANSIENT;
    }
    let arrived = now();
    // Read on the JS side, at most MAX_AUTH_ANSWER characters: a huge answer is transient.
    let Ok(body) = http::lenient(&answer.resp, http::MAX_AUTH_ANSWER).await else {
        return TRANSIENT;
    };
    let Some(Answer::Tokens(t)) = auth::parse_answer(&body) else {
        return TRANSIENT;
    };
    if late.get() {
        return TRANSIENT;
    }
    let rotated = t.refresh.is_some() && !cfg.cookie_mode;
    if !state::apply_refresh(c, epoch, t.access, arrived, t.expires_in, t.refresh) {
        return SUPERSEDED;
    }
    if rotated {
        tabs::say_rotated(c);
    }
    tabs::mark(c, cfg).await;
    FRESH
}
