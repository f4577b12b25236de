//! The persisted session in localStorage: exactly `accessToken`, `expiresAt` and `partnerId`.
//!
//! localStorage may be missing (workers, Node), blocked (a throwing getter), full or read-only: every
//! access is fallible and a failure leaves the session in memory only. Nothing here panics.

use js_sys::{Object, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};

use crate::js;
use crate::session::{valid_partner, Secret, Session};

fn local_storage() -> Option<web_sys::Storage> {
    let v = Reflect::get(&js_sys::global(), &JsValue::from_str("localStorage")).ok()?;
    v.is_object().then(|| v.unchecked_into())
}

/// Whether `area` is this realm's localStorage (a `storage` event may be about sessionStorage).
pub fn is_local(area: &JsValue) -> bool {
    local_storage().is_some_and(|s| Object::is(&s, area))
}

pub fn load(key: &str) -> Option<String> {
    read(key).flatten()
}

/// The entry under `key`: `Some(None)` when there is none, `None` when there is no storage to ask
/// (missing, as in workers and Node, or blocked).
pub fn read(key: &str) -> Option<Option<String>> {
    local_storage()?.get_item(key).ok()
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

fn serialize(s: &Session) -> Option<String> {
    let o = Object::new();
    let set = |k: &str, v: JsValue| Reflect::set(&o, &JsValue::from_str(k), &v).is_ok();
    let ok = set("accessToken", JsValue::from_str(s.access.expose()))
        && set("expiresAt", JsValue::from_f64(s.expires_at))
        && set("partnerId", JsValue::from_str(&s.partner));
    if !ok {
        return None;
    }
    JSON::stringify(&o).ok()?.as_string()
}

/// A stored entry, if it is well-formed. Expiry is the caller's business.
pub fn parse(text: &str) -> Option<Session> {
    let v = JSON::parse(text).ok()?;
    if !v.is_object() {
        return None;
    }
    let field = |k: &str| js::prop(&v, k);
    let access = Secret::new(field("accessToken")?.as_string()?)?;
    let expires_at = field("expiresAt")?.as_f64().filter(|n| n.is_finite())?;
    let partner = field("partnerId")?
        .as_string()
        .filter(|p| valid_partner(p))?;
    Some(Session::known(access, partner, expires_at))
}
