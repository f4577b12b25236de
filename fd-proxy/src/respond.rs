//! JSON answers. Every JSON answer of the mock and the proxy goes through here so that none
//! misses `Content-Type: application/json` or `Cache-Control: no-store` (tokens must not end up in
//! a shared or browser cache).

use axum::{
    http::{
        header::{CACHE_CONTROL, CONTENT_TYPE},
        HeaderValue, StatusCode,
    },
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};

/// `status` with `body` as JSON.
pub fn json(status: StatusCode, body: &Value) -> Response {
    // Serialising a `Value` cannot fail (its map keys are strings).
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{"error": code}`: the code is what clients branch on.
pub fn error(status: StatusCode, code: &str) -> Response {
    json(status, &json!({ "error": code }))
}

/// `{"error": code, "message": message}` for answers a person may read.
pub fn error_message(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, &json!({ "error": code, "message": message }))
}

/// 204 without a body, still `no-store` like every other answer of these routes.
pub fn no_content() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Fallback for unknown paths under /api and /proxy: JSON, never the single-page app's HTML.
pub async fn not_found() -> Response {
    error_message(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
}

/// Fallback for a known path with the wrong method.
pub async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
}

/// A JSON error answer as a small value, for `Result`s (a whole `Response` is too big to pass
/// around in an `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Option<&'static str>,
}

impl ApiError {
    pub const fn new(status: StatusCode, code: &'static str) -> Self {
        ApiError {
            status,
            code,
            message: None,
        }
    }

    pub const fn with_message(self, message: &'static str) -> Self {
        ApiError {
            message: Some(message),
            ..self
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.message {
            Some(message) => error_message(self.status, self.code, message),
            None => error(self.status, self.code),
        }
    }
}
