//! Where futures become JS promises or background tasks. Every instantiation of
//! `future_to_promise` carries its own copy of the promise plumbing into the wasm, so the whole
//! crate goes through this one boxed instantiation (about 10 KB less than one per use).
use crate::prelude::*;

use core::future::Future;
use core::pin::Pin;

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;

use crate::error::Failure;

/// A promise of `f`'s result: it resolves with the value, or rejects with the `FdError` (or the
/// foreign rejection) the future failed with. The future runs to its end whoever awaits it.
pub fn promise(f: impl Future<Output = Result<JsValue, Failure>> + 'static) -> Promise {
    let boxed: Pin<Box<dyn Future<Output = Result<JsValue, Failure>>>> = Box::pin(f);
    future_to_promise(async move { boxed.await.map_err(JsValue::from) })
}

/// Runs `f` to its end in the background.
pub fn spawn(f: impl Future<Output = ()> + 'static) {
    background(Box::pin(f));
}

/// The one instantiation behind `spawn`.
fn background(f: Pin<Box<dyn Future<Output = ()>>>) {
    let _ = promise(async move {
        f.await;
        Ok(JsValue::UNDEFINED)
    });
}
