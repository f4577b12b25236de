//! `fd` and `fdResponse`: the wrapped fetch.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Request, Response};

use crate::error::{Code, Failure, FdError};
use crate::http;
use crate::path::{self, route};
use crate::refresh::ensure_fresh;
use crate::response::{self, Body, Outcome};
use crate::state;

/// A 2xx response, with what is needed to report a failure while reading its body.
pub struct Sent {
    pub resp: Response,
    signal: AbortSignal,
    path: String,
}

impl Sent {
    fn failed(&self, e: JsValue) -> Failure {
        network_or_abort(e, &self.signal, &self.path)
    }
}

/// Sends `path` under `baseUrl` with the session's headers. `Ok` only for a 2xx.
pub async fn send(path: JsValue, init: JsValue) -> Result<Sent, Failure> {
    let cfg = state::config()?;
    let path = path
        .as_string()
        .ok_or_else(|| bad_path("must be a string"))?;
    let url = path::join(&cfg.base, &path).map_err(bad_path)?;
    // Built before anything else so that an init fetch would refuse fails here, with fetch's own
    // TypeError and nothing sent. Every part of init passes through; the signal comes along.
    let req = if init.is_undefined() || init.is_null() {
        Request::new_with_str(&url)
    } else {
        Request::new_with_str_and_init(&url, init.unchecked_ref())
    }
    .map_err(Failure::Foreign)?;
    let signal = req.signal();
    let (token, partner) = ensure_fresh(Some(&signal)).await?;
    if signal.aborted() {
        return Err(Failure::Foreign(signal.reason()));
    }
    let mut bearer = String::with_capacity(7 + token.expose().len());
    bearer.push_str("Bearer ");
    bearer.push_str(token.expose());
    let headers = req.headers();
    headers
        .set("Authorization", &bearer)
        .map_err(Failure::Foreign)?;
    headers
        .set("X-Preferred-Partner-Id", &partner)
        .map_err(Failure::Foreign)?;

    let resp = match http::send(&cfg.fetch, &req).await {
        Ok(r) => r,
        Err(Failure::Foreign(e)) => return Err(network_or_abort(e, &signal, &path)),
        Err(e) => return Err(e),
    };
    let status = resp.status();
    let sent = Sent { resp, signal, path };
    match response::outcome(status) {
        Outcome::Success => Ok(sent),
        Outcome::Unauthorized => {
            // Only the session this token belonged to ends; a newer one is left alone.
            state::expire(|s| s.session.as_ref().is_some_and(|cur| cur.access == token));
            Err(FdError::session_expired()
                .with_response(status, JsValue::UNDEFINED)
                .into())
        }
        Outcome::Failure => {
            let text = http::text(&sent.resp).await.map_err(|e| sent.failed(e))?;
            let e = FdError::new(
                Code::Http,
                &["the server answered an error for ", route(&sent.path)],
            );
            Err(e.with_response(status, http::lenient_body(&text)).into())
        }
    }
}

/// `fd`: a 2xx body as JSON, text or `null`.
pub async fn fd(path: JsValue, init: JsValue) -> Result<JsValue, Failure> {
    let sent = send(path, init).await?;
    let content_type = sent.resp.headers().get("content-type").ok().flatten();
    let kind = response::body_kind(sent.resp.status(), content_type.as_deref());
    if kind == Body::None {
        return Ok(JsValue::NULL);
    }
    let body = http::read_body(&sent.resp, kind == Body::Json);
    match JsFuture::from(body).await {
        Ok(value) => Ok(value),
        Err(e) if http::BAD_JSON.with(|bad| *bad == e) => {
            Err(FdError::bad_response("the response says JSON but does not parse as JSON").into())
        }
        Err(e) => Err(sent.failed(e)),
    }
}

fn bad_path(why: &str) -> FdError {
    FdError::new(Code::BadPath, &["path ", why, "; nothing was sent"])
}

/// Fetch's rejection: the caller's abort passes through as fetch gave it; anything else is `network`.
fn network_or_abort(e: JsValue, signal: &AbortSignal, path: &str) -> Failure {
    if signal.aborted() {
        Failure::Foreign(e)
    } else {
        FdError::new(
            Code::Network,
            &[
                "the request for ",
                route(path),
                " failed to reach the server",
            ],
        )
        .into()
    }
}
