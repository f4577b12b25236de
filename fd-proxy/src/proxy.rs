//! The refresh-token proxy under /proxy, for fd-fetch's `refreshTokenIn: "cookie"`.
//!
//! The page never sees the refresh token: sign-in and MFA answers pass through with
//! `RefreshToken` taken out and put into an encrypted, `HttpOnly`, `SameSite=Strict` cookie scoped
//! to /proxy/auth; a refresh call then sends the cookie's token upstream. An XSS on the page can
//! thus steal at most short-lived access tokens.
//!
//! Because the browser attaches the cookie by itself, every proxy call is CSRF-checked first:
//! `X-Requested-With: fd-fetch` (which a cross-site form cannot send, and which makes a cross-site
//! `fetch` preflighted) and an `Origin` that is this server's own or an `--allowed-origin`.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use axum_extra::extract::cookie::{Cookie, CookieJar, Key, PrivateCookieJar, SameSite};
use serde_json::{json, Value};
use tower_http::cors::CorsLayer;

use crate::respond::{self, error_message, ApiError};

/// Name of the refresh-token cookie.
pub const COOKIE_NAME: &str = "fd_refresh";
/// The cookie's path: only the proxy's auth routes ever receive it.
pub const COOKIE_PATH: &str = "/proxy/auth";
/// The cookie's Max-Age, matching the provider's refresh-token lifetime.
const COOKIE_MAX_AGE_DAYS: i64 = 30;
/// The value fd-fetch sends in `X-Requested-With`.
const REQUESTED_WITH: &str = "fd-fetch";

/// What the proxy needs from the command line.
#[derive(Clone)]
pub struct ProxyConfig {
    /// Base URL without trailing slash; routes are appended (`{upstream}/auth`).
    pub upstream: String,
    pub key: Key,
    /// Normalised origins allowed besides this server's own.
    pub allowed_origins: Vec<String>,
    /// Whether the listener is a loopback address: plain http there is the one case where the
    /// cookie is not `Secure` (browsers would drop a `Secure` cookie on http://127.0.0.1).
    pub loopback: bool,
    pub timeout: Duration,
    /// The largest upstream answer body read; a bigger one is answered 502 `upstream_too_large`.
    pub max_body: usize,
    /// Whether the upstream is this process's own mock: then environment HTTP proxies are not
    /// used to reach it.
    pub upstream_is_local: bool,
}

struct Inner {
    config: ProxyConfig,
    client: reqwest::Client,
}

#[derive(Clone)]
struct Proxy(Arc<Inner>);

/// The /proxy router (CSRF check and CORS included). Fails only if the HTTP client cannot be
/// built (TLS set-up).
pub fn router(config: ProxyConfig) -> Result<Router, String> {
    let mut client = reqwest::Client::builder()
        .timeout(config.timeout)
        // A redirect from an auth endpoint is unexpected; following it would send the refresh
        // token somewhere else. It is answered as an upstream error instead.
        .redirect(reqwest::redirect::Policy::none());
    if config.upstream_is_local {
        client = client.no_proxy();
    }
    let client = client
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    let cors = CorsLayer::new()
        // Only the allowed origins, never a mirror: this CORS answer shares credentials.
        .allow_origin(crate::origin_list(&config.allowed_origins))
        .allow_credentials(true)
        .allow_methods([Method::POST, Method::PUT])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("x-requested-with"),
        ])
        .max_age(Duration::from_secs(600));
    let proxy = Proxy(Arc::new(Inner { config, client }));
    Ok(Router::new()
        .route("/auth", post(sign_in))
        .route("/auth/challenge/mfa-token", axum::routing::put(mfa_token))
        .route("/auth/refresh_token", post(refresh_token))
        .route("/auth/logout", post(logout))
        .fallback(respond::not_found)
        .method_not_allowed_fallback(respond::method_not_allowed)
        .with_state(proxy.clone())
        .layer(middleware::from_fn_with_state(proxy, csrf))
        .layer(cors))
}

/// Rejects any non-preflight request that fails the CSRF checks, before anything else runs.
async fn csrf(State(proxy): State<Proxy>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    match proxy.check_csrf(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => {
            tracing::info!(reason, "proxy: CSRF check failed");
            error_message(StatusCode::FORBIDDEN, "csrf_rejected", reason)
        }
    }
}

/// Whether the request came over https through a reverse proxy.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

impl Proxy {
    fn check_csrf(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        match headers.get("x-requested-with") {
            None => return Err("missing X-Requested-With header (expected fd-fetch)"),
            Some(v) if v.as_bytes() != REQUESTED_WITH.as_bytes() => {
                return Err("X-Requested-With is not fd-fetch")
            }
            Some(_) => {}
        }
        let origin = headers
            .get(header::ORIGIN)
            .ok_or("missing Origin header")?
            .to_str()
            .map_err(|_| "Origin is not allowed")?;
        if self.0.config.allowed_origins.iter().any(|o| o == origin) {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .ok_or("Origin is not allowed (no Host header to compare it with)")?;
        let scheme = if forwarded_https(headers) {
            "https"
        } else {
            "http"
        };
        if origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")) {
            Ok(())
        } else {
            Err("Origin is neither this server's origin nor an --allowed-origin")
        }
    }

