//! Many tabs, one session.
//!
//! Tabs of one origin share the session through localStorage under `storageKey`. What keeps them
//! from stepping on each other:
//! - **One lock.** Every auth operation (refresh, sign-in, MFA, the tail of a sign-out) runs under
//!   the Web Lock `fd-fetch:<storageKey>`, one at a time across tabs. A lock not granted within
//!   `refreshTimeoutMs` is given up (its holder hangs) and the operation runs anyway.
//! - **Markers.** Chromium delivers a localStorage write to other tabs after the lock can already
//!   have been granted to one of them. So a lock holder that wrote also takes a lock whose name says
//!   what storage now shows (`…:mark:<seq>:<expiresAt or ->`), and the next holder first waits
//!   until its own storage shows that ([`settle`]) before it decides anything.
//! - **Holders.** A tab whose memory holds a refresh token holds the shared lock `…:holder`. A tab
//!   without one (opened or reloaded after sign-in) that needs a refresh asks over the
//!   BroadcastChannel `fd-fetch:<storageKey>`; a holder refreshes (under the lock) and answers with
//!   the new expiry, never a token, and the asking tab adopts what storage then shows.
//! - **Lifecycle.** A page shown again, restored from the back/forward cache or back online starts
//!   its refresh at once if it is due.
//!
//! Where `navigator.locks` is missing, operations run one at a time in the page only, and there are
//! no markers or holder locks (an asking tab then waits for an answer up to `refreshTimeoutMs`).
//!
//! **Clients.** "A tab" above is one client of a page: each client has its own channel and locks,
//! named from its `storageKey`, and no two open clients of a page share one ([`claim`]). The page's
//! listeners are registered once and tell every open client (a registry of weak handles).
use crate::prelude::*;

use alloc::rc::{Rc, Weak};
use core::cell::{Cell, RefCell};

use js_sys::{Array, Function, Object, Promise};
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::config::Config;
use crate::error::{Code, Failure};
use crate::js;
use crate::refresh;
use crate::session::{Freshness, Session};
use crate::state::{self, Client, State};
use crate::storage;
use crate::task::{pending, spawn, wait};
use crate::time::now;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    /// See `js/support.js`: resolves with the function that lets the lock go, once granted.
    fn acquire(name: &str, ms: i32, shared: bool) -> Promise;
    /// See `js/support.js`: the shared lock `name`, until the returned function is called.
    fn hold(name: &str) -> Function;
    #[wasm_bindgen(js_name = heldLocks)]
    fn held_locks(prefix: &str) -> Promise;
    /// See `js/support.js`: resolves with `undefined` after `ms`, on a timer no fake clock moves.
    pub fn sleep(ms: i32) -> Promise;
}

/// How often, and how many times, [`settle`] looks at storage: at most about a second.
const SETTLE_POLL_MS: i32 = 20;
const SETTLE_POLLS: u32 = 50;

/// This page's side of the tabs: its channel, and the locks it holds besides the operation lock.
pub struct Tabs {
    /// The storage key the channel and the locks below belong to.
    key: String,
    channel: Option<BroadcastChannel>,
    on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    /// Releases the shared `…:holder` lock (held while this tab has a refresh token and is not
    /// in the back/forward cache).
    holder: Option<Function>,
    /// Settles once this tab's `…:holder` lock, let go of, is really gone: until then the lock
    /// manager may still list it, and this tab would ask itself.
    released: Option<Promise>,
    /// While the page is frozen (in the back/forward cache, or by the browser in the background):
    /// a frozen page cannot answer, so it does not claim to hold a refresh token.
    cached: bool,
    /// Releases this tab's latest marker.
    mark: Option<Function>,
    /// Questions this tab asked that wait for an answer: (id, resolve).
    asks: Vec<(f64, Function)>,
    /// The last few sessions (as markers name them) this tab saw in storage or wrote there: a
    /// marker naming one of them asks for nothing this tab has not already seen.
    seen: Vec<String>,
}

impl Tabs {
    pub fn new() -> Self {
        Tabs {
            key: String::new(),
            channel: None,
            on_message: None,
            holder: None,
            released: None,
            mark: None,
            cached: false,
            asks: Vec::new(),
            seen: Vec::new(),
        }
    }
}

