//! Talking to fetch: building the auth calls, sending, timing out, reading bodies.
//!
//! Whatever comes back from an injected fetch or the network is handled on the JS side of
//! `js/support.js` first: the call itself (`call`, so a throw is a rejection), and the bodies
//! (`readBody`, `readLenient`), so that no caller's exception unwinds through wasm and no body of
//! unbounded size is copied into wasm memory.
use crate::prelude::*;

use js_sys::{Function, Promise, JSON};
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Headers, Request, RequestCredentials, RequestInit, Response};

use crate::config::Config;
use crate::error::{Failure, FdError};
use crate::js;
use crate::response::{self, Outcome};
use crate::task::wait;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    /// See `js/support.js`: ends one caller's wait on `promise` when its signal aborts.
    pub fn abortable(promise: &Promise, signal: &AbortSignal) -> Promise;
    /// See `js/support.js`: a 2xx body as `fd` returns it, read and parsed on the JS side.
    #[wasm_bindgen(js_name = readBody)]
    pub fn read_body(response: &Response, json: bool) -> Promise;
    /// What `read_body` rejects with for a body that says JSON but does not parse.
    #[wasm_bindgen(thread_local_v2, js_name = BAD_JSON)]
    pub static BAD_JSON: JsValue;
    /// What `read_lenient` rejects with for a body over its limit.
    #[wasm_bindgen(thread_local_v2, js_name = TOO_BIG)]
    pub static TOO_BIG: JsValue;
    /// See `js/support.js`: an auth answer or error body, JSON if it parses, else text.
    #[wasm_bindgen(js_name = readLenient)]
    fn read_lenient(response: &Response, max: u32) -> Promise;
    /// See `js/support.js`: `f(arg)` as a native promise, whatever `f` does.
    fn call(f: &Function, arg: &JsValue) -> Promise;
}

#[wasm_bindgen]
extern "C" {
    /// `AbortSignal.timeout(ms)`: aborts by itself, so no timer to clear and no closure to keep.
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout, catch)]
    pub fn timeout_signal(ms: i32) -> Result<AbortSignal, JsValue>;
}

/// The longest auth answer read, in characters. Cognito's are a few KB.
pub const MAX_AUTH_ANSWER: u32 = 256 * 1024;

/// What fetch resolved with, and its status (100–599).
pub struct Answer {
    pub resp: Response,
    pub status: u16,
}

impl Answer {
    /// A 2xx, as `response::outcome` sorts it.
    pub fn ok(&self) -> bool {
        response::outcome(self.status) == Outcome::Success
    }

    /// The `Content-Type` header, if it can be read and is of a sane length.
    pub fn content_type(&self) -> Option<String> {
        let headers = js::platform(&self.resp, "headers")?;
        let get = js::platform(&headers, "get")?.dyn_into::<Function>().ok()?;
        js::string(&get.call1(&headers, &"content-type".into()).ok()?, 1024)
    }
}

/// Calls the configured fetch. `Foreign` carries fetch's own rejection (network error or abort),
/// or whatever an injected fetch threw. The Response's fields are read through `Reflect`, which
/// catches: an injected fetch's odd Response (a getter that throws) is `bad_response`.
pub async fn send(fetch: &Function, req: &Request) -> Result<Answer, Failure> {
    let value = wait(call(fetch, req)).await.map_err(Failure::Foreign)?;
    let not_a_response =
        || FdError::bad_response("fetch resolved with something that is not a Response");
    let resp = value.dyn_into::<Response>().map_err(|_| not_a_response())?;
    let status = js::platform(&resp, "status")
        .and_then(|s| s.as_f64())
        .filter(|s| (100.0..=599.0).contains(s))
        .ok_or_else(not_a_response)? as u16;
    Ok(Answer { resp, status })
}

/// A body read leniently (JSON if it parses, else text, `null` when empty), at most `max`
/// characters. `Err` when reading failed or the body was longer.
pub async fn lenient(resp: &Response, max: u32) -> Result<JsValue, JsValue> {
    wait(read_lenient(resp, max)).await
}

/// `POST {authUrl}/auth/logout` (cookie mode: the proxy drops its cookie). `keepalive`, so that a
/// page navigating to `loginUrl` at once does not cancel it. Its outcome changes nothing here.
pub async fn logout(cfg: &Config) {
    if let Ok(req) = auth_request(cfg, "POST", "/auth/logout", &js_sys::Object::new(), None) {
        let _ = send(&cfg.fetch, &req).await;
    }
}

/// A JSON call to `{authUrl}{route}`. In cookie mode it carries cookies and the proxy's CSRF header.
/// It never follows a redirect: a 3xx is a failure, and the body (a password, a refresh token) is
/// never re-sent to where it points.
pub fn auth_request(
    cfg: &Config,
    method: &str,
    route: &str,
    body: &JsValue,
    signal: Option<&AbortSignal>,
) -> Result<Request, JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    let headers = Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    init.set_body(&JSON::stringify(body)?.into());
    if cfg.cookie_mode {
        init.set_credentials(RequestCredentials::Include);
        headers.set("X-Requested-With", "fd-fetch")?;
    }
    init.set_headers(&headers);
    if let Some(s) = signal {
        init.set_signal(Some(s));
    }
    js::set(&init, "redirect", &"error".into());
    if route == "/auth/logout" {
        js::set(&init, "keepalive", &JsValue::TRUE);
    }
    let mut url = String::with_capacity(cfg.auth.len() + route.len());
    url.push_str(&cfg.auth);
    url.push_str(route);
    Request::new_with_str_and_init(&url, &init)
}