    /// `Secure` everywhere except plain http on a loopback listener.
    fn secure(&self, headers: &HeaderMap) -> bool {
        !self.0.config.loopback || forwarded_https(headers)
    }

    /// The refresh-token cookie with its flags; setting and clearing differ only in value and age.
    fn cookie(&self, headers: &HeaderMap, value: String) -> Cookie<'static> {
        Cookie::build((COOKIE_NAME, value))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path(COOKIE_PATH)
            .secure(self.secure(headers))
            .build()
    }

    /// The jar that sets the encrypted refresh-token cookie.
    fn set_cookie(&self, headers: &HeaderMap, refresh_token: String) -> PrivateCookieJar {
        let mut cookie = self.cookie(headers, refresh_token);
        cookie.set_max_age(time::Duration::days(COOKIE_MAX_AGE_DAYS));
        PrivateCookieJar::new(self.0.config.key.clone()).add(cookie)
    }

    /// The jar that clears the cookie (same name, path and flags, `Max-Age=0`). Built on a plain
    /// jar so it clears even a cookie this key cannot decrypt.
    fn clear_cookie(&self, headers: &HeaderMap) -> CookieJar {
        let mut cookie = self.cookie(headers, String::new());
        cookie.make_removal();
        CookieJar::new().add(cookie)
    }

    /// Calls the upstream with a JSON body; an `Err` is the answer for a failed call.
    async fn call(&self, method: Method, route: &str, body: Bytes) -> Result<Upstream, ApiError> {
        let url = format!("{}{route}", self.0.config.upstream);
        let response = self
            .0
            .client
            .request(method, url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| failure(route, &e, "upstream_unavailable"))?;
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        tracing::info!(
            route,
            upstream_status = status.as_u16(),
            "proxy: upstream answered"
        );
        let body = read_capped(response, self.0.config.max_body, route).await?;
        Ok(Upstream {
            status,
            body,
            retry_after,
        })
    }

    /// Forwards a sign-in step, moving any refresh token from the answer into the cookie.
    async fn forward_auth(
        &self,
        method: Method,
        route: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let upstream = match self.call(method, route, body).await {
            Ok(upstream) => upstream,
            Err(failed) => return failed.into_response(),
        };
        if !upstream.status.is_success() {
            return upstream.pass_error();
        }
        self.pass_success(route, headers, &upstream)
    }

    /// A 2xx upstream answer, passed on with any `RefreshToken` moved into the cookie: a
    /// sign-in's, or a rotating upstream's new one on refresh. Without one (an MFA challenge, a
    /// non-rotating refresh) the answer passes through as it is.
    fn pass_success(&self, route: &str, headers: &HeaderMap, upstream: &Upstream) -> Response {
        let Some(mut answer) = upstream.json() else {
            return bad_response(route);
        };
        let refresh_token = take_refresh_token(&mut answer);
        let response = respond::json(upstream.status, &answer);
        match refresh_token {
            Some(token) => {
                tracing::info!(route, "proxy: refresh cookie set");
                (self.set_cookie(headers, token), response).into_response()
            }
            None => response,
        }
    }
}

/// An upstream answer.
struct Upstream {
    status: StatusCode,
    body: Bytes,
    /// Passed on with a 4xx (a 429 lock-out says when to try again).
    retry_after: Option<HeaderValue>,
}

impl Upstream {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A non-2xx sign-in answer: 4xx pass through (the page shows "wrong password" etc.), the rest
    /// is an upstream error.
    fn pass_error(&self) -> Response {
        if !self.status.is_client_error() {
            return upstream_error(StatusCode::BAD_GATEWAY, self.status);
        }
        let mut response = match self.json() {
            Some(body) => respond::json(self.status, &body),
            None => upstream_error(self.status, self.status),
        };
        if let Some(retry_after) = &self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.clone());
        }
        response
    }
}

/// `{"error": "upstream_error", "upstreamStatus": …}` with `status`.
fn upstream_error(status: StatusCode, upstream: StatusCode) -> Response {
    respond::json(
        status,
        &json!({ "error": "upstream_error", "upstreamStatus": upstream.as_u16() }),
    )
}

/// Removes `RefreshToken` from a Cognito-style answer, flat or inside `AuthenticationResult`,
/// returning it when it was a non-empty string.
fn take_refresh_token(answer: &mut Value) -> Option<String> {
    let Value::Object(map) = answer else {
        return None;
    };
    let nested = match map.get_mut("AuthenticationResult") {
        Some(Value::Object(result)) => result.remove("RefreshToken"),
        _ => None,
    };
    let flat = map.remove("RefreshToken");
    [flat, nested].into_iter().flatten().find_map(|v| match v {
        Value::String(token) if !token.is_empty() => Some(token),
        _ => None,
    })
}

