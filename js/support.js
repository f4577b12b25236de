// Plain JavaScript that both the wasm glue and the package entry import, so that there is one
// FdError class (and `instanceof` works) whether an error was raised before or after the wasm loaded.

/** The one error type fd-fetch rejects with. `code` is stable; `message` is for people. */
export class FdError extends Error {
  constructor(code, message, status, body) {
    super(message);
    this.name = "FdError";
    this.code = code;
    if (status !== undefined) this.status = status;
    if (body !== undefined) this.body = body;
  }
}

/**
 * `promise`, but rejected with `signal.reason` as soon as `signal` aborts. Only this wait ends: the
 * promise itself (a shared refresh) goes on. The listener is removed once either side settles.
 */
export function abortable(promise, signal) {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    const done = (settle) => (value) => {
      signal.removeEventListener("abort", onAbort);
      settle(value);
    };
    promise.then(done(resolve), done(reject));
  });
}

/** Rejection of `readBody` for a body that says JSON but does not parse. */
export const BAD_JSON = Symbol("bad JSON");

/**
 * A 2xx body as `fd` returns it: `null` when empty, parsed when `json`, else the text. One promise
 * for the whole read, so the body never crosses into wasm and costs one await there, not two.
 * `text()` goes through `call`, so that one that throws (an injected fetch's odd Response) is a
 * rejection, not an exception through wasm.
 */
export function readBody(response, json) {
  return call((r) => r.text(), response).then((text) => {
    if (text === "") return null;
    if (!json) return text;
    try {
      return JSON.parse(text);
    } catch {
      throw BAD_JSON;
    }
  });
}

/** Rejection of `readLenient` for a body longer than its limit. */
export const TOO_BIG = Symbol("too big");

/**
 * An auth answer or an error body: parsed JSON if it parses, else the text, `null` when empty. A
 * body over `max` characters rejects with `TOO_BIG`: at once, unread, when its Content-Length says
 * so, else once read. The text stays on the JS side: only the fields wasm asks for are copied in.
 * Read with `text()` rather than a stream reader, which would keep DevTools from showing the
 * answer (and Playwright from reading it).
 */