impl Tabs {
    /// Takes the channel, its handler and the holder and marker locks out, to be let go of when
    /// the result drops: outside any borrow of the state, since letting go calls into JS.
    #[must_use = "drop it outside the borrow of the state"]
    fn let_go(&mut self) -> LetGo {
        LetGo(
            self.channel.take(),
            self.on_message.take(),
            self.holder.take(),
            self.mark.take(),
        )
    }
}

/// A client dropped without `close()` (its JS object collected) closes its channel and lets go of
/// its locks: the channel's handler dies with it and must not be called.
impl Drop for Tabs {
    fn drop(&mut self) {
        drop(self.let_go());
    }
}

/// What [`Tabs::let_go`] took: on drop, the channel is detached from its handler and closed, then
/// the holder and marker locks are let go.
struct LetGo(
    Option<BroadcastChannel>,
    Option<Closure<dyn FnMut(MessageEvent)>>,
    Option<Function>,
    Option<Function>,
);

impl Drop for LetGo {
    fn drop(&mut self) {
        if let Some(ch) = self.0.take() {
            ch.set_onmessage(None);
            ch.close();
        }
        drop(self.1.take());
        for release in [self.2.take(), self.3.take()].into_iter().flatten() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}

fn name(cfg: &Config, suffix: &str) -> String {
    let mut n = String::with_capacity(9 + cfg.storage_key.len() + suffix.len());
    n.push_str("fd-fetch:");
    n.push_str(&cfg.storage_key);
    n.push_str(suffix);
    n
}

/// The tabs' lock of one `storageKey`, held until dropped: whatever returns or fails while it is
/// held lets it go by leaving scope.
pub struct Held(Option<Function>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}

/// Takes the lock every auth operation of `cfg.storage_key` runs under, one at a time across tabs
/// (see the module docs). Given up after `refreshTimeoutMs`: its holder hangs, and we go on.
pub async fn lock(cfg: &Config) -> Held {
    Held(granted(acquire(&name(cfg, ""), cfg.refresh_timeout_ms, false)).await)
}

async fn granted(acquiring: Promise) -> Option<Function> {
    wait(acquiring).await.ok()?.dyn_into().ok()
}

/// The newest marker: its sequence number and what it says storage shows (`-`: nothing), or
/// `Some(None)` when there is none. `None` without Web Locks (missing, or denied to this frame):
/// then there are no markers at all.
async fn latest_mark(cfg: &Config) -> Option<Option<(u32, String)>> {
    if !storage::shared() {
        return None;
    }
    let prefix = name(cfg, ":mark:");
    let latest = held(&prefix)
        .await?
        .iter()
        .filter_map(|n| n.as_string())
        .filter_map(|n| {
            let (seq, want) = n.get(prefix.len()..)?.split_once(':')?;
            Some((digits(seq)?, want.to_owned()))
        })
        .max_by_key(|(seq, _)| *seq);
    Some(latest)
}

/// A decimal `u32`, digits only.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u32::from(b - b'0')))
            .flatten()
    })
}

/// What a marker says of a stored session: its expiry as JS prints it, or `-` for none.
fn shown(session: Option<&Session>) -> String {
    session.map_or_else(|| "-".to_owned(), |s| decimal(s.expires_at))
}

/// A number as JS prints it (no float formatting code in the wasm).
fn decimal(n: f64) -> String {
    js_sys::Number::from(n)
        .to_string_with_radix(10)
        .map_or_else(|_| "0".to_owned(), String::from)
}

/// Waits (a second at most) until this tab's storage shows `want` (as [`shown`] says it).
async fn until_stored(cfg: &Config, want: &str) {
    for _ in 0..SETTLE_POLLS {
        if shown(stored(cfg).as_ref()) == want {
            return;
        }
        let _ = wait(sleep(SETTLE_POLL_MS)).await;
    }
}

fn stored(cfg: &Config) -> Option<Session> {
    storage::load(&cfg.storage_key)
}

/// How many of the sessions this tab saw it remembers for [`settle`].
const SEEN: usize = 8;

