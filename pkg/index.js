// fd-fetch's entry. `configure` loads the wasm once (it is inlined in fd_fetch_wasm.js, gzipped, so
// no bundler plugin, asset copying or init call is needed); every other export forwards to it and,
// before that, throws or rejects with FdError `not_configured`. Nothing here touches `window`.
import initWasm, * as wasm from "./fd_fetch.js";
import { FdError } from "./support.js";

export { FdError };

let loading; // Promise of the instantiated module, shared by concurrent configure calls.
let ready = false; // Set once a configure call has succeeded.

const unsupported = (what) => new FdError("unsupported", `fd-fetch: cannot run here: ${what}`);

async function load() {
  // A Content-Security-Policy without 'wasm-unsafe-eval' refuses to compile any wasm: find out at
  // once, with the 8-byte empty module, and say what to allow.
  if (typeof WebAssembly !== "object") throw unsupported("WebAssembly is missing");
  if (typeof DecompressionStream !== "function") throw unsupported("DecompressionStream is missing");
  try {
    new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  } catch {
    throw unsupported("this page may not compile WebAssembly; allow 'wasm-unsafe-eval' in its Content-Security-Policy script-src");
  }
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
