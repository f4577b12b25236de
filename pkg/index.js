// fd-fetch's entry. `configure` loads the wasm once (it is inlined in fd_fetch_wasm.js, gzipped, so
// no bundler plugin, asset copying or init call is needed); every other export forwards to it and,
// before that, throws or rejects with FdError `not_configured`. Nothing here touches `window`.
import initWasm, * as wasm from "./fd_fetch.js";
import { FdError } from "./support.js";

export { FdError };

let loading; // Promise of the instantiated module, shared by concurrent configure calls.
let ready = false; // Set once a configure call has succeeded.

async function load() {
  const { default: base64 } = await import("./fd_fetch_wasm.js");
  const gzipped = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const stream = new Blob([gzipped]).stream().pipeThrough(new DecompressionStream("gzip"));
  await initWasm({ module_or_path: await new Response(stream).arrayBuffer() });
}

export async function configure(options) {
  await (loading ??= load().catch((e) => {
    loading = undefined; // let a later call try again
    throw e;
  }));
  await wasm.configure(options);
  ready = true;
}

const notConfigured = () => new FdError("not_configured", "fd-fetch: call `await configure(options)` first");
const sync = (f) => (...args) => {
  if (!ready) throw notConfigured();
  return f(...args);
};
const async = (f) => (...args) => (ready ? f(...args) : Promise.reject(notConfigured()));

export const fd = async(wasm.fd);
export const fdResponse = async(wasm.fdResponse);
export const signIn = async(wasm.signIn);
export const completeMfa = async(wasm.completeMfa);
export const ensureFresh = async(wasm.ensureFresh);
export const setSession = sync(wasm.setSession);
export const getSession = sync(wasm.getSession);
export const signOut = sync(wasm.signOut);
export const onSessionChange = sync(wasm.onSessionChange);
