//! The mock partner API under /api, for development and the example page. Field names follow
//! AWS Cognito's, since the real provider's auth is Cognito, so fd-fetch sees the same shapes.
//!
//! Everything lives in memory and dies with the process: two demo users, HS256 access and id
//! tokens signed with a random per-process secret, opaque refresh tokens (non-rotating, or rotating
//! on every refresh with `--rotate-refresh-tokens`), single-use MFA sessions, and revocable
//! sessions (the demo revokes one to show "401 → /login").
//!
//! It also keeps a log of the requests it answered, for tests: `GET /api/_mock/requests` (see
//! [`LoggedRequest`]), cleared by `DELETE /api/_mock/requests`.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    middleware::{self, Next},
    response::Response,
    routing::{get, post, put},
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    jwt::Signer,
    respond::{self, ApiError},
};

/// `iss` of the mock's tokens.
const ISSUER: &str = "fd-proxy-mock";
/// The demo MFA code (a real provider would check a TOTP).
const MFA_CODE: &str = "123456";
/// How long an MFA challenge session stays usable.
const MFA_SESSION_SECS: u64 = 5 * 60;
/// Wrong codes allowed per MFA session before it is dropped.
const MFA_MAX_ATTEMPTS: u32 = 5;
/// Wrong codes allowed per user, across all of its challenges, within [`MFA_FAILURE_WINDOW_SECS`].
/// Past it the user is locked out (429 with `Retry-After`) until the oldest of them leaves the
/// window: without it, fresh challenges would allow unlimited guesses of the 6-digit code.
const MFA_MAX_FAILURES: usize = 10;
/// The sliding window of [`MFA_MAX_FAILURES`].
const MFA_FAILURE_WINDOW_SECS: u64 = 15 * 60;
/// Refresh-token lifetime (Cognito's default).
const REFRESH_SECS: u64 = 30 * 24 * 3600;
/// Upper bound of `?delay_ms=`.
const MAX_DELAY_MS: u64 = 5000;
/// Once a map of the store grows past this, expired entries are swept out on insert.
const SWEEP_THRESHOLD: usize = 1024;
/// Rotated-away refresh tokens remembered at most, even before they expire; past it the
/// soonest-expiring are forgotten first. A forgotten one is still refused, only as never issued
/// (401) instead of revoked (400).
const ROTATED_MAX: usize = 16 * SWEEP_THRESHOLD;

/// A refresh token that is unknown, expired, or of a revoked session.
const INVALID_REFRESH: ApiError = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
/// A refresh token that rotation replaced, presented again: Cognito answers 400
/// `NotAuthorizedException` with this message.
const ROTATED_AWAY: ApiError = ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant")
    .with_message("Refresh Token has been revoked");

/// Where the mock is mounted: the request log's paths start with it.
pub const MOUNT: &str = "/api";
/// The request log's route, under [`MOUNT`].
const LOG_ROUTE: &str = "/_mock/requests";
/// Requests the log keeps; past it the oldest go first.
pub const LOG_MAX: usize = 10_000;

/// The partner-selection header every protected endpoint requires.
pub const PARTNER_HEADER: &str = "x-preferred-partner-id";

/// A demo user.
struct User {
    username: &'static str,
    password: &'static str,
    name: &'static str,
    partners: &'static [&'static str],
    mfa: bool,
}

const USERS: &[User] = &[
    User {
        username: "alice",
        password: "wonderland",
        name: "Alice Liddell",
        partners: &["acme-eu", "acme-us"],
        mfa: false,
    },
    User {
        username: "bob",
        password: "builder",
        name: "Bob the Builder",
        partners: &["builders-uk"],
        mfa: true,
    },
];

/// The demo accounts, for the start-up lines.
pub const DEMO_USERS: &str = "alice / wonderland, bob / builder (MFA code 123456)";

fn find_user(username: &str) -> Option<&'static User> {
    USERS.iter().find(|u| u.username == username)
}