/// Notes a session this tab wrote to storage or saw another tab write there.
pub fn saw(c: &Client, session: &Session) {
    let shown = shown(Some(session));
    c.with(|s| {
        let seen = &mut s.tabs.seen;
        if !seen.contains(&shown) {
            if seen.len() >= SEEN {
                seen.remove(0);
            }
            seen.push(shown);
        }
    });
}

/// Under the lock: waits (a second at most) until this tab's storage shows what the last holder
/// left there, so that what is decided next is decided on the newest session. A write this tab
/// has already seen (or made) needs no wait: whatever storage shows now came after it.
pub async fn settle(c: &Client, cfg: &Config) {
    let Some(Some((_, want))) = latest_mark(cfg).await else {
        return;
    };
    if !c.with(|s| s.tabs.seen.contains(&want)) {
        until_stored(cfg, &want).await;
    }
}

/// Under the lock, after writing storage: leaves a marker saying what storage now shows, for the
/// next holder to wait for, and lets go of this tab's previous one.
pub async fn mark(c: &Client, cfg: &Config) {
    let Some(latest) = latest_mark(cfg).await else {
        return;
    };
    let seq = latest.map_or(0, |(seq, _)| seq).saturating_add(1);
    let mut marker = name(cfg, ":mark:");
    marker.push_str(&decimal(f64::from(seq)));
    marker.push(':');
    marker.push_str(&shown(stored(cfg).as_ref()));
    // Granted before the operation lock is let go, so the next holder's query sees it.
    let release = granted(acquire(&marker, 0, false)).await;
    // A closed client keeps no lock: it lets go of the new marker at once.
    let old = c.with(|s| {
        if s.closed {
            release
        } else {
            core::mem::replace(&mut s.tabs.mark, release)
        }
    });
    if let Some(old) = old {
        let _ = old.call0(&JsValue::UNDEFINED);
    }
}

/// Takes or lets go of the `…:holder` lock to match whether this tab has a refresh token (and can
/// answer for it). Called after anything that may have given or dropped one.
pub fn sync_holder(c: &Client) {
    let change = c.with(|s| {
        let cfg = s.config.clone()?;
        let holds = s.refresh_token.is_some() && !s.tabs.cached;
        match (holds, s.tabs.holder.is_some()) {
            (true, false) => Some((Some(cfg), None)),
            (false, true) => Some((None, s.tabs.holder.take())),
            _ => None,
        }
    });
    match change {
        Some((Some(cfg), _)) if storage::shared() => {
            let release = hold(&name(&cfg, ":holder"));
            c.with(|s| s.tabs.holder = Some(release));
        }
        Some((_, Some(release))) => {
            let gone = release.call0(&JsValue::UNDEFINED).ok();
            c.with(|s| s.tabs.released = gone.map(JsCast::unchecked_into));
        }
        _ => {}
    }
}

/// What a holder answered.
pub enum Answer {
    /// Storage now holds (or is about to show) a session expiring at this time.
    Fresh(f64),
    /// The refresh token is dead: the session has ended.
    Dead,
    /// The holder's refresh failed for now.
    Transient,
}

/// How many tabs hold a refresh token; `None` without Web Locks to tell.
async fn holders(c: &Client, cfg: &Config) -> Option<u32> {
    if let Some(gone) = c.with(|s| s.tabs.released.take()) {
        let _ = wait(gone).await;
    }
    Some(held(&name(cfg, ":holder")).await?.length())
}

/// The names of the locks held in this origin under `prefix`; `None` without Web Locks (missing,
/// or denied to this frame), where `heldLocks` answers `null`.
async fn held(prefix: &str) -> Option<Array> {
    let names = wait(held_locks(prefix)).await.ok()?;
    (!names.is_null()).then(|| Array::from(&names))
}

/// After `configure` restored a session in memory mode: an expired one is kept only while some
/// tab holds a refresh token that can refresh it; otherwise it counts as signed out.
pub async fn drop_orphan(c: &Client, cfg: &Config) {
    let expired = || {
        c.with(|s| {
            s.refresh_token.is_none() && s.session.as_ref().is_some_and(|x| x.expires_at <= now())
        })
    };
    if cfg.cookie_mode || !expired() {
        return;
    }
    if holders(c, cfg).await.unwrap_or(0) == 0 {
        state::drop_expired(c, now());
    }
}

