//! fd-fetch: `fd(path, init)`, a fetch for the partner API that keeps its tokens fresh.
//!
//! Access tokens live an hour. `fd` refreshes them when under the threshold (5 minutes by default),
//! makes one refresh however many requests wait, stamps `Authorization` and `X-Preferred-Partner-Id`
//! on every call, keeps only the access token in localStorage, and on a 401 ends the session once and
//! sends the user to `/login`, without retrying.
//!
//! This file holds only the exported functions; each concern has its module. The npm package's
//! entry (`pkg/index.js`) loads the wasm inside `configure` and exports these under the same names.
#![deny(missing_debug_implementations)]
#![warn(missing_docs)]
// The `fuzzing` feature makes the pure modules public, and some of their items are documented only
// where the module is (the ordinary build still checks the docs of the API).
#![cfg_attr(feature = "fuzzing", allow(missing_docs))]
// A panic in wasm poisons the module for the page: none of the paths that can fail may panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

// The npm package's allocator, only with the feature `npm-allocator` (scripts/build.mjs): a Rust app
// that depends on the crate keeps its own.
#[cfg(all(
    feature = "npm-allocator",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

mod auth;
mod config;
mod error;
mod http;
mod js;
mod jwt;
// The properties of the pure modules, for the property tests and (feature `fuzzing`) the fuzz targets.
#[cfg(any(all(test, not(target_family = "wasm")), feature = "fuzzing"))]
mod oracle;
mod path;
#[cfg(all(test, not(target_family = "wasm")))]
mod proptests;
mod refresh;
mod request;
mod response;
mod session;
mod state;
mod storage;
mod tabs;
mod task;
mod time;

/// The pure modules and their properties (`check_*`), for the fuzz targets in `fuzz/` (feature
/// `fuzzing`). Not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::jwt::{base64url_decode, claims, Claims, MAX_LIFETIME_SECS};
    pub use crate::oracle::{b64url, check_claims, check_join, check_response, BASES};
    pub use crate::path::{check, join, Refusal};
    pub use crate::response::{body_kind, is_json, outcome, refresh_is_fatal, Body, Outcome};
}

use std::rc::Rc;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;

use crate::config::Config;
use crate::error::FdError;
use crate::session::{partner_from_js, Secret, Session};
use crate::task::promise;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** The stable codes of `FdError`. */
export type FdErrorCode =
  | "bad_config" | "not_configured" | "not_signed_in" | "bad_path" | "session_expired"
  | "refresh_failed" | "sign_in_failed" | "mfa_failed" | "http" | "network" | "bad_response"
  | "bad_request" | "unsupported";

/** Options of `configure`. Only `baseUrl` is required. */
export interface FdOptions {
  /** Absolute http(s) URL of the API, optionally with a path prefix. */
  baseUrl: string;
  /** Where `/auth`, `/auth/refresh_token` and `/auth/challenge/mfa-token` go. Default: `baseUrl`. */
  authUrl?: string;
  /** `"memory"` (default): the refresh token stays in wasm memory. `"cookie"`: `authUrl` is a proxy
   * that keeps it in an HttpOnly cookie and the library never sees it. */
  refreshTokenIn?: "memory" | "cookie";
  /** Refresh when less than this remains. Default 300000 (5 minutes). */
  refreshThresholdMs?: number;
  /** Same-origin path the user is sent to when the session dies. Default `"/login"`. */
  loginUrl?: string;
  /** Called once per dead session instead of navigating to `loginUrl`. */
  onSessionExpired?: () => void;
  /** localStorage key. Default `"fd.session"`. */
  storageKey?: string;
  /** How long one refresh may take. Default 10000. */
  refreshTimeoutMs?: number;
  /** Injected fetch, for workers, Node and tests. Default: the global `fetch`. */
  fetch?: (input: Request) => Promise<Response>;
}

/** What a page sees of a session. Never the refresh token. */
export interface FdSession {
  accessToken: string;
  /** ms since the epoch, on this machine's clock. */
  expiresAt: number;
  partnerId: string;
}

/** A session made elsewhere, for `setSession`. */
export interface FdSessionInput {
  accessToken: string;
  /** Kept in memory only (memory mode); ignored in cookie mode. */
  refreshToken?: string;
  /** ms since the epoch. Default: from the token's JWT lifetime, else one hour from now. */
  expiresAt?: number;
  partnerId: string;
}

export interface SignInOptions {
  partnerId: string;
}

export type SignInResult =
  | { status: "signed_in"; session: FdSession }
  | { status: "mfa_required"; challenge: string };
"#;

/// Loads the options and restores a saved session. Bad options reject with `bad_config`, naming
/// the option. Calling it again replaces the options; the session is kept when `storageKey` stays.
#[wasm_bindgen(js_name = configure, unchecked_return_type = "Promise<void>")]
pub fn configure(#[wasm_bindgen(unchecked_param_type = "FdOptions")] options: JsValue) -> Promise {
    promise(async move {
        if let Some(cfg) = configure_now(&options)? {
            tabs::drop_orphan(&cfg).await;
        }
        Ok(JsValue::UNDEFINED)
    })
}

/// The synchronous part of `configure`; the config when it restored the session from storage.
fn configure_now(options: &JsValue) -> Result<Option<Rc<Config>>, FdError> {
    let cfg = Rc::new(Config::parse(options)?);
    let prev = state::with(|s| s.config.replace(cfg.clone()));
    tabs::attach(&cfg);
    let restored = prev
        .as_ref()
        .is_none_or(|p| p.storage_key != cfg.storage_key);
    if restored {
        state::restore(&cfg, time::now());
    }
    // The refresh token (and a pending challenge) only ever go where they came from, through the
    // fetch they came through: another `authUrl` or `fetch` drops them.
    let moved = prev.is_some_and(|p| p.auth != cfg.auth || !Object::is(&p.fetch, &cfg.fetch));
    if cfg.cookie_mode || moved {
        state::with(|s| {
            s.refresh_token = None;
            if moved {
                s.mfa = None;
            }
        });
        tabs::sync_holder();
    }
    Ok(restored.then_some(cfg))
}