/// What the mock needs from the command line.
#[derive(Debug, Clone)]
pub struct MockConfig {
    pub token_lifetime: u64,
    pub refresh_delay: Duration,
    /// Where the proxy is mounted, for /api/demo-config.
    pub proxy_path: Option<&'static str>,
    /// CORS allow-list; empty means any origin (mirrored).
    pub allowed_origins: Vec<String>,
    /// Whether each refresh answers a new refresh token and retires the old one (Cognito with
    /// rotation on).
    pub rotate_refresh_tokens: bool,
}

struct RefreshEntry {
    user: &'static User,
    sid: String,
    expires: u64,
}

/// A refresh token that rotation replaced, remembered until it would have expired so that
/// presenting it again is told apart from a token never issued.
struct RotatedEntry {
    sid: String,
    expires: u64,
}

struct MfaEntry {
    user: &'static User,
    expires: u64,
    attempts: u32,
}

#[derive(Default)]
struct Store {
    refresh_tokens: HashMap<String, RefreshEntry>,
    /// Only ever filled with rotation on.
    rotated_refresh_tokens: HashMap<String, RotatedEntry>,
    mfa_sessions: HashMap<String, MfaEntry>,
    /// Per user, the times of its latest wrong MFA codes (at most [`MFA_MAX_FAILURES`]).
    mfa_failures: HashMap<&'static str, VecDeque<u64>>,
    revoked_sessions: HashSet<String>,
}

impl Store {
    /// The user and session of a live refresh token at `now`. With `rotate_to`, that new token
    /// takes the old one's place (same user, session and expiry) and the old one is remembered as
    /// rotated away, all under the one lock, so of two refreshes racing with the same token only
    /// one succeeds.
    fn redeem_refresh(
        &mut self,
        token: &str,
        now: u64,
        rotate_to: Option<String>,
    ) -> Result<(&'static User, String), ApiError> {
        let Some(entry) = self.refresh_tokens.get(token) else {
            let rotated_expiry = self.rotated_refresh_tokens.get(token).map(|e| e.expires);
            return Err(match rotated_expiry {
                Some(expires) if expires > now => ROTATED_AWAY,
                Some(_) => {
                    self.rotated_refresh_tokens.remove(token);
                    INVALID_REFRESH
                }
                None => INVALID_REFRESH,
            });
        };
        let (user, sid, expires) = (entry.user, entry.sid.clone(), entry.expires);
        if expires <= now {
            self.refresh_tokens.remove(token);
            return Err(INVALID_REFRESH);
        }
        if let Some(new) = rotate_to {
            self.refresh_tokens.remove(token);
            insert_sweeping(
                &mut self.refresh_tokens,
                new,
                RefreshEntry {
                    user,
                    sid: sid.clone(),
                    expires,
                },
                |e| e.expires > now,
            );
            remember_rotated(
                &mut self.rotated_refresh_tokens,
                token.to_owned(),
                RotatedEntry {
                    sid: sid.clone(),
                    expires,
                },
                now,
                ROTATED_MAX,
            );
        }
        Ok((user, sid))
    }

    /// Seconds until `user` may try MFA again, when locked out at `now`.
    fn mfa_locked_for(&mut self, user: &str, now: u64) -> Option<u64> {
        let failures = self.mfa_failures.get_mut(user)?;
        while failures
            .front()
            .is_some_and(|&at| at + MFA_FAILURE_WINDOW_SECS <= now)
        {
            failures.pop_front();
        }
        if failures.len() < MFA_MAX_FAILURES {
            return None;
        }
        let oldest = failures.front().copied().unwrap_or(now);
        Some(
            (oldest + MFA_FAILURE_WINDOW_SECS)
                .saturating_sub(now)
                .max(1),
        )
    }

    /// Counts a wrong MFA code of `user` at `now`.
    fn record_mfa_failure(&mut self, user: &'static str, now: u64) {
        let failures = self.mfa_failures.entry(user).or_default();
        failures.push_back(now);
        while failures.len() > MFA_MAX_FAILURES {
            failures.pop_front();
        }
    }