export async function readLenient(response, max) {
  if (Number(response.headers.get("content-length")) > max) {
    response.body?.cancel().catch(() => {});
    throw TOO_BIG;
  }
  const text = await response.text();
  if (text.length > max) throw TOO_BIG;
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * `f(arg)` as a native promise: a throw, a non-promise result or a thenable whose `then` throws
 * all become its rejection or value, so that no exception of an injected function unwinds
 * through wasm.
 */
export function call(f, arg) {
  // Not `new Promise((resolve) => resolve(f(arg)))`: resolving with fetch's promise costs two
  // more microtask jobs per call. `Promise.resolve` hands a native promise back as it is.
  try {
    return Promise.resolve(f(arg));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * A promise and the function that settles it, `settle(ok, value)`: for a task of src/task.rs that
 * outlives the call that started it, and for a question to other tabs (src/tabs.rs).
 */
export function deferred() {
  let settle;
  const promise = new Promise((resolve, reject) => {
    settle = (ok, value) => (ok ? resolve : reject)(value);
  });
  return [promise, settle];
}

/**
 * Calls `wake(slot, ok, value)` once `promise` settles: how src/task.rs awaits a JS promise, with
 * one `wake` for the page rather than a closure per await. A `then` that throws is a rejection.
 */
export function settle(promise, slot, wake) {
  try {
    promise.then(
      (value) => wake(slot, true, value),
      (reason) => wake(slot, false, reason),
    );
  } catch (e) {
    wake(slot, false, e);
  }
}

/** The function `onSessionChange` returns: removes `listener` from `listeners`; calling it again is harmless. */
export function remover(listeners, listener) {
  return () => {
    listeners.delete(listener);
  };
}

// ---------------------------------------------------------------------------------------------
// Plumbing for tabs (src/tabs.rs decides what to do; these only adapt the platform's callbacks).

const tails = new Map(); // lock name → the last holder's promise, where there is no navigator.locks

/**
 * Takes the Web Lock `name` (shared or exclusive) for this tab, and resolves, once it is granted,
 * with the function that lets it go. One not granted within `ms` (0: no limit) is given up: the
 * promise resolves anyway, with a function that does nothing, since its holder hangs. Without
 * `navigator.locks` (Node, old engines, a sandboxed frame), locks of one name are taken one at a
 * time in this realm only, with the same give-up.
 */
export function acquire(name, ms, shared) {
  let release;
  const held = new Promise((r) => (release = r));
  return new Promise((granted) => {
    const inRealm = () => {
      const before = tails.get(name) ?? Promise.resolve();
      tails.set(name, held);
      held.then(() => tails.get(name) === held && tails.delete(name));
      Promise.race([before, ms > 0 ? sleep(ms) : before]).then(() => granted(release));
    };
    try {
      const options = { mode: shared ? "shared" : "exclusive" };
      if (ms > 0) options.signal = AbortSignal.timeout(ms);
      const request = globalThis.navigator.locks.request(name, options, () => {
        // Letting go resolves once the lock manager no longer lists the lock.
        granted(() => (release(), request.then(() => {})));
        return held;
      });
      // Aborted: not granted in time. Anything else (a frame denied Web Locks): in this realm.
      request.catch((e) => (e?.name === "AbortError" ? granted(() => {}) : inRealm()));
    } catch {
      inRealm();
    }
  });
}

/** Takes the shared lock `name` for as long as this tab wants it; returns what lets it go. */
export function hold(name) {
  const granted = acquire(name, 0, true);
  return () => granted.then((release) => release());
}

/** The names of the locks held in this origin that start with `prefix`; `null` without Web Locks. */
export async function heldLocks(prefix) {
  try {
    const { held = [] } = await globalThis.navigator.locks.query();
    return held.map((l) => l.name).filter((n) => typeof n === "string" && n.startsWith(prefix));
  } catch {
    return null;
  }
}

/**
 * Resolves with `undefined` after `ms`. Timed by `AbortSignal.timeout`, not `setTimeout`, so that a
 * page's fake timers (a test clock jumping ahead) cannot end a wait early.
 */
export function sleep(ms) {
  return new Promise((r) => AbortSignal.timeout(ms).addEventListener("abort", () => r(), { once: true }));
}

// ---------------------------------------------------------------------------------------------
// axios (no axios code: only its interceptor API).

/**
 * The URL axios will request for `config`, as its `buildFullPath` makes it: an absolute `url` wins
 * (unless `allowAbsoluteUrls` is false), else `baseURL` and `url` joined with one "/". A path from
 * the page's root is taken on the page's origin, where there is a page.
 */
function axiosUrl({ baseURL, url, allowAbsoluteUrls }) {
  const rel = url == null ? "" : String(url);
  const absolute = /^([a-z][a-z\d+\-.]*:)?\/\//i.test(rel);
  let full = rel;
  if (baseURL && (!absolute || allowAbsoluteUrls === false)) {
    full = rel ? String(baseURL).replace(/\/?\/$/, "") + "/" + rel.replace(/^\/+/, "") : String(baseURL);
  }
  const origin = globalThis.location?.origin;
  if (/^\/(?![/\\])/.test(full) && typeof origin === "string") full = origin + full;
  return full;
}

/** Sets header `name` on an axios config, replacing any spelling of it the caller set. */
function setHeader(config, name, value) {
  const headers = (config.headers ??= {});
  if (typeof headers.set === "function") return void headers.set(name, value);
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
  headers[name] = value;
}

/**
 * `attachAxios(instance)` for a client (`covers`, `unauthorized`, `ensureFresh`). Requests to a URL
 * the client covers get both headers from one `ensureFresh()`, and the token they carried is
 * remembered per config; a 401 for one of them ends that token's session as `fd` does and rejects
 * with `session_expired`. Everything else passes untouched. Returns what ejects both interceptors.
 */
export function attachAxios(client, instance) {
  const { request, response } = instance?.interceptors ?? {};
  const api = (i) => typeof i?.use === "function" && typeof i?.eject === "function";
  if (!api(request) || !api(response)) {
    throw new FdError("bad_config", "fd-fetch: option `instance` must be an axios instance (with `interceptors`)");
  }
  const sent = new WeakMap(); // request config -> the access token it went with
  const req = request.use(async (config) => {
    if (!client.covers(axiosUrl(config))) return config;
    const { accessToken, partnerId } = await client.ensureFresh();
    setHeader(config, "Authorization", `Bearer ${accessToken}`);
    setHeader(config, "X-Preferred-Partner-Id", partnerId);
    sent.set(config, accessToken);
    return config;
  });
  const res = response.use(undefined, (error) => {
    const config = error?.config;
    const token = error?.response?.status === 401 && config ? sent.get(config) : undefined;
    if (token === undefined) throw error;
    client.unauthorized(token);
    throw new FdError("session_expired", "fd-fetch: the session has expired; sign in again", 401);
  });
  return () => {
    request.eject(req);
    response.eject(res);
  };
}
