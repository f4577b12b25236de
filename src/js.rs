//! Reading and writing properties of JS objects, one way for the whole crate.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

/// `obj[key]`, or `None` when it is absent, `undefined` or `null`, or its getter throws.
pub fn prop(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `obj[key] = value`. Only used on objects we have just made, whose setters cannot fail.
pub fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &key.into(), value);
}
