//! `fd` and `fdResponse`: the wrapped fetch.
use crate::prelude::*;

use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Request};

use crate::error::{Code, Failure, FdError};
use crate::http;
use crate::js;
use crate::path::{self, route};
use crate::refresh::ensure_fresh;
use crate::response::{self, Body, Outcome};
use crate::state::{self, Client};
use crate::task::wait;

/// A 2xx response, with what is needed to report a failure while reading its body.
pub struct Sent {
    pub answer: http::Answer,
    signal: AbortSignal,
    path: String,
}

impl Sent {
    fn failed(&self, e: JsValue) -> Failure {
        network_or_abort(e, &self.signal, &self.path)
    }
}

/// Sends `path` under `baseUrl` with the session's headers. `Ok` only for a 2xx.
pub async fn send(c: &Client, path: JsValue, init: JsValue) -> Result<Sent, Failure> {
    let cfg = c.config()?;
    // The length is checked before the path is copied into wasm memory.
    let path = js::string(&path, path::MAX_LEN)
        .ok_or_else(|| bad_path("must be a string of at most 8 KiB"))?;
    let url = path::join(&cfg.base, &path).map_err(bad_path)?;
    // Built before anything else so that an init fetch would refuse (or one whose getters throw)
    // fails here, with nothing sent. Every part of init passes through; the signal comes along.
    let req = if init.is_undefined() || init.is_null() {
        Request::new_with_str(&url)
    } else {
        Request::new_with_str_and_init(&url, init.unchecked_ref())
    }
    .map_err(|_| {
        bad_request(
            "fetch refused this init (a GET or HEAD with a body, an invalid method or header, or an option that threw); nothing was sent",
        )
    })?;
    // `no-cors` would drop both headers: the API would answer 401 and end the session.
    if js::platform(&req, "mode")
        .and_then(|m| m.as_string())
        .as_deref()
        == Some("no-cors")
    {
        return Err(bad_request(
            "init.mode \"no-cors\" cannot carry the session's headers; nothing was sent",
        )
        .into());
    }
    let signal = req.signal();
    let (token, partner) = ensure_fresh(c, Some(&signal), None).await?;
    if signal.aborted() {
        return Err(Failure::Foreign(signal.reason()));
    }
    let headers = req.headers();
    headers
        .set("Authorization", token.bearer().expose())
        .map_err(Failure::Foreign)?;
    headers
        .set("X-Preferred-Partner-Id", &partner)
        .map_err(Failure::Foreign)?;

    let answer = match http::send(&cfg.fetch, &req).await {
        Ok(a) => a,
        Err(Failure::Foreign(e)) => return Err(network_or_abort(e, &signal, &path)),
        Err(e) => return Err(e),
    };
    let status = answer.status;
    let sent = Sent {
        answer,
        signal,
        path,
    };
    match response::outcome(status) {
        Outcome::Success => Ok(sent),
        Outcome::Unauthorized => {
            // Only the session this token belonged to ends; a newer one is left alone.
            state::unauthorized(c, &token);
            Err(FdError::session_expired()
                .with_response(status, JsValue::UNDEFINED)
                .into())
        }
        Outcome::Failure => {
            let body = http::lenient(&sent.answer.resp, u32::MAX)
                .await
                .map_err(|e| sent.failed(e))?;
            let e = FdError::new(
                Code::Http,
                &["the server answered an error for ", route(&sent.path)],
            );
            Err(e.with_response(status, body).into())
        }
    }
}

/// `fd`: a 2xx body as JSON, text or `null`.
pub async fn fd(c: Client, path: JsValue, init: JsValue) -> Result<JsValue, Failure> {
    let sent = send(&c, path, init).await?;
    let content_type = sent.answer.content_type();
    let kind = response::body_kind(sent.answer.status, content_type.as_deref());
    if kind == Body::None {
        return Ok(JsValue::NULL);
    }
    let body = http::read_body(&sent.answer.resp, kind == Body::Json);
    match wait(body).await {
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

fn bad_request(why: &str) -> FdError {
    FdError::new(Code::BadRequest, &[why])
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
