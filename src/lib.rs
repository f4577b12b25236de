//! fd-fetch: `fd(path, init)`, a fetch for the partner API that keeps its tokens fresh.
//!
//! Access tokens live an hour. `fd` refreshes them when under the threshold (5 minutes by default),
//! makes one refresh however many requests wait, stamps `Authorization` and `X-Preferred-Partner-Id`
//! on every call, keeps only the access token in localStorage, and on a 401 ends the session once and
//! sends the user to `/login`, without retrying.
//!
//! This file holds only the exports: `createClient` and the methods of the client it makes; each
//! concern has its module. The npm package's entry (`js/index.js`, bundled into `pkg/index.js`)
//! loads the wasm inside `configure`/`createClient`, builds the module-level API on one default
//! client, and wraps each client in a plain object with the same method names.
// no_std, so that the npm package links no `std`: its panic machinery (formatting, the hook, the
// thread name) was 4 KB of the wasm, for a panic the crate never makes. Native builds and tests get
// `std` back below; `prelude` brings the `alloc` names `std`'s prelude would.
#![no_std]
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

extern crate alloc;
// `std` for the native builds (tests, property tests, fuzz targets) and the wasm test builds.
#[cfg(any(
    test,
    not(all(target_family = "wasm", not(target_feature = "atomics")))
))]
extern crate std;

// The npm package (feature `npm`, scripts/build.mjs) links no `std`, so it brings the panic handler
// `std` would. A panic cannot happen on any path (see the lints above); were one to, the module traps
// and the call's promise rejects, as under `panic = "abort"` with `std`.
#[cfg(all(feature = "npm", target_family = "wasm", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[macro_use]
mod local;
mod auth;
mod auto;
mod config;
mod error;
mod http;
mod js;
mod jwt;
// The properties of the pure modules, for the property tests and (feature `fuzzing`) the fuzz targets.
#[cfg(any(all(test, not(target_family = "wasm")), feature = "fuzzing"))]
mod oracle;
mod path;
mod prelude;
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

use alloc::rc::Rc;
use core::future::Future;
use core::pin::Pin;

use crate::prelude::*;
use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;

use crate::config::Config;
use crate::error::FdError;
use crate::session::{partner_from_js, Secret, Session};
use crate::state::{Client, Topic};
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

/** What `signIn` posts to `{authUrl}/auth`, as JSON. */
export type SignInCredentials = { username: string; password: string } & Record<string, unknown>;

/** How a refresh settled, for `onRefresh`. Never a token. */
export interface RefreshEvent {
  /** `"fresh"`: new tokens; `"transient_failure"`: 5xx, network, timeout, malformed answer (the
   * session is kept); `"dead"`: the refresh token was refused and the session has ended. */
  outcome: "fresh" | "transient_failure" | "dead";
  /** `"this_tab"`: this client sent the refresh; `"other_tab"`: it came from another tab's refresh
   * (adopted under the lock, or answered by a tab holding the refresh token). */
  source: "this_tab" | "other_tab";
  /** From the start of the refresh (lock wait included) to its end. */
  durationMs: number;
}

/** Options of `startAutoRefresh`. */
export interface AutoRefreshOptions {
  /** How often to check. A finite number above 0. Default 60000. */
  intervalMs?: number;
  /** Refresh when less than this remains. A finite number of 0 or more. Default 600000. */
  thresholdMs?: number;
}

export type SignInResult =
  | { status: "signed_in"; session: FdSession }
  | { status: "mfa_required"; challenge: string };
"#;

// A client: its own options, session, refresh, listeners and timer. `js/index.js` wraps it in
// a plain object (`FdClient`); the class itself is not exported by the package. Named `Client` in
// JS: the glue's names must not suggest a handle on the wasm (e2e "hardening" checks them). No
// TypeScript: its generated class declares `[Symbol.dispose]`, which needs `lib: esnext`, and the
// package's types describe `FdClient` instead.
#[allow(missing_docs)]
#[wasm_bindgen(js_name = Client, skip_typescript)]
#[derive(Clone)]
pub struct WasmClient {
    c: Client,
}

impl core::fmt::Debug for WasmClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("WasmClient")
    }
}

