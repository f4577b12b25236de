//! The persisted session in localStorage: exactly `accessToken`, `expiresAt` and `partnerId`.
//!
//! localStorage may be missing (workers, Node), blocked (a throwing getter), full or read-only: every
//! access is fallible and a failure leaves the session in memory only. Nothing here panics.
//!
//! The entry holds the access token, so its text never enters wasm memory: it is read, parsed and
//! written as a JS value, and only the checked fields are copied in (as a wiped-on-drop `Secret`).

use js_sys::{Object, Reflect, JSON};
use wasm_bindgen::prelude::*;

use crate::js;
use crate::session::{self, Secret, Session};

#[wasm_bindgen]
extern "C" {
    /// `Storage`, with values taken and given as JS strings (web-sys copies them through Rust).
    type Store;
    #[wasm_bindgen(method, catch, js_name = getItem)]
    fn get_item(this: &Store, key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = setItem)]
    fn set_item(this: &Store, key: &str, value: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeItem)]
    fn remove_item(this: &Store, key: &str) -> Result<(), JsValue>;
}

fn local_storage() -> Option<Store> {
    let v = Reflect::get(&js::global(), &JsValue::from_str("localStorage")).ok()?;
    v.is_object().then(|| v.unchecked_into())
}

/// Whether `area` is this realm's localStorage (a `storage` event may be about sessionStorage).
pub fn is_local(area: &JsValue) -> bool {
    local_storage().is_some_and(|s| Object::is(&s, area))
}

/// The session stored under `key`, if there is a well-formed one.
pub fn load(key: &str) -> Option<Session> {
    read(key).flatten().as_ref().and_then(parse)
}

/// The entry under `key` (a JS string): `Some(None)` when there is none, `None` when there is no
/// storage to ask (missing, as in workers and Node, or blocked).
pub fn read(key: &str) -> Option<Option<JsValue>> {
    let v = local_storage()?.get_item(key).ok()?;
    Some((!v.is_null()).then_some(v))
}

/// Whether this realm has a localStorage, the one thing its tabs share a session through.
pub fn shared() -> bool {
    local_storage().is_some()
}

/// Writes the session; `false` when storage is missing, full or blocked (the session then stays in
/// memory, and requests go on).
pub fn save(key: &str, session: &Session) -> bool {
    match (local_storage(), serialize(session)) {
        (Some(store), Some(text)) => store.set_item(key, &text).is_ok(),
        _ => false,
    }
}

pub fn remove(key: &str) {
    if let Some(store) = local_storage() {
        let _ = store.remove_item(key);
    }
}

fn serialize(s: &Session) -> Option<JsValue> {
    let o = Object::new();
    js::set(&o, "accessToken", &JsValue::from_str(s.access.expose()));
    js::set(&o, "expiresAt", &JsValue::from_f64(s.expires_at));
    js::set(&o, "partnerId", &JsValue::from_str(&s.partner));
    JSON::stringify(&o).ok().map(Into::into)
}

/// A stored entry (a JS string), if it is well-formed. Expiry is the caller's business.
pub fn parse(text: &JsValue) -> Option<Session> {
    let v = js::parse_json(text).ok()?;
    if !v.is_object() {
        return None;
    }
    let field = |k: &str| js::prop(&v, k);
    let access = Secret::from_js(&field("accessToken")?)?;
    let expires_at = field("expiresAt")?.as_f64().filter(|n| n.is_finite())?;
    let partner = session::partner_from_js(&field("partnerId")?)?;
    Some(Session::known(access, partner, expires_at))
}
