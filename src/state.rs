//! A client's state, and every way its session changes. Each client (`createClient`, and the
//! default one `configure` makes) has its own; every function takes the client it acts for.
//!
//! Rule: a borrow of the state never spans a call into JS that could call us back (listeners,
//! `onSessionExpired`, fetch, storage). Each function takes what it needs, lets go, then calls out.
use crate::prelude::*;

use alloc::rc::{Rc, Weak};
use core::cell::RefCell;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;

use crate::config::Config;
use crate::error::FdError;
use crate::js;
use crate::session::{Secret, Session};
use crate::storage;
use crate::tabs::{self, Tabs};

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
    /// Whether the current session is known to be in storage (saved, or read from there): if
    /// storage then shows none, another tab removed it.
    pub stored: bool,
    /// Bumped by every `signIn`, `completeMfa`, `setSession` and `signOut` call: a sign-in whose
    /// answer arrives after a later one of these is dropped.
    pub auth_gen: u64,
    /// A session this tab signed out of, until the sign-out has run under the tabs' lock: a late
    /// write of it by another tab's refresh is not adopted meanwhile.
    pub leaving: Option<Session>,
    pub tabs: Tabs,
    /// `close()` was called: every later call is `not_configured`.
    pub closed: bool,
    /// Listeners of `onRefresh`, a JS `Set` as `listeners`.
    refresh_listeners: Option<js_sys::Set>,
    /// Bumped by `startAutoRefresh`, `stopAutoRefresh` and `close`: a timer loop whose number is
    /// no longer current stops at its next tick.
    pub auto_gen: u64,
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

impl State {
    /// Nothing configured, no session.
    fn new() -> Self {
        State {
            config: None,
            session: None,
            refresh_token: None,
            epoch: 0,
            inflight: None,
            mfa: None,
            listeners: None,
            refresh_seq: 0,
            stored: false,
            auth_gen: 0,
            leaving: None,
            tabs: Tabs::new(),
            closed: false,
            refresh_listeners: None,
            auto_gen: 0,
        }
    }
}

/// One client: its options, session, refresh and listeners. Cloned (an `Rc`) into every async
/// task that works for it, so that two clients' calls interleave without a "current client".
#[derive(Clone)]
pub struct Client(Rc<RefCell<State>>);

impl Client {
    pub fn new() -> Self {
        Client(Rc::new(RefCell::new(State::new())))
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }

    /// Its options; `not_configured` before the first `configure` and after `close`.
    pub fn config(&self) -> Result<Rc<Config>, FdError> {
        self.with(|s| s.config.clone())
            .ok_or_else(FdError::not_configured)
    }

    /// The registry's handle: it does not keep the client alive.
    pub fn downgrade(&self) -> Weak<RefCell<State>> {
        Rc::downgrade(&self.0)
    }

    pub fn upgrade(weak: &Weak<RefCell<State>>) -> Option<Client> {
        weak.upgrade().map(Client)
    }

    pub fn same(&self, other: &Client) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
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

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    fn remover(listeners: &js_sys::Set, listener: &Function) -> Function;
}

/// Which listeners: of `onSessionChange`, or of `onRefresh`.
#[derive(Clone, Copy)]
pub enum Topic {
    Session,
    Refresh,
}

fn listeners(c: &Client, topic: Topic) -> js_sys::Set {
    c.with(|s| {
        match topic {
            Topic::Session => &mut s.listeners,
            Topic::Refresh => &mut s.refresh_listeners,
        }
        .get_or_insert_with(|| js_sys::Set::new(&JsValue::UNDEFINED))
        .clone()
    })
}

/// Adds `listener`; returns the function that removes it.
pub fn subscribe(c: &Client, topic: Topic, listener: &Function) -> Function {
    let set = listeners(c, topic);
    set.add(listener);
    remover(&set, listener)
}

/// Tells every listener of `topic` `value`, in the order they subscribed. A listener that throws
/// does not stop the others; one that unsubscribes meanwhile is still told this once (the list is
/// copied first).
pub fn tell(c: &Client, topic: Topic, value: &JsValue) {
    for f in js_sys::Array::from(&listeners(c, topic)) {
        if let Some(f) = f.dyn_ref::<Function>() {
            if let Err(e) = f.call1(&JsValue::UNDEFINED, value) {
                js::report(&e);
            }
        }
    }
}

fn notify(c: &Client, session: Option<&Session>) {
    tell(c, Topic::Session, &public(session));
}

