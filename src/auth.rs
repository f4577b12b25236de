//! Sign-in, MFA, and reading Cognito-shaped token answers.
use crate::prelude::*;

use js_sys::{Object, JSON};
use wasm_bindgen::prelude::*;

use crate::config::Config;
use crate::error::{Code, Failure, FdError};
use crate::http;
use crate::js;
use crate::session::{partner_from_js, Secret, Session};
use crate::state::{self, Client, PendingMfa};
use crate::tabs;
use crate::time::now;

pub struct Tokens {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub expires_in: Option<f64>,
}

pub enum Answer {
    Tokens(Tokens),
    Challenge {
        name: String,
        session: Option<Secret>,
    },
}

/// Tokens (flat or under `AuthenticationResult`) or an MFA challenge, from an answer parsed on the
/// JS side. `None` for anything else, including an `AccessToken` that is not a header-safe string
/// of at most `MAX_TOKEN_LEN` characters. Own properties only. The id token is never kept.
pub fn parse_answer(v: &JsValue) -> Option<Answer> {
    if !v.is_object() {
        return None;
    }
    let nested = js::prop(v, "AuthenticationResult").filter(JsValue::is_object);
    let src = nested.as_ref().unwrap_or(v);
    if let Some(access) = js::prop(src, "AccessToken") {
        return Some(Answer::Tokens(Tokens {
            access: Secret::from_js(&access)?,
            refresh: js::prop(src, "RefreshToken").and_then(|r| Secret::from_js(&r)),
            expires_in: js::prop(src, "ExpiresIn").and_then(|e| e.as_f64()),
        }));
    }
    let name = js::prop(v, "ChallengeName").or_else(|| js::prop(v, "Challenge"))?;
    let name = js::string(&name, 256)?;
    let session = js::prop(v, "Session").and_then(|s| Secret::from_js(&s));
    Some(Answer::Challenge { name, session })
}

pub async fn sign_in(c: Client, credentials: JsValue, opts: JsValue) -> Result<JsValue, Failure> {
    let c = &c;
    let cfg = c.config()?;
    let partner = opts
        .is_object()
        .then(|| js::prop(&opts, "partnerId"))
        .flatten()
        .and_then(|p| partner_from_js(&p))
        .ok_or_else(bad_partner)?;
    let req = request(&cfg, "POST", "/auth", &credentials, "credentials")?;
    let gen = state::next_auth(c);
    let refused = (Code::SignInFailed, "sign-in was refused");
    exchange_locked(c, &cfg, gen, &req, refused, partner).await
}

/// `PUT {authUrl}/auth/challenge/mfa-token` with `body` plus the pending challenge's `session`.
pub async fn complete_mfa(c: Client, body: JsValue) -> Result<JsValue, Failure> {
    let c = &c;
    let cfg = c.config()?;
    let pending = c.with(|s| s.mfa.clone()).ok_or_else(|| {
        FdError::new(
            Code::MfaFailed,
            &["no MFA challenge is pending; call signIn first"],
        )
    })?;
    // A copy through JSON, whose bindings catch: a getter or `toJSON` that throws is bad_config,
    // and anything that does not come back an object (a string, a number) is refused.
    let payload = JSON::stringify(&body)
        .ok()
        .and_then(|text| js::parse_json(&text).ok())
        .filter(JsValue::is_object)
        .ok_or_else(|| FdError::bad_config("body", "must be a JSON object such as { code }"))?;
    let session = pending
        .session
        .as_ref()
        .map_or(JsValue::NULL, |s| s.expose().into());
    js::set(payload.unchecked_ref(), "session", &session);
    let req = request(&cfg, "PUT", "/auth/challenge/mfa-token", &payload, "body")?;
    let gen = state::next_auth(c);
    let refused = (Code::MfaFailed, "the MFA code was refused");
    exchange_locked(c, &cfg, gen, &req, refused, pending.partner).await
}

