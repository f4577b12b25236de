//! The page's one fd-fetch state, and every way the session changes.
//!
//! Rule: a borrow of the state never spans a call into JS that could call us back (listeners,
//! `onSessionExpired`, fetch, storage). Each function takes what it needs, lets go, then calls out.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::config::Config;
use crate::error::FdError;
use crate::js;
use crate::session::{Secret, Session};
use crate::storage;

#[derive(Default)]
pub struct State {
    pub config: Option<Rc<Config>>,
    pub session: Option<Session>,
    /// Memory mode only. Never persisted, never handed to JS callers.
    pub refresh_token: Option<Secret>,
    /// Bumped whenever the session is replaced or ended by anything but its own refresh, so that a
    /// refresh started before then cannot revive or overwrite what came after.
    pub epoch: u64,
    pub inflight: Option<Inflight>,
    pub mfa: Option<PendingMfa>,
    /// A JS `Set`, so that the unsubscribe function can be a plain JS closure (`support.js`).
    listeners: Option<js_sys::Set>,
    pub refresh_seq: u64,
    pub watching_tabs: bool,
}

/// The one refresh in flight: a promise every waiter shares, resolving to an outcome code.
pub struct Inflight {
    pub epoch: u64,
    pub seq: u64,
    pub promise: Promise,
}

/// A sign-in that answered with an MFA challenge.
#[derive(Clone)]
pub struct PendingMfa {
    pub session: Option<Secret>,
    pub partner: String,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

pub fn config() -> Result<Rc<Config>, FdError> {
    with(|s| s.config.clone()).ok_or_else(FdError::not_configured)
}

/// `{ accessToken, expiresAt, partnerId }`: all a page ever sees of a session.
pub fn public(session: Option<&Session>) -> JsValue {
    let Some(s) = session else {
        return JsValue::NULL;
    };
    let o = Object::new();
    js::set(&o, "accessToken", &s.access.expose().into());
    js::set(&o, "expiresAt", &s.expires_at.into());
    js::set(&o, "partnerId", &s.partner.as_str().into());
    o.into()
}

#[wasm_bindgen(module = "/pkg/support.js")]
extern "C" {
    fn remover(listeners: &js_sys::Set, listener: &Function) -> Function;
}

fn listeners() -> js_sys::Set {
    with(|s| {
        s.listeners
            .get_or_insert_with(|| js_sys::Set::new(&JsValue::UNDEFINED))
            .clone()
    })
}

/// Adds `listener`; returns the function that removes it.
pub fn subscribe(listener: &Function) -> Function {
    let set = listeners();
    set.add(listener);
    remover(&set, listener)
}

/// Tells every listener, in the order they subscribed. A listener that throws does not stop the
/// others; one that unsubscribes meanwhile is still told this once (the list is copied first).
fn notify(session: Option<&Session>) {
    let value = public(session);
    for f in js_sys::Array::from(&listeners()) {
        if let Some(f) = f.dyn_ref::<Function>() {
            let _ = f.call1(&JsValue::UNDEFINED, &value);
        }
    }
}

/// A new session from a sign-in or `setSession`: replaces whatever was there, refresh included.
pub fn install(session: Session, refresh: Option<Secret>) {
    let key = with(|s| {
        let cookie = s.config.as_ref().is_some_and(|c| c.cookie_mode);
        s.session = Some(session.clone());
        s.refresh_token = if cookie { None } else { refresh };
        s.mfa = None;
        s.epoch += 1;
        s.config.as_ref().map(|c| c.storage_key.clone())
    });
    if let Some(key) = key {
        storage::save(&key, &session);
    }
    notify(Some(&session));
}

/// A refresh's answer, applied only if nothing replaced the session since the refresh began. Keeps
/// the partner id; a new refresh token (rotation) replaces the old one in memory mode.
pub fn apply_refresh(epoch: u64, access: Secret, expires_at: f64, refresh: Option<Secret>) -> bool {
    let saved = with(|s| {
        if s.epoch != epoch {
            return None;
        }
        let cookie = s.config.as_ref().is_some_and(|c| c.cookie_mode);
        let session = s.session.as_mut()?;
        session.access = access;
        session.expires_at = expires_at;
        if let (false, Some(r)) = (cookie, refresh) {
            s.refresh_token = Some(r);
        }
        Some((s.config.as_ref()?.storage_key.clone(), session.clone()))
    });
    let Some((key, session)) = saved else {
        return false;
    };
    storage::save(&key, &session);
    notify(Some(&session));
    true
}

/// Ends the session if `still(state)` holds: memory, refresh token, pending MFA and storage. Returns
/// the config it ended under, or `None` if there was nothing to end (someone else got there first).
pub fn end(still: impl FnOnce(&State) -> bool) -> Option<Rc<Config>> {
    let ended = with(|s| {
        if s.session.is_none() && s.mfa.is_none() || !still(s) {
            return None;
        }
        s.session = None;
        s.refresh_token = None;
        s.mfa = None;
        s.epoch += 1;
        s.config.clone()
    })?;
    storage::remove(&ended.storage_key);
    notify(None);
    Some(ended)
}

/// A dead session: ended as by `end`, then the user is sent to `loginUrl`, or `onSessionExpired` is
/// called, once however many callers find it dead. `true` if this call ended it.
pub fn expire(still: impl FnOnce(&State) -> bool) -> bool {
    let Some(cfg) = end(|s| s.session.is_some() && still(s)) else {
        return false;
    };
    match &cfg.on_expired {
        Some(f) => {
            let _ = f.call0(&JsValue::UNDEFINED);
        }
        None => navigate(&cfg.login_url),
    }
    true
}

/// `location.assign(url)` where there is a page; nothing in a worker or Node.
fn navigate(url: &str) {
    let global = js_sys::global();
    let Ok(location) = Reflect::get(&global, &"location".into()) else {
        return;
    };
    if let Ok(assign) = Reflect::get(&location, &"assign".into()) {
        if let Some(assign) = assign.dyn_ref::<Function>() {
            let _ = assign.call1(&location, &url.into());
        }
    }
}

/// Another tab wrote the session (`None`: it signed out). Adopts it; our refresh token stays unless
/// the other tab ended the session.
pub fn adopt(incoming: Option<Session>) {
    let changed = with(|s| {
        if s.session == incoming {
            return false;
        }
        if incoming.is_none() {
            s.refresh_token = None;
            s.mfa = None;
        }
        s.session = incoming.clone();
        s.epoch += 1;
        true
    });
    if changed {
        notify(incoming.as_ref());
    }
}

/// Loads the saved session for the current config. An unreadable, malformed or expired entry is
/// removed and counts as signed out.
pub fn restore(cfg: &Config, now: f64) {
    let saved = storage::load(&cfg.storage_key);
    let session = saved
        .as_deref()
        .and_then(storage::parse)
        .filter(|s| s.expires_at > now);
    if saved.is_some() && session.is_none() {
        storage::remove(&cfg.storage_key);
    }
    with(|s| {
        s.session = session;
        s.refresh_token = None;
        s.mfa = None;
        s.epoch += 1;
    });
}