/// `close()`: the client forgets its session (in memory only: storage stays for the other tabs and
/// a later client), its listeners and its timer, and lets go of its channel and locks. A refresh
/// still in flight finds its epoch gone and drops its answer.
pub fn close(c: &Client) {
    c.with(|s| {
        s.closed = true;
        s.config = None;
        s.session = None;
        s.refresh_token = None;
        s.mfa = None;
        s.leaving = None;
        s.inflight = None;
        s.epoch += 1;
        s.auth_gen += 1;
        s.auto_gen += 1;
        s.listeners = None;
        s.refresh_listeners = None;
    });
    tabs::detach(c);
}

/// The next `auth_gen`, for an auth call starting now.
pub fn next_auth(c: &Client) -> u64 {
    c.with(|s| {
        s.auth_gen += 1;
        s.auth_gen
    })
}

/// A new session from a sign-in or `setSession`: replaces whatever was there, refresh included.
pub fn install(c: &Client, session: Session, refresh: Option<Secret>) {
    let key = c.with(|s| {
        let cookie = s.config.as_ref().is_some_and(|c| c.cookie_mode);
        s.session = Some(session.clone());
        s.refresh_token = if cookie { None } else { refresh };
        s.mfa = None;
        s.leaving = None;
        s.epoch += 1;
        s.config.as_ref().map(|c| c.storage_key.clone())
    });
    if let Some(key) = key {
        persist(c, &key, &session);
    }
    tabs::sync_holder(c);
    notify(c, Some(&session));
}

/// Writes the session this tab now has to storage, and notes whether that worked and what the
/// other tabs will see.
fn persist(c: &Client, key: &str, session: &Session) {
    let saved = storage::save(key, session);
    c.with(|s| s.stored = saved);
    tabs::saw(c, session);
}

/// A refresh's answer (tokens that arrived at `arrived`), applied only if nothing replaced the
/// session since the refresh began. Keeps the partner id; a new refresh token (rotation) replaces
/// the old one in memory mode. `true` if it was applied.
pub fn apply_refresh(
    c: &Client,
    epoch: u64,
    access: Secret,
    arrived: f64,
    expires_in: Option<f64>,
    refresh: Option<Secret>,
) -> bool {
    let saved = c.with(|s| {
        if s.epoch != epoch {
            return None;
        }
        let cookie = s.config.as_ref().is_some_and(|c| c.cookie_mode);
        let partner = s.session.as_ref()?.partner.clone();
        let session = Session::arrived(access, partner, arrived, expires_in);
        s.session = Some(session.clone());
        if let (false, Some(r)) = (cookie, refresh) {
            s.refresh_token = Some(r);
        }
        Some((s.config.as_ref()?.storage_key.clone(), session))
    });
    let Some((key, session)) = saved else {
        return false;
    };
    persist(c, &key, &session);
    notify(c, Some(&session));
    true
}

/// Ends the session if `still(state)` holds: memory, refresh token, pending MFA and storage (where
/// `drop_stored` says the stored entry should go). Returns the config it ended under and the session
/// that ended, or `None` if there was nothing to end (someone else got there first).
fn end(
    c: &Client,
    still: impl FnOnce(&State) -> bool,
    drop_stored: impl FnOnce(Option<&Session>, Option<Session>) -> bool,
) -> Option<(Rc<Config>, Option<Session>)> {
    let (cfg, gone) = c.with(|s| {
        if s.session.is_none() && s.mfa.is_none() || !still(s) {
            return None;
        }
        s.refresh_token = None;
        s.mfa = None;
        s.stored = false;
        s.epoch += 1;
        Some((s.config.clone()?, s.session.take()))
    })?;
    let stored = storage::load(&cfg.storage_key);
    if drop_stored(gone.as_ref(), stored) {
        storage::remove(&cfg.storage_key);
    }
    tabs::sync_holder(c);
    notify(c, None);
    Some((cfg, gone))
}

/// `signOut`: ends whatever session there is, in every tab, and (under the tabs' lock, after any
/// refresh in flight) takes out what a late answer writes for it; in cookie mode posts the logout.
pub fn sign_out(c: &Client, cfg: Rc<Config>) {
    next_auth(c);
    let gone = end(c, |_| true, |_, _| true).and_then(|(_, gone)| gone);
    c.with(|s| s.leaving = gone.clone());
    tabs::after_end(c, cfg, gone, true);
}