    /// Ends a session: its live refresh token (the newest of a rotated chain) goes, and so do the
    /// records of its rotated-away ones, which then answer 401 like the rest of the session.
    fn revoke_session(&mut self, sid: String) {
        self.refresh_tokens.retain(|_, e| e.sid != sid);
        self.rotated_refresh_tokens.retain(|_, e| e.sid != sid);
        self.revoked_sessions.insert(sid);
    }
}

/// One request the mock answered, as `GET /api/_mock/requests` lists it. Never a token, a refresh
/// token, a password or a body: the bearer token only as the start of its SHA-256.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// The path from the server's root (`/api/me`), without the query.
    pub path: String,
    pub status: u16,
    /// `X-Preferred-Partner-Id`, when sent (and valid UTF-8).
    pub partner: Option<String>,
    /// The first 16 hex digits of the SHA-256 of the bearer token, when one was sent.
    pub token: Option<String>,
    /// `sub` of the bearer token when it is one of this mock's; else, for a sign-in, MFA answer or
    /// refresh that issued tokens, the user they were issued to.
    pub user: Option<String>,
    /// When the mock answered, in milliseconds since the Unix epoch.
    pub at: u64,
}

/// The user an answer issued tokens to, for the request log (a response extension).
#[derive(Debug, Clone, Copy)]
struct IssuedTo(&'static str);

struct Inner {
    config: MockConfig,
    signer: Signer,
    store: Mutex<Store>,
    log: Mutex<VecDeque<LoggedRequest>>,
}

#[derive(Clone)]
struct Mock(Arc<Inner>);

impl Mock {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for a mock, so keep serving.
        self.0.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, VecDeque<LoggedRequest>> {
        self.0.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an entry to the request log, dropping the oldest past [`LOG_MAX`].
    fn record(&self, entry: LoggedRequest) {
        let mut log = self.log();
        while log.len() >= LOG_MAX {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// Signs an access and an id token for this user and session.
    fn mint(&self, user: &User, sid: &str) -> (String, String) {
        let iat = unix_now();
        let exp = iat + self.0.config.token_lifetime;
        let access = self.0.signer.sign(&json!({
            "sub": user.username,
            "sid": sid,
            "iat": iat,
            "exp": exp,
            "jti": random_token(16),
            "token_use": "access",
            "iss": ISSUER,
        }));
        let id = self.0.signer.sign(&json!({
            "sub": user.username,
            "name": user.name,
            "iat": iat,
            "exp": exp,
            "token_use": "id",
            "iss": ISSUER,
        }));
        (access, id)
    }

    /// A new session: tokens plus a refresh token, in Cognito's flat shape.
    fn start_session(&self, user: &'static User) -> Response {
        let sid = random_token(16);
        let refresh = new_refresh_token();
        let now = unix_now();
        insert_sweeping(
            &mut self.store().refresh_tokens,
            refresh.clone(),
            RefreshEntry {
                user,
                sid: sid.clone(),
                expires: now + REFRESH_SECS,
            },
            |e| e.expires > now,
        );
        let (access, id) = self.mint(user, &sid);
        issued_to(
            user,
            respond::json(
                StatusCode::OK,
                &json!({
                    "AccessToken": access,
                    "IdToken": id,
                    "RefreshToken": refresh,
                    "ExpiresIn": self.0.config.token_lifetime,
                    "TokenType": "Bearer",
                }),
            ),
        )
    }

    /// Checks the bearer token and the partner header of a protected call.
    fn authorize(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let invalid = || ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token");
        let token = bearer_token(headers).ok_or_else(invalid)?;
        let claims = self.0.signer.verify(token).ok_or_else(invalid)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("token_use") != Some("access") || text("iss") != Some(ISSUER) {
            return Err(invalid());
        }
        let user = text("sub").and_then(find_user).ok_or_else(invalid)?;
        let sid = text("sid").ok_or_else(invalid)?.to_owned();
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(invalid)?;
        if self.store().revoked_sessions.contains(&sid) {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "token_revoked"));
        }
        if exp <= unix_now() {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "token_expired"));
        }
        let partner = headers
            .get(PARTNER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or(ApiError::new(StatusCode::BAD_REQUEST, "missing_partner_id"))?;
        if !user.partners.contains(&partner) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "partner_not_allowed"));
        }
        Ok(Caller {
            user,
            sid,
            partner: partner.to_owned(),
        })
    }
}