/// Fetches `path` (under `baseUrl`) with fresh tokens. Resolves with the parsed JSON, the text, or
/// `null` for an empty body; rejects with `FdError`, or with fetch's own `AbortError`.
#[wasm_bindgen(js_name = fd, unchecked_return_type = "Promise<unknown>")]
pub fn fd(
    #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
    #[wasm_bindgen(unchecked_param_type = "RequestInit | undefined")] init: JsValue,
) -> Promise {
    promise(request::fd(path, init))
}

/// As `fd`, but resolves with the raw `Response` on 2xx, for blobs and streams.
#[wasm_bindgen(js_name = fdResponse, unchecked_return_type = "Promise<Response>")]
pub fn fd_response(
    #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
    #[wasm_bindgen(unchecked_param_type = "RequestInit | undefined")] init: JsValue,
) -> Promise {
    promise(async move { Ok(request::send(path, init).await?.answer.resp.into()) })
}

/// Posts `credentials` to `{authUrl}/auth`. Tokens start a session; an MFA challenge is kept for
/// `completeMfa`. A refusal rejects with `sign_in_failed`, carrying `status` and `body`.
#[wasm_bindgen(js_name = signIn, unchecked_return_type = "Promise<SignInResult>")]
pub fn sign_in(
    #[wasm_bindgen(unchecked_param_type = "object")] credentials: JsValue,
    #[wasm_bindgen(unchecked_param_type = "SignInOptions")] opts: JsValue,
) -> Promise {
    promise(auth::sign_in(credentials, opts))
}

/// Answers the pending MFA challenge: `PUT {authUrl}/auth/challenge/mfa-token` with `body` plus the
/// challenge's `session`. A refusal rejects with `mfa_failed`.
#[wasm_bindgen(js_name = completeMfa, unchecked_return_type = "Promise<SignInResult>")]
pub fn complete_mfa(#[wasm_bindgen(unchecked_param_type = "object")] body: JsValue) -> Promise {
    promise(auth::complete_mfa(body))
}

/// Installs a session made elsewhere. Throws `bad_config` for a malformed one.
#[wasm_bindgen(js_name = setSession)]
pub fn set_session(
    #[wasm_bindgen(unchecked_param_type = "FdSessionInput")] input: JsValue,
) -> Result<(), JsValue> {
    state::config()?;
    let bad = |name: &str, must: &str| JsValue::from(FdError::bad_config(name, must));
    if !input.is_object() {
        return Err(bad(
            "session",
            "must be an object with accessToken and partnerId",
        ));
    }
    let get = |k: &str| js::prop(&input, k);
    let access = get("accessToken")
        .and_then(|v| Secret::from_js(&v))
        .ok_or_else(|| bad("accessToken", "must be a non-empty token of visible ASCII"))?;
    let partner = get("partnerId")
        .and_then(|v| partner_from_js(&v))
        .ok_or_else(|| JsValue::from(auth::bad_partner()))?;
    let refresh = match get("refreshToken") {
        None => None,
        Some(v) => Some(
            Secret::from_js(&v)
                .ok_or_else(|| bad("refreshToken", "must be a non-empty token of visible ASCII"))?,
        ),
    };
    let session = match get("expiresAt") {
        None => Session::arrived(access, partner, time::now(), None),
        Some(v) => Session::known(
            access,
            partner,
            v.as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| bad("expiresAt", "must be a number (ms since the epoch)"))?,
        ),
    };
    state::next_auth();
    state::install(session, refresh);
    Ok(())
}

/// The current session, or `null`. Never includes the refresh token.
#[wasm_bindgen(js_name = getSession, unchecked_return_type = "FdSession | null")]
pub fn get_session() -> Result<JsValue, JsValue> {
    state::config()?;
    Ok(state::with(|s| state::public(s.session.as_ref())))
}

/// Ends the session in memory and storage; a refresh in flight can no longer revive it. In cookie
/// mode it also posts `{authUrl}/auth/logout` so the proxy drops its cookie. It does not navigate.
#[wasm_bindgen(js_name = signOut)]
pub fn sign_out() -> Result<(), JsValue> {
    state::sign_out(state::config()?);
    Ok(())
}

/// Calls `listener` with the public session (or `null`) on every change: sign-in, refresh,
/// sign-out, expiry, other tabs. Returns the function that unsubscribes.
#[wasm_bindgen(js_name = onSessionChange, unchecked_return_type = "() => void")]
pub fn on_session_change(
    #[wasm_bindgen(unchecked_param_type = "(session: FdSession | null) => void")] listener: JsValue,
) -> Result<JsValue, JsValue> {
    state::config()?;
    let listener: Function = listener
        .dyn_into()
        .map_err(|_| FdError::bad_config("listener", "must be a function"))?;
    Ok(state::subscribe(&listener).into())
}

/// The access token and partner id, together, refreshing first when under the threshold.
#[wasm_bindgen(js_name = ensureFresh, unchecked_return_type = "Promise<{ accessToken: string; partnerId: string }>")]
pub fn ensure_fresh() -> Promise {
    promise(async {
        let (token, partner) = refresh::ensure_fresh(None).await?;
        let o = Object::new();
        js::set(&o, "accessToken", &token.expose().into());
        js::set(&o, "partnerId", &partner.into());
        Ok(o.into())
    })
}