/// A dead session: ended as by `end`, then the user is sent to `loginUrl`, or `onSessionExpired` is
/// called, once however many callers find it dead. `true` if this call ended it. Storage is cleared
/// only if it still holds the dead token: another tab may already have a newer one.
pub fn expire(c: &Client, still: impl FnOnce(&State) -> bool) -> bool {
    let Some((cfg, gone)) = end(c, |s| s.session.is_some() && still(s), still_stored) else {
        return false;
    };
    tabs::after_end(c, cfg.clone(), gone, false);
    match &cfg.on_expired {
        Some(f) => {
            if let Err(e) = f.call0(&JsValue::UNDEFINED) {
                js::report(&e);
            }
        }
        None => navigate(&cfg.login_url),
    }
    true
}

/// A 401 for a request sent with `token`: the session it belonged to ends (once); a newer one is
/// left alone.
pub fn unauthorized(c: &Client, token: &Secret) {
    expire(c, |s| {
        s.session.as_ref().is_some_and(|cur| cur.access == *token)
    });
}

/// Whether the stored entry is the session that just ended (or garbage): a newer one another tab
/// saved is left alone.
fn still_stored(gone: Option<&Session>, stored: Option<Session>) -> bool {
    stored.is_none_or(|x| gone.is_some_and(|g| x.access == g.access))
}

/// `location.assign(origin + path)` where there is a page; nothing in a worker or Node. The page's
/// own origin is spelled out, so a `<base href>` (injected or not) cannot send the user elsewhere.
fn navigate(path: &str) {
    let Some(location) = js::platform(&js::global(), "location") else {
        return;
    };
    let (Some(origin), Some(assign)) = (
        js::platform(&location, "origin").and_then(|o| o.as_string()),
        js::platform(&location, "assign"),
    ) else {
        return;
    };
    if let Some(assign) = assign.dyn_ref::<Function>() {
        let _ = assign.call1(&location, &(origin + path).into());
    }
}

/// A restored session that has expired and that nothing can refresh: signed out, without
/// navigating, and its entry removed (unless storage meanwhile holds another).
pub fn drop_expired(c: &Client, now: f64) {
    end(
        c,
        |s| s.refresh_token.is_none() && s.session.as_ref().is_some_and(|x| x.expires_at <= now),
        still_stored,
    );
}

/// Another tab wrote the session (`None`: it removed it). A session of the same user and partner is
/// adopted and this tab's refresh token kept; one of another user or partner replaces this tab's
/// and drops its refresh token; a removal signs this tab out (without navigating).
pub fn adopt(c: &Client, incoming: Option<Session>) {
    let changed = c.with(|s| {
        if s.session == incoming {
            s.stored = incoming.is_some();
            return false;
        }
        let same_user = match (&s.session, &incoming) {
            (Some(cur), Some(new)) => cur.same_user(new),
            _ => false,
        };
        if let (Some(gone), Some(new)) = (&s.leaving, &incoming) {
            if gone.same_user(new) {
                // A late write of the session this tab is signing out of: about to be removed.
                return false;
            }
        }
        if !same_user {
            s.refresh_token = None;
        }
        if incoming.is_none() {
            s.mfa = None;
        }
        s.session = incoming.clone();
        s.stored = incoming.is_some();
        s.epoch += 1;
        true
    });
    if changed {
        tabs::sync_holder(c);
        notify(c, incoming.as_ref());
    }
}

/// Loads the saved session for the current config. An unreadable or malformed entry is removed and
/// counts as signed out. An expired one is kept in cookie mode (the proxy's cookie may still
/// refresh it) and, where tabs share storage, for `tabs::drop_orphan` to decide: another tab may
/// hold a refresh token for it. Elsewhere it is removed too.
pub fn restore(c: &Client, cfg: &Config, now: f64) {
    let saved = storage::read(&cfg.storage_key).flatten();
    let keep_expired = cfg.cookie_mode || storage::shared();
    let session = saved
        .as_ref()
        .and_then(storage::parse)
        .filter(|s| keep_expired || s.expires_at > now);
    if saved.is_some() && session.is_none() {
        storage::remove(&cfg.storage_key);
    }
    if let Some(restored) = &session {
        tabs::saw(c, restored);
    }
    c.with(|s| {
        s.stored = session.is_some();
        s.session = session;
        s.refresh_token = None;
        s.mfa = None;
        s.leaving = None;
        s.epoch += 1;
    });
    tabs::sync_holder(c);
}