/// Asks the tabs that hold a refresh token to refresh. `None` when no tab holds one, or none
/// answered within `refreshTimeoutMs`.
pub async fn ask(c: &Client, cfg: &Config) -> Option<Answer> {
    let channel = c.with(|s| s.tabs.channel.clone())?;
    // With Web Locks, whether any tab holds a refresh token is known at once.
    if holders(c, cfg).await == Some(0) {
        return None;
    }
    let id = js_sys::Math::random();
    let (answered, settle) = pending();
    c.with(|s| s.tabs.asks.push((id, settle)));
    let _ = channel.post_message(&message("need", id, None));
    let first = Promise::race(&Array::of2(&answered, &sleep(cfg.refresh_timeout_ms)));
    let reply = wait(first).await.ok();
    c.with(|s| s.tabs.asks.retain(|(i, _)| *i != id));
    let reply = reply.filter(JsValue::is_object)?;
    match js::string(&js::prop(&reply, "fd")?, 16)?.as_str() {
        "fresh" => js::prop(&reply, "expiresAt")?.as_f64().map(Answer::Fresh),
        "dead" => Some(Answer::Dead),
        _ => Some(Answer::Transient),
    }
}

/// Waits (a second at most) until storage shows a session expiring at `expires_at`.
pub async fn await_stored(cfg: &Config, expires_at: f64) {
    until_stored(cfg, &decimal(expires_at)).await;
}

/// Tells the other tabs that this tab's refresh rotated the refresh token: their copies of it are
/// stale, so they drop them and ask this tab from now on.
pub fn say_rotated(c: &Client) {
    if let Some(channel) = c.with(|s| s.tabs.channel.clone()) {
        let _ = channel.post_message(&message("rotated", 0.0, None));
    }
}

/// `{ fd: kind, id, expiresAt? }`: every message on the channel. Never a token.
fn message(kind: &str, id: f64, expires_at: Option<f64>) -> JsValue {
    let o = Object::new();
    js::set(&o, "fd", &kind.into());
    js::set(&o, "id", &id.into());
    if let Some(e) = expires_at {
        js::set(&o, "expiresAt", &e.into());
    }
    o.into()
}

fn on_message(c: &Client, ev: MessageEvent) {
    let data = ev.data();
    let (Some(kind), id) = (
        js::prop(&data, "fd").and_then(|k| js::string(&k, 16)),
        js::prop(&data, "id").and_then(|i| i.as_f64()),
    ) else {
        return;
    };
    match (kind.as_str(), id) {
        ("need", Some(id)) => answer(c, id),
        ("rotated", _) => {
            let dropped = c.with(|s| s.refresh_token.take().is_some());
            if dropped {
                sync_holder(c);
            }
        }
        (_, Some(id)) => {
            let waiting = c.with(|s| {
                let at = s.tabs.asks.iter().position(|(i, _)| *i == id)?;
                Some(s.tabs.asks.swap_remove(at).1)
            });
            if let Some(settle) = waiting {
                let _ = settle.call2(&JsValue::UNDEFINED, &JsValue::TRUE, &data);
            }
        }
        _ => {}
    }
}

/// A tab without a refresh token asked: if this tab holds one, it refreshes (or finds its session
/// fresh) and answers with what storage will show.
fn answer(c: &Client, id: f64) {
    let holds =
        c.with(|s| s.refresh_token.is_some() && s.config.as_ref().is_some_and(|c| !c.cookie_mode));
    if !holds {
        return;
    }
    let c = c.clone();
    spawn(async move {
        let c = &c;
        let reply = match refresh::ensure_fresh(c, None, None).await {
            Ok(_) => match c.with(|s| s.session.as_ref().map(|s| s.expires_at)) {
                Some(e) => message("fresh", id, Some(e)),
                None => message("transient", id, None),
            },
            Err(Failure::Fd(e)) if e.code == Code::SessionExpired => message("dead", id, None),
            Err(_) => message("transient", id, None),
        };
        if let Some(channel) = c.with(|s| s.tabs.channel.clone()) {
            let _ = channel.post_message(&reply);
        }
    });
}

