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