/// Inserts into a map of the store, first dropping the entries that are no longer `live` once the
/// map has grown past [`SWEEP_THRESHOLD`], so an idle mock does not grow without bound.
fn insert_sweeping<V>(
    map: &mut HashMap<String, V>,
    key: String,
    value: V,
    live: impl Fn(&V) -> bool,
) {
    if map.len() > SWEEP_THRESHOLD {
        map.retain(|_, v| live(v));
    }
    map.insert(key, value);
}

/// [`insert_sweeping`] for the rotated-away tokens, which every rotating refresh adds to: beyond
/// `cap` entries even unexpired ones go, soonest-expiring first.
fn remember_rotated(
    map: &mut HashMap<String, RotatedEntry>,
    token: String,
    entry: RotatedEntry,
    now: u64,
    cap: usize,
) {
    insert_sweeping(map, token, entry, |e| e.expires > now);
    while map.len() > cap {
        let Some(soonest) = map
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        map.remove(&soonest);
    }
}

/// The authenticated caller of a protected endpoint.
struct Caller {
    user: &'static User,
    sid: String,
    partner: String,
}

/// The /api router (with its CORS layer).
pub fn router(config: MockConfig) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(if config.allowed_origins.is_empty() {
            // Token-authenticated, no cookies: any page may call it.
            AllowOrigin::mirror_request()
        } else {
            crate::origin_list(&config.allowed_origins)
        })
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(PARTNER_HEADER),
            HeaderName::from_static("x-requested-with"),
        ])
        .max_age(Duration::from_secs(600));
    let mock = Mock(Arc::new(Inner {
        config,
        signer: Signer::random(),
        store: Mutex::new(Store::default()),
        log: Mutex::new(VecDeque::new()),
    }));
    Router::new()
        .route("/auth", post(sign_in))
        .route("/auth/challenge/mfa-token", put(mfa_token))
        .route("/auth/refresh_token", post(refresh_token))
        .route("/me", get(me))
        .route("/orders", get(orders))
        .route("/session/revoke", post(revoke_session))
        .route("/demo-config", get(demo_config))
        .route(LOG_ROUTE, get(list_requests).delete(clear_requests))
        .fallback(respond::not_found)
        .method_not_allowed_fallback(respond::method_not_allowed)
        .with_state(mock.clone())
        .layer(cors)
        // Outside the CORS layer, so that preflights are logged too.
        .layer(middleware::from_fn_with_state(mock, log_request))
}

/// Records every request the mock answers, except those to the log itself.
async fn log_request(State(mock): State<Mock>, request: Request, next: Next) -> Response {
    // Inside `nest`, the path comes without the mount point.
    let path = request.uri().path();
    if path == LOG_ROUTE {
        return next.run(request).await;
    }
    let path = format!("{MOUNT}{path}");
    let method = request.method().to_string();
    let headers = request.headers();
    let partner = headers
        .get(PARTNER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bearer = bearer_token(headers);
    let token = bearer.map(token_digest);
    let user = bearer
        .and_then(|t| mock.0.signer.verify(t))
        .and_then(|claims| claims.get("sub").and_then(Value::as_str).map(str::to_owned));
    let response = next.run(request).await;
    let user = user.or_else(|| {
        response
            .extensions()
            .get::<IssuedTo>()
            .map(|u| u.0.to_owned())
    });
    mock.record(LoggedRequest {
        method,
        path,
        status: response.status().as_u16(),
        partner,
        token,
        user,
        at: unix_now_ms(),
    });
    response
}

/// `GET /api/_mock/requests`: the request log, oldest first.
async fn list_requests(State(mock): State<Mock>) -> Response {
    let log: Vec<LoggedRequest> = mock.log().iter().cloned().collect();
    respond::json(StatusCode::OK, &json!(log))
}

/// `DELETE /api/_mock/requests`: empties the request log.
async fn clear_requests(State(mock): State<Mock>) -> Response {
    mock.log().clear();
    respond::no_content()
}

/// The token of an `Authorization: Bearer …` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

/// The first 16 hex digits of a token's SHA-256: enough to tell tokens apart in a test, useless
/// for calling the API.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Marks an answer as having issued tokens to `user`, for the request log.
fn issued_to(user: &'static User, mut response: Response) -> Response {
    response.extensions_mut().insert(IssuedTo(user.username));
    response
}

/// A JSON object body, or the 400 (with `message`) to answer.
fn object_body(
    body: &[u8],
    message: &'static str,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        // The parser's message is not echoed: it can quote the body, i.e. a password.
        _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request").with_message(message)),
    }
}