local! {
    /// Every open client of this page, for the page's listeners to tell (see [`watch_page`]).
    /// Weak: the registry does not keep a client alive.
    static CLIENTS: RefCell<Vec<Weak<RefCell<State>>>> = const { RefCell::new(Vec::new()) };
    /// Whether the page's listeners are registered (once per page).
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

/// The open clients, strongly held for the length of one dispatch.
fn clients() -> Vec<Client> {
    CLIENTS.with(|r| {
        let mut r = r.borrow_mut();
        r.retain(|w| w.strong_count() > 0);
        r.iter().filter_map(Client::upgrade).collect()
    })
}

/// `bad_config` if another open client of this page uses `key`: two clients of one key would
/// share a lock, a channel and a storage entry while each thinks it owns them.
pub fn claim(c: &Client, key: &str) -> Result<(), crate::error::FdError> {
    let taken = clients().iter().any(|other| {
        !other.same(c) && other.with(|s| s.config.as_ref().is_some_and(|x| x.storage_key == key))
    });
    if taken {
        return Err(crate::error::FdError::bad_config(
            "storageKey",
            "is already used by another open client of this page",
        ));
    }
    Ok(())
}

/// Adds a client to the page's registry (once).
pub fn register(c: &Client) {
    if !clients().iter().any(|o| o.same(c)) {
        CLIENTS.with(|r| r.borrow_mut().push(c.downgrade()));
    }
}

/// `close()`: the client leaves the registry and lets go of its channel and locks.
pub fn detach(c: &Client) {
    CLIENTS.with(|r| {
        r.borrow_mut()
            .retain(|w| Client::upgrade(w).is_some_and(|o| !o.same(c)))
    });
    let (old, asks) = c.with(|s| {
        s.tabs.key.clear();
        (s.tabs.let_go(), core::mem::take(&mut s.tabs.asks))
    });
    drop(old);
    // A question still waiting gets no answer: it ends now, as "no holder answered".
    for (_, settle) in asks {
        let _ = settle.call2(&JsValue::UNDEFINED, &JsValue::TRUE, &JsValue::UNDEFINED);
    }
}

/// For `configure`: the channel of `cfg.storage_key` (replacing one of another key, whose locks
/// are let go), and the page's event listeners, registered once.
pub fn attach(c: &Client, cfg: &Rc<Config>) {
    register(c);
    watch_page();
    let old = c.with(|s| {
        (s.tabs.key != cfg.storage_key || s.tabs.channel.is_none()).then(|| {
            s.tabs.key = cfg.storage_key.clone();
            s.tabs.let_go()
        })
    });
    let Some(old) = old else {
        return;
    };
    drop(old);
    if storage::shared() {
        if let Ok(channel) = BroadcastChannel::new(&name(cfg, "")) {
            // Weak: the channel's handler must not keep a dropped client alive.
            let weak = c.downgrade();
            let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |ev| {
                if let Some(c) = Client::upgrade(&weak) {
                    on_message(&c, ev);
                }
            });
            channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
            c.with(|s| {
                s.tabs.channel = Some(channel);
                s.tabs.on_message = Some(handler);
            });
        }
    }
}

/// Follows other tabs through the `storage` event, and the page's lifecycle through
/// `visibilitychange`, `pageshow` and `online`, for every open client. Registered once per page, on
/// the first `configure`, and only where there is a global event target (not at import).
fn watch_page() {
    if WATCHING.with(|w| w.replace(true)) {
        return;
    }
    let global = js::global();
    listen(&global, "storage", |ev| {
        if let Ok(ev) = ev.dyn_into::<web_sys::StorageEvent>() {
            for c in clients() {
                on_storage(&c, &ev);
            }
        }
    });
    listen(&global, "online", |_| wake_all());
    listen(&global, "pagehide", |ev| {
        if persisted(&ev) {
            frozen_all(true);
        }
    });
    listen(&global, "pageshow", |ev| {
        if persisted(&ev) {
            frozen_all(false);
        }
    });
    if let Some(document) = js::platform(&global, "document") {
        // A background page the browser freezes (Page Lifecycle) cannot answer either.
        listen(&document, "freeze", |_| frozen_all(true));
        listen(&document, "resume", |_| frozen_all(false));
        listen(&document, "visibilitychange", |_| {
            let visible = js::platform(&js::global(), "document")
                .and_then(|d| js::platform(&d, "visibilityState"))
                .and_then(|v| v.as_string());
            if visible.as_deref() == Some("visible") {
                wake_all();
            }
        });
    }
}

