//! Reading and writing properties of JS objects, one way for the whole crate.
//!
//! Objects that come from a caller or the network are read through their own properties only,
//! never their prototype chain: a polluted `Object.prototype` cannot add an option, a field of an
//! answer or a session. Every read that could run a caller's code (a getter, a proxy trap) goes
//! through `Reflect`, whose bindings catch, so that no JS exception unwinds through wasm.
use crate::prelude::*;

use js_sys::{JsString, Object, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `JSON.parse` of a JS string, without copying it through wasm memory.
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    pub fn parse_json(text: &JsValue) -> Result<JsValue, JsValue>;
    /// `globalThis`, read once (`js_sys::global` probes four names, each an import of its own).
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL: JsValue;
}

/// The global object: the page's, the worker's or Node's.
pub fn global() -> JsValue {
    GLOBAL.with(JsValue::clone)
}

/// `obj[key]` when `key` is the object's own property; `Ok(None)` when it is absent, `undefined` or
/// `null`; `Err` when reading it threw (a getter, a proxy).
pub fn own(obj: &JsValue, key: &str) -> Result<Option<JsValue>, JsValue> {
    let key = JsValue::from_str(key);
    let found = Reflect::get_own_property_descriptor(obj.unchecked_ref::<Object>(), &key)?;
    if found.is_undefined() {
        return Ok(None);
    }
    let v = Reflect::get(obj, &key)?;
    Ok((!v.is_undefined() && !v.is_null()).then_some(v))
}

/// `own`, with a read that threw counted as absent.
pub fn prop(obj: &JsValue, key: &str) -> Option<JsValue> {
    own(obj, key).ok().flatten()
}

/// `obj[key]` through the prototype chain, for the platform's own objects (a `Request`'s `mode`,
/// `location.assign`), whose properties are accessors on the prototype.
pub fn platform(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `v` as a Rust string, if it is a JS string of at most `max` UTF-16 units. The length is checked
/// before anything is copied into wasm memory, so a string of hundreds of MB cannot exhaust it.
pub fn string(v: &JsValue, max: u32) -> Option<String> {
    v.dyn_ref::<JsString>()
        .filter(|s| s.length() <= max)
        .and_then(|s| s.as_string())
}

/// Reports an error a caller's listener threw, as an uncaught one would be (`reportError`: the
/// page's `error` event and the console), and goes on.
pub fn report(e: &JsValue) {
    if let Some(f) = platform(&global(), "reportError") {
        if let Ok(f) = f.dyn_into::<js_sys::Function>() {
            let _ = f.call1(&JsValue::UNDEFINED, e);
        }
    }
}

/// `obj[key] = value`. Only used on objects we have just made, whose setters cannot fail.
pub fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &key.into(), value);
}