/// Makes a client from `options` (as `configure` reads them) and restores its saved session.
/// `bad_config` for bad options, or a `storageKey` another open client of this page uses.
#[wasm_bindgen(js_name = createClient, unchecked_return_type = "Promise<object>")]
pub fn create_client(
    #[wasm_bindgen(unchecked_param_type = "FdOptions")] options: JsValue,
) -> Promise {
    let made = make(&options);
    promise(async move { Ok(WasmClient { c: made.await? }.into()) })
}

/// A new client configured with `options`: checked (and registered) at once, then restored.
fn make(options: &JsValue) -> Pin<Box<dyn Future<Output = Result<Client, FdError>>>> {
    let c = Client::new();
    let restored = configure_now(&c, options);
    Box::pin(async move {
        if let Some(cfg) = restored? {
            tabs::drop_orphan(&c, &cfg).await;
        }
        Ok(c)
    })
}

/// `createClient` for Rust callers (the browser suites in `tests/`).
#[doc(hidden)]
pub async fn new_client(options: JsValue) -> Result<WasmClient, JsValue> {
    Ok(WasmClient {
        c: make(&options).await?,
    })
}

/// The synchronous part of `configure`; the config when it restored the session from storage.
fn configure_now(c: &Client, options: &JsValue) -> Result<Option<Rc<Config>>, FdError> {
    if c.with(|s| s.closed) {
        return Err(FdError::not_configured());
    }
    let cfg = Rc::new(Config::parse(options)?);
    tabs::claim(c, &cfg.storage_key)?;
    let prev = c.with(|s| s.config.replace(cfg.clone()));
    tabs::attach(c, &cfg);
    let restored = prev
        .as_ref()
        .is_none_or(|p| p.storage_key != cfg.storage_key);
    if restored {
        state::restore(c, &cfg, time::now());
    }
    // The refresh token (and a pending challenge) only ever go where they came from, through the
    // fetch they came through: another `authUrl` or `fetch` drops them.
    let moved = prev.is_some_and(|p| p.auth != cfg.auth || !Object::is(&p.fetch, &cfg.fetch));
    if cfg.cookie_mode || moved {
        c.with(|s| {
            s.refresh_token = None;
            if moved {
                s.mfa = None;
            }
        });
        tabs::sync_holder(c);
    }
    Ok(restored.then_some(cfg))
}

