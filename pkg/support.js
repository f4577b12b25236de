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
 */
export function readBody(response, json) {
  return response.text().then((text) => {
    if (text === "") return null;
    if (!json) return text;
    try {
      return JSON.parse(text);
    } catch {
      throw BAD_JSON;
    }
  });
}

/** The function `onSessionChange` returns: removes `listener` from `listeners`; calling it again is harmless. */
export function remover(listeners, listener) {
  return () => {
    listeners.delete(listener);
  };
}

// ---------------------------------------------------------------------------------------------
// Plumbing for tabs (src/tabs.rs decides what to do; these only adapt the platform's callbacks).

const tails = new Map(); // lock name → the last task queued where there is no navigator.locks

/**
 * Runs `task()` (which returns a promise) under the Web Lock `name`, one at a time across the tabs
 * of this origin, and resolves with its result. A lock not granted within `ms` (its holder hangs)
 * is given up and `task` runs anyway. Without `navigator.locks` (Node, old engines, a sandboxed
 * frame), tasks of one name run one at a time in this realm, with the same give-up.
 */
export function exclusive(name, ms, task) {
  const locks = globalThis.navigator?.locks;
  if (locks?.request) {
    let granted = false;
    const run = () => {
      granted = true;
      return task();
    };
    try {
      return locks.request(name, { signal: AbortSignal.timeout(ms) }, run).catch((e) => {
        if (granted) throw e;
        return run();
      });
    } catch {
      return run();
    }
  }
  const before = tails.get(name) ?? Promise.resolve();
  const result = Promise.race([before, sleep(ms)]).then(task);
  const tail = result.then(
    () => {},
    () => {},
  );
  tails.set(name, tail);
  tail.then(() => tails.get(name) === tail && tails.delete(name));
  return result;
}

/** Takes the lock `name` and holds it until the function it resolves with is called. */
export function hold(name, shared) {
  let release = () => {};
  const held = new Promise((r) => (release = r));
  return new Promise((granted) => {
    try {
      globalThis.navigator.locks
        .request(name, { mode: shared ? "shared" : "exclusive" }, () => {
          granted(release);
          return held;
        })
        .catch(() => granted(release));
    } catch {
      granted(release);
    }
  });
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
