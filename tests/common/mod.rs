//! Shared by the browser suites: the fake API's bindings and small helpers.
#![allow(dead_code)]

use std::cell::Cell;

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/tests/common/fake_api.js")]
extern "C" {
    pub type FakeApi;
    #[wasm_bindgen(constructor)]
    pub fn new() -> FakeApi;
    #[wasm_bindgen(method, getter)]
    pub fn fetch(this: &FakeApi) -> Function;
    #[wasm_bindgen(method, getter, js_name = onExpired)]
    pub fn on_expired(this: &FakeApi) -> Function;
    #[wasm_bindgen(method, getter, js_name = expiredCalls)]
    pub fn expired_calls(this: &FakeApi) -> u32;
    #[wasm_bindgen(method, setter)]
    pub fn set_lifetime(this: &FakeApi, secs: u32);
    #[wasm_bindgen(method)]
    pub fn reply(
        this: &FakeApi,
        method: &str,
        path: &str,
        status: u16,
        body: &str,
        content_type: &str,
    );
    #[wasm_bindgen(method)]
    pub fn route(this: &FakeApi, method: &str, path: &str, handler: &Function);
    #[wasm_bindgen(method)]
    pub fn hold(this: &FakeApi, path: &str);
    #[wasm_bindgen(method)]
    pub fn release(this: &FakeApi, path: &str);
    #[wasm_bindgen(method)]
    pub fn fail(this: &FakeApi, method: &str, path: &str);
    #[wasm_bindgen(method)]
    pub fn stall(this: &FakeApi, method: &str, path: &str);
    #[wasm_bindgen(method)]
    pub fn deaf(this: &FakeApi, path: &str);
    #[wasm_bindgen(method, js_name = uniqueRefreshToken)]
    pub fn unique_refresh_token(this: &FakeApi);
    #[wasm_bindgen(method)]
    pub fn count(this: &FakeApi, path: &str) -> u32;
    /// Every request the fake saw, oldest first.
    #[wasm_bindgen(method, getter)]
    pub fn records(this: &FakeApi) -> Array;
    #[wasm_bindgen(method)]
    pub fn requests(this: &FakeApi, path: &str) -> Array;

    pub fn jwt(lifetime: u32) -> String;
    #[wasm_bindgen(js_name = memoryHoldsTokensOf)]
    pub fn memory_holds_tokens_of(memory: &JsValue, api: &FakeApi) -> Array;
    #[wasm_bindgen(js_name = throwingGetter)]
    pub fn throwing_getter(key: &str) -> JsValue;
    pub fn pollute(key: &str, value: JsValue);
    #[wasm_bindgen(js_name = watchReported)]
    pub fn watch_reported() -> Array;
    #[wasm_bindgen(js_name = scriptVisibleStorage)]
    pub fn script_visible_storage() -> js_sys::Promise;
    #[wasm_bindgen(js_name = localKeys)]
    pub fn local_keys() -> Array;
    #[wasm_bindgen(js_name = breakStorage)]
    pub fn break_storage();
    #[wasm_bindgen(js_name = mendStorage)]
    pub fn mend_storage();
    #[wasm_bindgen(js_name = blockStorage)]
    pub fn block_storage();
    #[wasm_bindgen(js_name = unblockStorage)]
    pub fn unblock_storage();
    #[wasm_bindgen(js_name = hideLocks)]
    pub fn hide_locks();
    #[wasm_bindgen(js_name = showLocks)]
    pub fn show_locks();
    #[wasm_bindgen(js_name = fireStorage)]
    pub fn fire_storage(key: &str, new_value: Option<String>);
    #[wasm_bindgen(js_name = sleep)]
    fn sleep_promise(ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = heldLockNames)]
    fn held_lock_names() -> js_sys::Promise;
    #[wasm_bindgen(js_name = postOn)]
    pub fn post_on(channel: &str, data: &JsValue);
}

pub const BASE: &str = "https://api.test/api";

thread_local!(static KEY: Cell<u32> = const { Cell::new(0) });

/// A storage key no earlier test used, so each test starts signed out with clean storage.
pub fn fresh_key() -> String {
    KEY.with(|k| {
        k.set(k.get() + 1);
        format!("fd.test.{}", k.get())
    })
}

pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap()
}

pub fn get_str(v: &JsValue, key: &str) -> String {
    get(v, key)
        .as_string()
        .unwrap_or_else(|| panic!("{key} is not a string in {v:?}"))
}

/// Options against `api` under `key`, with `onSessionExpired` counted by the fake (navigating would
/// end the test page); `extra` adds or overrides options.
fn options(api: &FakeApi, key: &str, extra: &[(&str, JsValue)]) -> JsValue {
    let mut opts = vec![
        ("baseUrl", JsValue::from(BASE)),
        ("fetch", api.fetch().into()),
        ("storageKey", JsValue::from(key)),
        ("onSessionExpired", api.on_expired().into()),
    ];
    opts.extend(extra.iter().cloned());
    obj(&opts)
}

/// Configures fd-fetch against `api` with a fresh storage key and `onSessionExpired` counted by the
/// fake (navigating would end the test page). `extra` adds or overrides options.
pub async fn setup(api: &FakeApi, extra: &[(&str, JsValue)]) -> String {
    let key = fresh_key();
    fd_fetch::configure(options(api, &key, extra))
        .await
        .expect("configure");
    key
}