fn wake_all() {
    for c in clients() {
        wake(&c);
    }
}

fn frozen_all(now_frozen: bool) {
    for c in clients() {
        frozen(&c, now_frozen);
    }
}

/// The page is frozen (kept in the back/forward cache, or frozen in the background), or runs again:
/// a frozen page lets go of the `…:holder` lock, since it could not answer; back, it takes it again
/// and refreshes if due.
fn frozen(c: &Client, now_frozen: bool) {
    c.with(|s| s.tabs.cached = now_frozen);
    sync_holder(c);
    if !now_frozen {
        wake(c);
    }
}

/// Whether a `pagehide`/`pageshow` event is about the back/forward cache.
fn persisted(ev: &JsValue) -> bool {
    js::platform(ev, "persisted").is_some_and(|p| p.is_truthy())
}

/// `target.addEventListener(kind, f)` for the page's lifetime, where `target` has one.
fn listen(target: &JsValue, kind: &str, f: fn(JsValue)) {
    let Some(add) = js::platform(target, "addEventListener") else {
        return;
    };
    let Some(add) = add.dyn_ref::<Function>() else {
        return;
    };
    let handler = Closure::<dyn FnMut(JsValue)>::new(f);
    let _ = add.call2(target, &kind.into(), handler.as_ref());
    // Lives as long as the page.
    handler.forget();
}

/// Another tab wrote or removed the session.
fn on_storage(c: &Client, ev: &web_sys::StorageEvent) {
    let Some(cfg) = c.with(|s| s.config.clone()) else {
        return;
    };
    let key = JsValue::from_str(&cfg.storage_key);
    if js::platform(ev, "key").is_some_and(|k| k != key)
        || !ev.storage_area().is_some_and(|a| storage::is_local(&a))
    {
        return;
    }
    // Read as a JS value: the entry's text (an access token) is not copied into wasm memory.
    match js::platform(ev, "newValue") {
        // Removed (sign-out, a dead session, `localStorage.clear()`).
        None => state::adopt(c, None),
        // Written: adopt a live session (in cookie mode an expired one too: the cookie may still
        // refresh it); ignore garbage rather than sign out over it.
        Some(text) => {
            if let Some(s) = storage::parse(&text) {
                saw(c, &s);
                if cfg.cookie_mode || s.freshness(now(), 0.0) != Freshness::Expired {
                    state::adopt(c, Some(s));
                }
            }
        }
    }
}

/// The page is back (visible, restored, online): if the session is due, refresh now rather than on
/// the first request.
fn wake(c: &Client) {
    let due = c.with(|s| {
        let cfg = s.config.as_ref()?;
        let session = s.session.as_ref()?;
        Some(session.freshness(now(), cfg.threshold_ms) != Freshness::Fresh)
    });
    if due == Some(true) {
        let c = c.clone();
        spawn(async move {
            let _ = refresh::ensure_fresh(&c, None, None).await;
        });
    }
}

/// After this tab ended a session (`gone`, if there was one): under the lock, so after whatever
/// refresh or sign-in is in flight in any tab, takes out of storage what a late answer may have
/// written for it, and in cookie mode posts `/auth/logout` so that the proxy's cookie dies too.
/// `whole_user`: a sign-out ends every session of that user and partner; a dead token only itself.
pub fn after_end(c: &Client, cfg: Rc<Config>, gone: Option<Session>, whole_user: bool) {
    let c = c.clone();
    spawn(async move {
        let c = &c;
        let _held = lock(&cfg).await;
        settle(c, &cfg).await;
        if let Some(gone) = &gone {
            let late = stored(&cfg).is_some_and(|s| {
                if whole_user {
                    s.same_user(gone)
                } else {
                    s.access == gone.access
                }
            });
            if late {
                storage::remove(&cfg.storage_key);
                mark(c, &cfg).await;
            }
        }
        c.with(|s| {
            if s.leaving.is_some() && s.leaving == gone {
                s.leaving = None;
            }
        });
        if cfg.cookie_mode {
            crate::http::logout(&cfg).await;
        }
    });
}