fn request(
    cfg: &Config,
    method: &str,
    route: &str,
    body: &JsValue,
    name: &str,
) -> Result<web_sys::Request, FdError> {
    if !body.is_object() {
        return Err(FdError::bad_config(name, "must be an object"));
    }
    http::auth_request(cfg, method, route, body, None)
        .map_err(|_| FdError::bad_config(name, "must be JSON-serialisable"))
}

/// A sign-in or MFA call, under the tabs' lock (so after any refresh, sign-in or sign-out in flight
/// in any tab). `gen` is the call's `auth_gen`: once a later `signIn`, `completeMfa`, `setSession`
/// or `signOut` has been called, this one sends nothing more, and an answer already on its way is
/// dropped. The call made last wins, whichever answer comes last.
async fn exchange_locked(
    c: &Client,
    cfg: &Config,
    gen: u64,
    req: &web_sys::Request,
    (refused, why): (Code, &str),
    partner: String,
) -> Result<JsValue, Failure> {
    let _held = tabs::lock(cfg).await;
    still_current(c, gen)?;
    let answer = exchange(&cfg.fetch, req, refused, why).await?;
    let arrived = now();
    still_current(c, gen)?;
    finish(c, cfg, parse_answer(&answer), arrived, partner).await
}

fn still_current(c: &Client, gen: u64) -> Result<(), FdError> {
    if c.with(|s| s.auth_gen == gen) {
        return Ok(());
    }
    Err(FdError::new(
        Code::SignInFailed,
        &["a later signIn, setSession or signOut replaced this sign-in; its answer was dropped"],
    ))
}

/// Sends an auth call and reads its whole body (parsed on the JS side): the answer of a 2xx, else
/// `refused` (with the status and body). Fetch's rejections are `network`.
async fn exchange(
    fetch: &js_sys::Function,
    req: &web_sys::Request,
    refused: Code,
    why: &str,
) -> Result<JsValue, Failure> {
    let network = || {
        FdError::new(
            Code::Network,
            &["the auth request failed to reach the server"],
        )
    };
    let answer = match http::send(fetch, req).await {
        Ok(a) => a,
        Err(Failure::Foreign(_)) => return Err(network().into()),
        Err(e) => return Err(e),
    };
    let body = http::lenient(&answer.resp, http::MAX_AUTH_ANSWER)
        .await
        .map_err(|e| {
            if http::TOO_BIG.with(|big| *big == e) {
                FdError::bad_response("the auth answer is too large")
            } else {
                network()
            }
        })?;
    if !answer.ok() {
        let e = FdError::new(refused, &[why]);
        return Err(e.with_response(answer.status, body).into());
    }
    Ok(body)
}

/// A 2xx auth answer (tokens that arrived at `arrived`): tokens start a session; a challenge is
/// kept for `completeMfa`.
async fn finish(
    c: &Client,
    cfg: &Config,
    answer: Option<Answer>,
    arrived: f64,
    partner: String,
) -> Result<JsValue, Failure> {
    let result = Object::new();
    match answer {
        Some(Answer::Tokens(t)) => {
            let session = Session::arrived(t.access, partner, arrived, t.expires_in);
            js::set(&result, "status", &"signed_in".into());
            js::set(&result, "session", &state::public(Some(&session)));
            state::install(c, session, t.refresh);
            tabs::mark(c, cfg).await;
        }
        Some(Answer::Challenge { name, session }) => {
            c.with(|s| s.mfa = Some(PendingMfa { session, partner }));
            js::set(&result, "status", &"mfa_required".into());
            js::set(&result, "challenge", &name.into());
        }
        None => {
            return Err(FdError::bad_response(
                "the answer holds neither usable tokens nor a challenge",
            )
            .into())
        }
    }
    Ok(result.into())
}

/// `partnerId` that is missing or could not go into a header.
pub fn bad_partner() -> FdError {
    FdError::bad_config(
        "partnerId",
        "must be a non-empty string of visible ASCII (no spaces), at most 256 characters",
    )
}