const SIGN_IN_SHAPE: &str = "Expected a JSON object with string fields username and password.";

/// `POST /api/auth`: password sign-in.
async fn sign_in(State(mock): State<Mock>, body: Bytes) -> Result<Response, ApiError> {
    let fields = object_body(&body, SIGN_IN_SHAPE)?;
    let (Some(username), Some(password)) = (
        fields.get("username").and_then(Value::as_str),
        fields.get("password").and_then(Value::as_str),
    ) else {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request").with_message(SIGN_IN_SHAPE)
        );
    };
    let Some(user) = find_user(username).filter(|u| u.password == password) else {
        return Err(
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials")
                .with_message("Incorrect username or password."),
        );
    };
    if !user.mfa {
        return Ok(mock.start_session(user));
    }
    let now = unix_now();
    if let Some(retry_after) = mock.store().mfa_locked_for(user.username, now) {
        return Ok(locked_out(retry_after));
    }
    let session = random_token(32);
    insert_sweeping(
        &mut mock.store().mfa_sessions,
        session.clone(),
        MfaEntry {
            user,
            expires: now + MFA_SESSION_SECS,
            attempts: 0,
        },
        |e| e.expires > now,
    );
    Ok(respond::json(
        StatusCode::OK,
        &json!({
            "ChallengeName": "SOFTWARE_TOKEN_MFA",
            "Session": session,
            "ChallengeParameters": {},
        }),
    ))
}

/// `PUT /api/auth/challenge/mfa-token`: answers the MFA challenge of a password sign-in.
async fn mfa_token(State(mock): State<Mock>, body: Bytes) -> Result<Response, ApiError> {
    let fields = object_body(
        &body,
        "Expected a JSON object with string fields session and code.",
    )?;
    let invalid_session = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_session");
    let session = fields
        .get("session")
        .and_then(Value::as_str)
        .ok_or(invalid_session)?;
    // A page may send the code as a number.
    let code = match fields.get("code") {
        Some(Value::String(code)) => code.trim().to_owned(),
        Some(Value::Number(code)) => code.to_string(),
        _ => String::new(),
    };
    let now = unix_now();
    let user = {
        let mut store = mock.store();
        let entry = store.mfa_sessions.get(session).ok_or(invalid_session)?;
        let (user, expires) = (entry.user, entry.expires);
        if expires <= now {
            store.mfa_sessions.remove(session);
            return Err(invalid_session);
        }
        if let Some(retry_after) = store.mfa_locked_for(user.username, now) {
            // Not even the right code is taken while locked out.
            return Ok(locked_out(retry_after));
        }
        if code != MFA_CODE {
            let spent = store.mfa_sessions.get_mut(session).is_some_and(|entry| {
                entry.attempts += 1;
                entry.attempts >= MFA_MAX_ATTEMPTS
            });
            if spent {
                store.mfa_sessions.remove(session);
            }
            store.record_mfa_failure(user.username, now);
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
        }
        // Single use.
        store.mfa_sessions.remove(session);
        store.mfa_failures.remove(user.username);
        user
    };
    Ok(mock.start_session(user))
}