/// The answer for a failed upstream call; logs the cause without the URL's details or any value.
fn failure(route: &str, err: &reqwest::Error, otherwise: &'static str) -> ApiError {
    if err.is_timeout() {
        tracing::warn!(route, "proxy: upstream timed out");
        return ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
    }
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    tracing::warn!(route, cause, "proxy: upstream call failed");
    ApiError::new(StatusCode::BAD_GATEWAY, otherwise)
}

/// Reads an upstream answer's body, but no more than `limit` bytes of it: a declared length over
/// the limit is refused before reading, and a body without one is dropped (closing the
/// connection, never reading the rest) as soon as it grows past the limit.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    route: &str,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        tracing::warn!(route, limit, "proxy: upstream answer too large");
        ApiError::new(StatusCode::BAD_GATEWAY, "upstream_too_large")
    };
    let declared = response.content_length();
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(too_large());
    }
    // Within the limit, since a larger declared length was refused above.
    let mut body = Vec::with_capacity(declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failure(route, &e, "upstream_bad_response"))?
    {
        // `body` never exceeds `limit`, so this does not underflow.
        if chunk.len() > limit - body.len() {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

fn bad_response(route: &str) -> Response {
    tracing::warn!(route, "proxy: upstream 2xx answer is not JSON");
    respond::error(StatusCode::BAD_GATEWAY, "upstream_bad_response")
}

/// `POST /proxy/auth` → `POST {upstream}/auth`.
async fn sign_in(State(proxy): State<Proxy>, headers: HeaderMap, body: Bytes) -> Response {
    proxy
        .forward_auth(Method::POST, "/auth", &headers, body)
        .await
}

/// `PUT /proxy/auth/challenge/mfa-token` → `PUT {upstream}/auth/challenge/mfa-token`.
async fn mfa_token(State(proxy): State<Proxy>, headers: HeaderMap, body: Bytes) -> Response {
    proxy
        .forward_auth(Method::PUT, "/auth/challenge/mfa-token", &headers, body)
        .await
}

/// `POST /proxy/auth/refresh_token`: the body's token (null in cookie mode) is ignored; the
/// cookie's is sent upstream.
async fn refresh_token(State(proxy): State<Proxy>, headers: HeaderMap) -> Response {
    const ROUTE: &str = "/auth/refresh_token";
    if CookieJar::from_headers(&headers).get(COOKIE_NAME).is_none() {
        tracing::info!("proxy: refresh without a cookie");
        return respond::error(StatusCode::UNAUTHORIZED, "no_refresh_cookie");
    }
    let Some(cookie) =
        PrivateCookieJar::from_headers(&headers, proxy.0.config.key.clone()).get(COOKIE_NAME)
    else {
        tracing::info!("proxy: refresh cookie does not decrypt; cookie cleared");
        return (
            proxy.clear_cookie(&headers),
            respond::error(StatusCode::UNAUTHORIZED, "bad_refresh_cookie"),
        )
            .into_response();
    };
    let body = json!({ "token": cookie.value(), "device_key": null, "device_group_key": null });
    let upstream = match proxy
        .call(Method::POST, ROUTE, Bytes::from(body.to_string()))
        .await
    {
        Ok(upstream) => upstream,
        Err(failed) => return failed.into_response(),
    };
    let status = upstream.status.as_u16();
    if upstream.status.is_success() {
        return proxy.pass_success(ROUTE, &headers, &upstream);
    }
    if matches!(status, 400 | 401 | 403) {
        tracing::info!(
            upstream_status = status,
            "proxy: refresh rejected; cookie cleared"
        );
        return (
            proxy.clear_cookie(&headers),
            respond::json(
                upstream.status,
                &json!({ "error": "refresh_rejected", "upstreamStatus": status }),
            ),
        )
            .into_response();
    }
    upstream_error(StatusCode::BAD_GATEWAY, upstream.status)
}

/// `POST /proxy/auth/logout`: clears the cookie; nothing upstream.
async fn logout(State(proxy): State<Proxy>, headers: HeaderMap) -> Response {
    tracing::info!("proxy: logout; cookie cleared");
    (proxy.clear_cookie(&headers), respond::no_content()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_token_is_taken_from_either_shape() {
        let mut flat = json!({"AccessToken": "a", "RefreshToken": "r"});
        assert_eq!(take_refresh_token(&mut flat).as_deref(), Some("r"));
        assert_eq!(flat, json!({"AccessToken": "a"}));

        let mut nested = json!({"AuthenticationResult": {"AccessToken": "a", "RefreshToken": "n"}});
        assert_eq!(take_refresh_token(&mut nested).as_deref(), Some("n"));
        assert_eq!(
            nested,
            json!({"AuthenticationResult": {"AccessToken": "a"}})
        );

        let mut challenge = json!({"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s"});
        assert_eq!(take_refresh_token(&mut challenge), None);
        assert_eq!(challenge["Session"], "s");
    }

    #[test]
    fn forwarded_proto_reads_the_first_hop() {
        let mut headers = HeaderMap::new();
        assert!(!forwarded_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
        assert!(forwarded_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!forwarded_https(&headers));
    }
}
