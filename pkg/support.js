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