/// 429 for a user locked out after too many wrong MFA codes (Cognito answers
/// `TooManyFailedAttemptsException` / `TooManyRequestsException` here), with `Retry-After` in
/// seconds.
fn locked_out(retry_after: u64) -> Response {
    let mut response = respond::error_message(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failed_attempts",
        "Too many wrong MFA codes for this user; try again later.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// `POST /api/auth/refresh_token`: new access and id tokens for a refresh token. Like the
/// provider's example answer, no `ExpiresIn`; no `RefreshToken` either unless rotation is on, when
/// a new one comes with them and the presented one is retired (presented again: 400
/// `invalid_grant`).
async fn refresh_token(State(mock): State<Mock>, body: Bytes) -> Result<Response, ApiError> {
    if !mock.0.config.refresh_delay.is_zero() {
        tokio::time::sleep(mock.0.config.refresh_delay).await;
    }
    let fields = object_body(&body, "Expected a JSON object with a string field token.")?;
    // A missing or null token is just as unusable as an unknown one.
    let token = fields
        .get("token")
        .and_then(Value::as_str)
        .ok_or(INVALID_REFRESH)?;
    let rotate_to = mock.0.config.rotate_refresh_tokens.then(new_refresh_token);
    let (user, sid) = mock
        .store()
        .redeem_refresh(token, unix_now(), rotate_to.clone())?;
    let (access, id) = mock.mint(user, &sid);
    let mut answer = json!({ "AccessToken": access, "IdToken": id, "TokenType": "Bearer" });
    if let Some(refresh) = rotate_to {
        answer["RefreshToken"] = Value::String(refresh);
    }
    Ok(issued_to(user, respond::json(StatusCode::OK, &answer)))
}

/// Sleeps for `?delay_ms=` (clamped), then checks the caller: the demo timeline uses the delay
/// to show calls in flight while a token expires.
async fn protected(mock: &Mock, uri: &Uri, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let delay = delay_ms(uri.query().unwrap_or(""));
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    mock.authorize(headers)
}

/// `delay_ms` from a query string, clamped to `0..=MAX_DELAY_MS`; anything unparsable is 0.
fn delay_ms(query: &str) -> u64 {
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("delay_ms="))
        .next_back()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |ms| ms.min(MAX_DELAY_MS))
}

/// `GET /api/me`.
async fn me(State(mock): State<Mock>, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = protected(&mock, &uri, &headers).await?;
    Ok(respond::json(
        StatusCode::OK,
        &json!({
            "user": caller.user.username,
            "name": caller.user.name,
            "partnerId": caller.partner,
            "partners": caller.user.partners,
        }),
    ))
}

/// `GET /api/orders`: five orders, the same every time for a given partner.
async fn orders(
    State(mock): State<Mock>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = protected(&mock, &uri, &headers).await?;
    Ok(respond::json(
        StatusCode::OK,
        &json!({ "partnerId": caller.partner, "orders": orders_for(&caller.partner) }),
    ))
}

/// Deterministic demo orders, seeded by a hash of the partner id.
fn orders_for(partner: &str) -> Vec<Value> {
    const ITEMS: &[&str] = &[
        "Widget", "Gizmo", "Sprocket", "Flange", "Gasket", "Bracket", "Hinge", "Spring",
    ];
    const STATUSES: &[&str] = &["pending", "paid", "shipped", "delivered"];
    // FNV-1a, then a tiny LCG: stable across runs and platforms.
    let mut state = partner.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let prefix = partner.to_ascii_uppercase();
    (0..5u64)
        .map(|i| {
            let item = ITEMS[(next() % ITEMS.len() as u64) as usize];
            let cents = 500 + next() % 50_000;
            let status = STATUSES[(next() % STATUSES.len() as u64) as usize];
            json!({
                "id": format!("{prefix}-{}", 1001 + i),
                "item": item,
                "total": cents as f64 / 100.0,
                "status": status,
            })
        })
        .collect()
}