// The methods' comments are `//`, not `///`: wasm-bindgen copies doc comments into the shipped
// glue as JSDoc, where no one reads them (users see `FdClient` in pkg/index.d.ts): 0.5 KB gzip.
#[allow(missing_docs)]
#[wasm_bindgen(js_class = Client)]
impl WasmClient {
    // Replaces the options; the session is kept when `storageKey` stays. A new `authUrl` or
    // `fetch` drops the refresh token.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn configure(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FdOptions")] options: JsValue,
    ) -> Promise {
        let c = self.c.clone();
        let restored = configure_now(&c, &options);
        promise(async move {
            if let Some(cfg) = restored? {
                tabs::drop_orphan(&c, &cfg).await;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    // Fetches `path` (under `baseUrl`) with fresh tokens. Resolves with the parsed JSON, the
    // text, or `null` for an empty body; rejects with `FdError`, or with fetch's own `AbortError`.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn fd(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RequestInit | undefined")] init: JsValue,
    ) -> Promise {
        let c = self.c.clone();
        promise(request::fd(c, path, init))
    }

    // As `fd`, but resolves with the raw `Response` on 2xx, for blobs and streams.
    #[wasm_bindgen(js_name = fdResponse, unchecked_return_type = "Promise<Response>")]
    pub fn fd_response(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RequestInit | undefined")] init: JsValue,
    ) -> Promise {
        let c = self.c.clone();
        promise(async move { Ok(request::send(&c, path, init).await?.answer.resp.into()) })
    }

    // Posts `credentials` to `{authUrl}/auth`. Tokens start a session; an MFA challenge is kept
    // for `completeMfa`. A refusal rejects with `sign_in_failed`, carrying `status` and `body`.
    #[wasm_bindgen(js_name = signIn, unchecked_return_type = "Promise<SignInResult>")]
    pub fn sign_in(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SignInCredentials")] credentials: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SignInOptions")] opts: JsValue,
    ) -> Promise {
        let c = self.c.clone();
        promise(auth::sign_in(c, credentials, opts))
    }

    // Answers the pending MFA challenge: `PUT {authUrl}/auth/challenge/mfa-token` with `body`
    // plus the challenge's `session`. A refusal rejects with `mfa_failed`.
    #[wasm_bindgen(js_name = completeMfa, unchecked_return_type = "Promise<SignInResult>")]
    pub fn complete_mfa(
        &self,
        #[wasm_bindgen(unchecked_param_type = "object")] body: JsValue,
    ) -> Promise {
        let c = self.c.clone();
        promise(auth::complete_mfa(c, body))
    }

    // Installs a session made elsewhere. Throws `bad_config` for a malformed one.
    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FdSessionInput")] input: JsValue,
    ) -> Result<(), JsValue> {
        set_session_of(&self.c, &input)
    }

    // The current session, or `null`. Never includes the refresh token.
    #[wasm_bindgen(js_name = getSession, unchecked_return_type = "FdSession | null")]
    pub fn get_session(&self) -> Result<JsValue, JsValue> {
        self.c.config()?;
        Ok(self.c.with(|s| state::public(s.session.as_ref())))
    }

    // Ends the session in memory and storage; a refresh in flight can no longer revive it. In
    // cookie mode it also posts `{authUrl}/auth/logout`. It does not navigate.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&self) -> Result<(), JsValue> {
        state::sign_out(&self.c, self.c.config()?);
        Ok(())
    }

    // Calls `listener` with the public session (or `null`) on every change. Returns the
    // function that unsubscribes.
    #[wasm_bindgen(js_name = onSessionChange, unchecked_return_type = "() => void")]
    pub fn on_session_change(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(session: FdSession | null) => void")]
        listener: JsValue,
    ) -> Result<JsValue, JsValue> {
        subscribe(&self.c, Topic::Session, listener)
    }

    // Calls `listener` once per refresh this client takes part in, once it settles, with a
    // `RefreshEvent`. Returns the function that unsubscribes.
    #[wasm_bindgen(js_name = onRefresh, unchecked_return_type = "() => void")]
    pub fn on_refresh(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: RefreshEvent) => void")] listener: JsValue,
    ) -> Result<JsValue, JsValue> {
        subscribe(&self.c, Topic::Refresh, listener)
    }

    // The access token and partner id, together, refreshing first when under the threshold.
    #[wasm_bindgen(js_name = ensureFresh, unchecked_return_type = "Promise<{ accessToken: string; partnerId: string }>")]
    pub fn ensure_fresh(&self) -> Promise {
        let c = self.c.clone();
        promise(async move {
            let (token, partner) = refresh::ensure_fresh(&c, None, None).await?;
            let o = Object::new();
            js::set(&o, "accessToken", &token.expose().into());
            js::set(&o, "partnerId", &partner.into());
            Ok(o.into())
        })
    }

    // Checks every `intervalMs` and refreshes when less than `thresholdMs` remains. Replaces a
    // running timer. `bad_config` for bad options.
    #[wasm_bindgen(js_name = startAutoRefresh)]
    pub fn start_auto_refresh(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AutoRefreshOptions | undefined")] opts: JsValue,
    ) -> Result<(), JsValue> {
        self.c.config()?;
        let (interval, threshold) = auto::options(&opts)?;
        auto::start(&self.c, interval, threshold);
        Ok(())
    }

    // Stops the timer of `startAutoRefresh`.
    #[wasm_bindgen(js_name = stopAutoRefresh)]
    pub fn stop_auto_refresh(&self) -> Result<(), JsValue> {
        self.c.config()?;
        auto::stop(&self.c);
        Ok(())
    }

    // Stops this client's timer and listeners and lets go of its channel and locks. The session
    // stays in storage. Every later call is `not_configured`. Calling it again does nothing.
    pub fn close(&self) {
        state::close(&self.c);
    }

    // For `attachAxios`: whether `url` (absolute) lies under `baseUrl` by the rule of `fd`'s
    // paths, so that a request there may carry the session's headers.
    pub fn covers(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] url: JsValue,
    ) -> Result<bool, JsValue> {
        let cfg = self.c.config()?;
        let max = path::MAX_LEN.saturating_add(u32::try_from(cfg.base.len()).unwrap_or(u32::MAX));
        Ok(js::string(&url, max).is_some_and(|u| {
            u.strip_prefix(cfg.base.as_str())
                .is_some_and(|rest| path::check(rest).is_ok())
        }))
    }

    // For `attachAxios`: a 401 for a request sent with `accessToken` ends its session as `fd`'s
    // 401 does (once; a newer session is left alone).
    pub fn unauthorized(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] access_token: JsValue,
    ) {
        if let Some(token) = Secret::from_js(&access_token) {
            state::unauthorized(&self.c, &token);
        }
    }
}

