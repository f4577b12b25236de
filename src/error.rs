//! `FdError`: the stable codes, and how a failure becomes the JS error a caller sees.
use crate::prelude::*;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    /// The JS class (in `js/support.js`) that the package entry exports too.
    #[wasm_bindgen(js_name = FdError)]
    pub type JsFdError;
    #[wasm_bindgen(constructor, js_class = "FdError")]
    fn new(code: &str, message: &str, status: JsValue, body: JsValue) -> JsFdError;
}

/// The codes of the contract. Each is stable: callers branch on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    BadConfig,
    NotConfigured,
    NotSignedIn,
    BadPath,
    SessionExpired,
    RefreshFailed,
    SignInFailed,
    MfaFailed,
    Http,
    Network,
    BadResponse,
    BadRequest,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadConfig => "bad_config",
            Code::NotConfigured => "not_configured",
            Code::NotSignedIn => "not_signed_in",
            Code::BadPath => "bad_path",
            Code::SessionExpired => "session_expired",
            Code::RefreshFailed => "refresh_failed",
            Code::SignInFailed => "sign_in_failed",
            Code::MfaFailed => "mfa_failed",
            Code::Http => "http",
            Code::Network => "network",
            Code::BadResponse => "bad_response",
            Code::BadRequest => "bad_request",
        }
    }
}

/// A failure on its way to JS. Messages are built from fixed text, option names and paths only:
/// never from a token or a response body.
#[derive(Debug)]
pub struct FdError {
    pub code: Code,
    pub message: String,
    pub status: Option<u16>,
    pub body: Option<JsValue>,
}

impl FdError {
    pub fn new(code: Code, parts: &[&str]) -> Self {
        let mut message = String::from("fd-fetch: ");
        for p in parts {
            message.push_str(p);
        }
        Self {
            code,
            message,
            status: None,
            body: None,
        }
    }
    pub fn with_response(mut self, status: u16, body: JsValue) -> Self {
        self.status = Some(status);
        self.body = Some(body);
        self
    }
    pub fn not_configured() -> Self {
        Self::new(
            Code::NotConfigured,
            &["call `await configure(options)` first"],
        )
    }
    pub fn not_signed_in() -> Self {
        Self::new(Code::NotSignedIn, &["not signed in; nothing was sent"])
    }
    pub fn session_expired() -> Self {
        Self::new(
            Code::SessionExpired,
            &["the session has expired; sign in again"],
        )
    }
    pub fn bad_config(option: &str, must: &str) -> Self {
        Self::new(Code::BadConfig, &["option `", option, "` ", must])
    }
    pub fn bad_response(what: &str) -> Self {
        Self::new(Code::BadResponse, &[what])
    }
}

impl From<FdError> for JsValue {
    fn from(e: FdError) -> JsValue {
        let status = e.status.map_or(JsValue::UNDEFINED, JsValue::from);
        JsFdError::new(
            e.code.as_str(),
            &e.message,
            status,
            e.body.unwrap_or(JsValue::UNDEFINED),
        )
        .into()
    }
}

/// Either our own failure or a rejection we pass through untouched (an `AbortError`, or the
/// `TypeError` that `new Request` throws for an init that fetch itself refuses).
#[derive(Debug)]
pub enum Failure {
    Fd(FdError),
    Foreign(JsValue),
}

impl From<FdError> for Failure {
    fn from(e: FdError) -> Self {
        Failure::Fd(e)
    }
}

impl From<Failure> for JsValue {
    fn from(f: Failure) -> JsValue {
        match f {
            Failure::Fd(e) => e.into(),
            Failure::Foreign(v) => v,
        }
    }
}