pub fn now() -> f64 {
    js_sys::Date::now()
}

/// Installs a session with a refresh token whose access token has `left_ms` to live.
pub fn session_with(left_ms: f64, refresh: Option<&str>) -> String {
    let token = jwt(3600);
    let mut pairs = vec![
        ("accessToken", JsValue::from(token.as_str())),
        ("expiresAt", JsValue::from(now() + left_ms)),
        ("partnerId", JsValue::from("p-1")),
    ];
    if let Some(r) = refresh {
        pairs.push(("refreshToken", r.into()));
    }
    fd_fetch::set_session(obj(&pairs)).expect("setSession");
    token
}

pub const STALE: f64 = 60_000.0;
pub const FRESH: f64 = 3_000_000.0;

pub fn init(pairs: &[(&str, JsValue)]) -> JsValue {
    obj(pairs)
}

/// The error's code, after checking it is a real FdError whose message names no token.
pub fn code_of(err: &JsValue) -> String {
    let message = get_str(err, "message");
    assert!(
        !message.contains("SECRET") && !message.contains("eyJ"),
        "token in message: {message}"
    );
    assert_eq!(get_str(err, "name"), "FdError", "{err:?}");
    assert!(err.is_instance_of::<js_sys::Error>());
    get_str(err, "code")
}

pub fn expect_code(result: Result<JsValue, JsValue>, code: &str) -> JsValue {
    match result {
        Ok(v) => panic!("expected {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(code_of(&e), code, "{e:?}");
            e
        }
    }
}

/// An export's promise as a future, for `join!` and `join_all` (a plain `.await` needs no wrapper).
pub fn fut(p: js_sys::Promise) -> JsFuture {
    JsFuture::from(p)
}

pub async fn sleep(ms: u32) {
    JsFuture::from(sleep_promise(ms)).await.unwrap();
}

/// Lets pending promise reactions run.
pub async fn tick() {
    sleep(0).await;
}

/// What a script could read of web storage, cookies and IndexedDB names.
pub async fn visible_storage() -> String {
    JsFuture::from(script_visible_storage())
        .await
        .unwrap()
        .as_string()
        .unwrap()
}

pub fn stored(key: &str) -> Option<String> {
    web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item(key)
        .unwrap()
}

pub fn store(key: &str, value: &str) {
    web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .set_item(key, value)
        .unwrap();
}

/// The Authorization header the fake saw on the `i`th request to `path`.
pub fn auth_header(api: &FakeApi, path: &str, i: u32) -> String {
    let r = api.requests(path).get(i);
    get_str(&get(&r, "headers"), "authorization")
}

/// Demo credentials for `signIn`.
pub fn alice() -> JsValue {
    obj(&[
        ("username", "alice".into()),
        ("password", "wonderland".into()),
    ])
}

/// `signIn`'s options for partner `id`.
pub fn partner(id: &str) -> JsValue {
    obj(&[("partnerId", id.into())])
}

/// From now on, sign-in answers with an MFA challenge.
pub fn mfa_challenge(api: &FakeApi) {
    api.reply(
        "POST",
        "/api/auth",
        200,
        r#"{"ChallengeName":"SOFTWARE_TOKEN_MFA","Session":"mfa-session-SECRET"}"#,
        "application/json",
    );
}

/// A client of its own (`createClient`) against `api`, with a fresh storage key and
/// `onSessionExpired` counted by the fake. `extra` adds or overrides options.
pub async fn client(api: &FakeApi, extra: &[(&str, JsValue)]) -> (fd_fetch::WasmClient, String) {
    let key = fresh_key();
    let c = fd_fetch::new_client(options(api, &key, extra))
        .await
        .expect("createClient");
    (c, key)
}

/// `session_with` for a client of its own: a session of partner `partner` whose access token has
/// `left_ms` to live; returns the token.
pub fn session_of(
    c: &fd_fetch::WasmClient,
    left_ms: f64,
    refresh: Option<&str>,
    partner: &str,
) -> String {
    let token = jwt(3600);
    let mut pairs = vec![
        ("accessToken", JsValue::from(token.as_str())),
        ("expiresAt", JsValue::from(now() + left_ms)),
        ("partnerId", JsValue::from(partner)),
    ];
    if let Some(r) = refresh {
        pairs.push(("refreshToken", r.into()));
    }
    c.set_session(obj(&pairs)).expect("setSession");
    token
}

/// A listener that records what it is called with, and the array it records into.
pub fn recorder() -> (js_sys::Function, Array) {
    let seen = Array::new();
    let f = js_sys::Function::new_with_args("seen", "return (v) => { seen.push(v); }")
        .call1(&JsValue::UNDEFINED, &seen)
        .unwrap()
        .unchecked_into();
    (f, seen)
}

/// Waits (2 s at most, in steps of 10 ms) until `done()` holds; whether it did.
pub async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        sleep(10).await;
    }
    done()
}

/// The names of the Web Locks held in this origin.
pub async fn held_locks() -> Vec<String> {
    let names = JsFuture::from(held_lock_names()).await.unwrap();
    Array::from(&names)
        .iter()
        .filter_map(|n| n.as_string())
        .collect()
}