fn subscribe(c: &Client, topic: Topic, listener: JsValue) -> Result<JsValue, JsValue> {
    c.config()?;
    let listener: Function = listener
        .dyn_into()
        .map_err(|_| FdError::bad_config("listener", "must be a function"))?;
    Ok(state::subscribe(c, topic, &listener).into())
}

fn set_session_of(c: &Client, input: &JsValue) -> Result<(), JsValue> {
    c.config()?;
    let bad = |name: &str, must: &str| JsValue::from(FdError::bad_config(name, must));
    if !input.is_object() {
        return Err(bad(
            "session",
            "must be an object with accessToken and partnerId",
        ));
    }
    let get = |k: &str| js::prop(input, k);
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
    state::next_auth(c);
    state::install(c, session, refresh);
    Ok(())
}

/// The module-level API as Rust functions, over one default client, the way `js/index.js` builds
/// it in JS: for the browser suites in `tests/`, which drive the crate directly. Not exported to JS
/// (the package's module-level exports are `js/index.js`'s).
#[doc(hidden)]
pub use default::*;

#[doc(hidden)]
pub mod default {
    use core::cell::RefCell;

    use js_sys::Promise;
    use wasm_bindgen::prelude::*;

    use crate::error::FdError;
    use crate::state::Client;
    use crate::task::promise;
    use crate::WasmClient;

    local!(
        static DEFAULT: RefCell<Option<Client>> = const { RefCell::new(None) };
    );

    /// The default client, once `configure` has made it.
    pub fn client() -> Result<WasmClient, JsValue> {
        DEFAULT
            .with(|d| d.borrow().clone())
            .map(|c| WasmClient { c })
            .ok_or_else(|| FdError::not_configured().into())
    }

    fn later(f: impl FnOnce(WasmClient) -> Promise) -> Promise {
        client().map_or_else(|e| Promise::reject(&e), f)
    }

    /// Creates the default client, or reconfigures it.
    pub fn configure(options: JsValue) -> Promise {
        match client() {
            Ok(w) => w.configure(options),
            Err(_) => {
                let made = crate::make(&options);
                promise(async move {
                    let c = made.await?;
                    DEFAULT.with(|d| *d.borrow_mut() = Some(c));
                    Ok(JsValue::UNDEFINED)
                })
            }
        }
    }

    pub fn fd(path: JsValue, init: JsValue) -> Promise {
        later(|w| w.fd(path, init))
    }

    pub fn fd_response(path: JsValue, init: JsValue) -> Promise {
        later(|w| w.fd_response(path, init))
    }

    pub fn sign_in(credentials: JsValue, opts: JsValue) -> Promise {
        later(|w| w.sign_in(credentials, opts))
    }

    pub fn complete_mfa(body: JsValue) -> Promise {
        later(|w| w.complete_mfa(body))
    }

    pub fn ensure_fresh() -> Promise {
        later(|w| w.ensure_fresh())
    }

    pub fn set_session(input: JsValue) -> Result<(), JsValue> {
        client()?.set_session(input)
    }

    pub fn get_session() -> Result<JsValue, JsValue> {
        client()?.get_session()
    }

    pub fn sign_out() -> Result<(), JsValue> {
        client()?.sign_out()
    }

    pub fn on_session_change(listener: JsValue) -> Result<JsValue, JsValue> {
        client()?.on_session_change(listener)
    }
}
