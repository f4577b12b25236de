//! `configure(options)`: reading and checking the options object.
use crate::prelude::*;

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::FdError;
use crate::js;
use crate::path;

/// Checked options. Fixed until the next `configure`.
#[derive(Debug)]
pub struct Config {
    /// Origin plus path prefix, no trailing slash: `fd(path)` appends `path`.
    pub base: String,
    /// The same for `/auth…` calls.
    pub auth: String,
    /// `refreshTokenIn: "cookie"`: a proxy keeps the refresh token; we never see it.
    pub cookie_mode: bool,
    pub threshold_ms: f64,
    pub login_url: String,
    pub on_expired: Option<Function>,
    pub storage_key: String,
    pub refresh_timeout_ms: i32,
    pub fetch: Function,
}

impl Config {
    pub fn parse(options: &JsValue) -> Result<Config, FdError> {
        if !options.is_object() {
            return Err(FdError::bad_config(
                "options",
                "must be an object with at least `baseUrl`",
            ));
        }
        let base = match get(options, "baseUrl")? {
            Some(v) => base_url(&v, "baseUrl")?,
            None => return Err(FdError::bad_config("baseUrl", "is required")),
        };
        let auth = match get(options, "authUrl")? {
            Some(v) => base_url(&v, "authUrl")?,
            None => base.clone(),
        };
        let cookie_mode = match get(options, "refreshTokenIn")?.map(|v| js::string(&v, 8)) {
            None => false,
            Some(Some(s)) if s == "memory" => false,
            Some(Some(s)) if s == "cookie" => true,
            Some(_) => {
                return Err(FdError::bad_config(
                    "refreshTokenIn",
                    "must be \"memory\" or \"cookie\"",
                ))
            }
        };
        let threshold_ms = number(options, "refreshThresholdMs", 300_000.0, 0.0)?;
        let login_url = match get(options, "loginUrl")? {
            None => "/login".to_owned(),
            Some(v) => js::string(&v, path::MAX_LEN)
                .filter(|s| path::check(s).is_ok())
                .ok_or_else(|| {
                    FdError::bad_config("loginUrl", "must be a same-origin path such as \"/login\"")
                })?,
        };
        let on_expired = function(options, "onSessionExpired")?;
        let storage_key = match get(options, "storageKey")? {
            None => "fd.session".to_owned(),
            Some(v) => js::string(&v, MAX_KEY_LEN)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    FdError::bad_config(
                        "storageKey",
                        "must be a non-empty string of at most 256 characters",
                    )
                })?,
        };
        // setTimeout takes a signed 32-bit delay; a longer one would fire at once.
        let timeout = number(options, "refreshTimeoutMs", 10_000.0, 1.0)?;
        if timeout > f64::from(i32::MAX) {
            return Err(FdError::bad_config(
                "refreshTimeoutMs",
                "must be at most 2147483647",
            ));
        }
        let fetch = match function(options, "fetch")? {
            Some(f) => f,
            None => global_fetch().ok_or_else(|| {
                FdError::bad_config("fetch", "is required where there is no global fetch")
            })?,
        };
        Ok(Config {
            base,
            auth,
            cookie_mode,
            threshold_ms,
            login_url,
            on_expired,
            storage_key,
            refresh_timeout_ms: timeout as i32,
            fetch,
        })
    }
}

/// The longest `storageKey`, in characters (it also names the Web Locks and the channel).
const MAX_KEY_LEN: u32 = 256;

/// An option's value, from the object's own properties only (a polluted `Object.prototype` adds
/// nothing); `None` when absent, `undefined` or `null`. A getter that throws is bad config.
fn get(obj: &JsValue, key: &str) -> Result<Option<JsValue>, FdError> {
    js::own(obj, key).map_err(|_| FdError::bad_config(key, "could not be read (its getter threw)"))
}

pub fn number(obj: &JsValue, key: &str, default: f64, min: f64) -> Result<f64, FdError> {
    match get(obj, key)? {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|n| n.is_finite() && *n >= min)
            .ok_or_else(|| {
                FdError::bad_config(
                    key,
                    if min > 0.0 {
                        "must be a positive number"
                    } else {
                        "must be a number >= 0"
                    },
                )
            }),
    }
}

fn function(obj: &JsValue, key: &str) -> Result<Option<Function>, FdError> {
    match get(obj, key)? {
        None => Ok(None),
        Some(v) => v
            .dyn_into::<Function>()
            .map(Some)
            .map_err(|_| FdError::bad_config(key, "must be a function")),
    }
}

/// An absolute http(s) URL without credentials, query or fragment, as origin plus path prefix with
/// no trailing slash.
fn base_url(v: &JsValue, key: &str) -> Result<String, FdError> {
    let bad = || {
        FdError::bad_config(
            key,
            "must be an absolute http(s) URL without credentials, query or fragment",
        )
    };
    let s = js::string(v, path::MAX_LEN).ok_or_else(bad)?;
    let url = web_sys::Url::new(&s).map_err(|_| bad())?;
    let plain = url.username().is_empty()
        && url.password().is_empty()
        && url.search().is_empty()
        && url.hash().is_empty();
    if !matches!(url.protocol().as_str(), "http:" | "https:") || !plain || s.contains(['?', '#']) {
        return Err(bad());
    }
    let mut base = url.origin();
    base.push_str(url.pathname().trim_end_matches('/'));
    Ok(base)
}

fn global_fetch() -> Option<Function> {
    Reflect::get(&js::global(), &JsValue::from_str("fetch"))
        .ok()?
        .dyn_into()
        .ok()
}