/// `POST /api/session/revoke`: ends the caller's whole session, its access tokens (even
/// unexpired ones) and its refresh token (with rotation, every token of the chain).
async fn revoke_session(
    State(mock): State<Mock>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = protected(&mock, &uri, &headers).await?;
    mock.store().revoke_session(caller.sid);
    Ok(respond::no_content())
}

/// `GET /api/demo-config`: what the example page needs to draw its timeline.
async fn demo_config(State(mock): State<Mock>) -> Response {
    let config = &mock.0.config;
    respond::json(
        StatusCode::OK,
        &json!({
            "tokenLifetimeSec": config.token_lifetime,
            "refreshDelayMs": u64::try_from(config.refresh_delay.as_millis()).unwrap_or(u64::MAX),
            "proxy": config.proxy_path,
            "rotateRefreshTokens": config.rotate_refresh_tokens,
        }),
    )
}

/// Seconds since the Unix epoch (0 if the clock is before it, which only a broken clock is).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch (0 before it).
fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A new opaque refresh token.
fn new_refresh_token() -> String {
    format!("rt.{}", random_token(32))
}

/// `bytes` random bytes, base64url without padding.
fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    B64.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_clamped_and_tolerant() {
        assert_eq!(delay_ms(""), 0);
        assert_eq!(delay_ms("delay_ms=250"), 250);
        assert_eq!(delay_ms("a=1&delay_ms=99999"), MAX_DELAY_MS);
        assert_eq!(delay_ms("delay_ms=-5"), 0);
        assert_eq!(delay_ms("delay_ms=abc"), 0);
    }

    fn store_with(tokens: &[(&str, &str, u64)]) -> Store {
        let user = find_user("alice").expect("alice");
        let mut store = Store::default();
        for (token, sid, expires) in tokens {
            store.refresh_tokens.insert(
                (*token).to_owned(),
                RefreshEntry {
                    user,
                    sid: (*sid).to_owned(),
                    expires: *expires,
                },
            );
        }
        store
    }

    fn sid_of(result: Result<(&'static User, String), ApiError>) -> Result<String, ApiError> {
        result.map(|(user, sid)| {
            assert_eq!(user.username, "alice");
            sid
        })
    }

    #[test]
    fn without_rotation_a_refresh_token_is_reusable() {
        let mut store = store_with(&[("rt.a", "s1", 200)]);
        for _ in 0..3 {
            assert_eq!(
                sid_of(store.redeem_refresh("rt.a", 100, None)),
                Ok("s1".into())
            );
        }
        assert!(store.rotated_refresh_tokens.is_empty());
        assert_eq!(
            store.redeem_refresh("rt.a", 200, None).err(),
            Some(INVALID_REFRESH)
        );
        assert!(store.refresh_tokens.is_empty(), "expired token dropped");
        assert_eq!(
            store.redeem_refresh("rt.x", 100, None).err(),
            Some(INVALID_REFRESH)
        );
    }

    #[test]
    fn rotation_retires_the_old_token_and_keeps_session_and_expiry() {
        let mut store = store_with(&[("rt.a", "s1", 200)]);
        let rotate = |to: &str| Some(to.to_owned());
        assert_eq!(
            sid_of(store.redeem_refresh("rt.a", 100, rotate("rt.b"))),
            Ok("s1".into())
        );
        assert!(!store.refresh_tokens.contains_key("rt.a"));
        let new = &store.refresh_tokens["rt.b"];
        assert_eq!((new.sid.as_str(), new.expires), ("s1", 200));
        assert_eq!(
            store.redeem_refresh("rt.a", 101, rotate("rt.z")).err(),
            Some(ROTATED_AWAY)
        );
        assert!(
            !store.refresh_tokens.contains_key("rt.z"),
            "a refused refresh mints nothing"
        );
        assert_eq!(
            sid_of(store.redeem_refresh("rt.b", 102, rotate("rt.c"))),
            Ok("s1".into())
        );
        assert_eq!(store.refresh_tokens.len(), 1);
        for old in ["rt.a", "rt.b"] {
            assert_eq!(
                store.redeem_refresh(old, 103, None).err(),
                Some(ROTATED_AWAY)
            );
        }
        assert_eq!(
            store.redeem_refresh("rt.never", 103, None).err(),
            Some(INVALID_REFRESH)
        );
        // Once the old token would have expired anyway, it is merely unknown, and forgotten.
        assert_eq!(
            store.redeem_refresh("rt.a", 200, None).err(),
            Some(INVALID_REFRESH)
        );
        assert!(!store.rotated_refresh_tokens.contains_key("rt.a"));
        assert_eq!(ROTATED_AWAY.status, StatusCode::BAD_REQUEST);
        assert_eq!(ROTATED_AWAY.code, "invalid_grant");
        assert_eq!(ROTATED_AWAY.message, Some("Refresh Token has been revoked"));
    }

    #[test]
    fn revoking_a_session_ends_its_whole_rotated_chain_only() {
        let mut store = store_with(&[("rt.a", "s1", 200), ("rt.other", "s2", 200)]);
        store
            .redeem_refresh("rt.a", 100, Some("rt.b".into()))
            .expect("rotates");
        store
            .redeem_refresh("rt.other", 100, Some("rt.other2".into()))
            .expect("rotates");
        store.revoke_session("s1".into());
        for token in ["rt.a", "rt.b"] {
            assert_eq!(
                store.redeem_refresh(token, 101, Some("rt.c".into())).err(),
                Some(INVALID_REFRESH),
                "{token}"
            );
        }
        assert!(store.revoked_sessions.contains("s1"));
        assert_eq!(
            store.redeem_refresh("rt.other", 101, None).err(),
            Some(ROTATED_AWAY)
        );
        assert_eq!(
            sid_of(store.redeem_refresh("rt.other2", 101, None)),
            Ok("s2".into())
        );
    }

    #[test]
    fn rotated_records_are_capped_soonest_expiring_first() {
        let mut map = HashMap::new();
        for (token, expires) in [("rt.1", 30), ("rt.2", 10), ("rt.3", 20)] {
            let entry = RotatedEntry {
                sid: "s".into(),
                expires,
            };
            remember_rotated(&mut map, token.into(), entry, 0, 2);
        }
        let mut kept: Vec<_> = map.keys().map(String::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["rt.1", "rt.3"]);
    }

    #[test]
    fn mfa_lock_out_slides_with_the_window_and_clears_on_success() {
        let mut store = Store::default();
        for i in 0..MFA_MAX_FAILURES as u64 {
            assert_eq!(store.mfa_locked_for("bob", 1000 + i), None);
            store.record_mfa_failure("bob", 1000 + i);
        }
        let last = 1000 + MFA_MAX_FAILURES as u64 - 1;
        // Locked until the first failure leaves the window.
        assert_eq!(
            store.mfa_locked_for("bob", last),
            Some(1000 + MFA_FAILURE_WINDOW_SECS - last)
        );
        assert_eq!(store.mfa_locked_for("alice", last), None);
        assert_eq!(
            store.mfa_locked_for("bob", 1000 + MFA_FAILURE_WINDOW_SECS - 1),
            Some(1)
        );
        assert_eq!(
            store.mfa_locked_for("bob", 1000 + MFA_FAILURE_WINDOW_SECS),
            None
        );
        // One more failure now locks again, until the next-oldest one leaves.
        store.record_mfa_failure("bob", 1000 + MFA_FAILURE_WINDOW_SECS);
        assert_eq!(
            store.mfa_locked_for("bob", 1000 + MFA_FAILURE_WINDOW_SECS),
            Some(1)
        );
        assert_eq!(store.mfa_failures["bob"].len(), MFA_MAX_FAILURES);
    }

    #[test]
    fn orders_are_deterministic_per_partner() {
        assert_eq!(orders_for("acme-eu"), orders_for("acme-eu"));
        assert_ne!(orders_for("acme-eu"), orders_for("acme-us"));
        assert_eq!(orders_for("acme-eu").len(), 5);
    }
}
