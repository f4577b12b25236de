//! Talking to fetch: building the auth calls, sending, timing out, reading bodies.

use js_sys::{Function, Promise, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestCredentials, RequestInit, Response};

use crate::config::Config;
use crate::error::{Failure, FdError};

#[wasm_bindgen(module = "/pkg/support.js")]
extern "C" {
    /// See `pkg/support.js`: ends one caller's wait on `promise` when its signal aborts.
    pub fn abortable(promise: &Promise, signal: &AbortSignal) -> Promise;
    /// See `pkg/support.js`: a 2xx body as `fd` returns it, read and parsed on the JS side.
    #[wasm_bindgen(js_name = readBody)]
    pub fn read_body(response: &Response, json: bool) -> Promise;
    /// What `read_body` rejects with for a body that says JSON but does not parse.
    #[wasm_bindgen(thread_local_v2, js_name = BAD_JSON)]
    pub static BAD_JSON: JsValue;
}

#[wasm_bindgen]
extern "C" {
    /// `AbortSignal.timeout(ms)`: aborts by itself, so no timer to clear and no closure to keep.
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout, catch)]
    pub fn timeout_signal(ms: i32) -> Result<AbortSignal, JsValue>;
}

/// Calls the configured fetch. `Foreign` carries fetch's own rejection (network error or abort).
pub async fn send(fetch: &Function, req: &Request) -> Result<Response, Failure> {
    let called = fetch
        .call1(&JsValue::UNDEFINED, req)
        .map_err(Failure::Foreign)?;
    let value = JsFuture::from(Promise::resolve(&called))
        .await
        .map_err(Failure::Foreign)?;
    value.dyn_into::<Response>().map_err(|_| {
        FdError::bad_response("fetch resolved with something that is not a Response").into()
    })
}

/// The whole body as text, for the small answers (auth, errors) that are read in Rust.
pub async fn text(resp: &Response) -> Result<String, JsValue> {
    let v = JsFuture::from(resp.text()?).await?;
    Ok(v.as_string().unwrap_or_default())
}

/// An error body: parsed JSON, else the text, `null` when empty.
pub fn lenient_body(text: &str) -> JsValue {
    if text.is_empty() {
        JsValue::NULL
    } else {
        JSON::parse(text).unwrap_or_else(|_| JsValue::from_str(text))
    }
}

/// `POST {authUrl}/auth/logout` (cookie mode: the proxy drops its cookie). `keepalive`, so that a
/// page navigating to `loginUrl` at once does not cancel it. Its outcome changes nothing here.
pub async fn logout(cfg: &Config) {
    if let Ok(req) = auth_request(cfg, "POST", "/auth/logout", &js_sys::Object::new(), None) {
        let _ = send(&cfg.fetch, &req).await;
    }
}

/// A JSON call to `{authUrl}{route}`. In cookie mode it carries cookies and the proxy's CSRF header.
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
    if route == "/auth/logout" {
        crate::js::set(&init, "keepalive", &JsValue::TRUE);
    }
    let mut url = String::with_capacity(cfg.auth.len() + route.len());
    url.push_str(&cfg.auth);
    url.push_str(route);
    Request::new_with_str_and_init(&url, &init)
}
