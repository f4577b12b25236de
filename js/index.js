// fd-fetch's entry. `configure` and `createClient` load the wasm once (scripts/build.mjs writes it,
// gzipped, as fd_fetch_wasm.js and bundles it into the package's one module, so no bundler plugin,
// asset copying or init call is needed). The wasm
// exports one thing, `createClient`; the module-level exports act on one default client, which
// `configure` creates or reconfigures, and before that throw or reject with FdError
// `not_configured`. Nothing here touches `window`.
import initWasm, * as wasm from "./fd_fetch.js";
import { FdError, attachAxios as attach } from "./support.js";

export { FdError };

let loading; // Promise of the instantiated module, shared by concurrent calls.

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

const loaded = () =>
  (loading ??= load().catch((e) => {
    loading = undefined; // let a later call try again
    throw e;
  }));

const SYNC = ["setSession", "getSession", "signOut", "onSessionChange", "onRefresh", "startAutoRefresh", "stopAutoRefresh"];
const ASYNC = ["fd", "fdResponse", "signIn", "completeMfa", "ensureFresh"];

/**
 * The methods of a client, acting on whatever wasm client `get()` returns; with none (not yet
 * configured, or closed) they throw or reject with `missing()`. Plain closures: `const { fd } =
 * client` works.
 */
function methods(get, missing) {
  const need = () => {
    const c = get();
    if (!c) throw missing();
    return c;
  };
  const api = {};
  for (const m of SYNC) api[m] = (...args) => need()[m](...args);
  for (const m of ASYNC) api[m] = (...args) => (get() ? get()[m](...args) : Promise.reject(missing()));
  // Like every other export, not before `configure` (or after `close`): it throws at once rather
  // than installing interceptors whose every request would then fail.
  api.attachAxios = (instance) =>
    need() &&
    attach(
      {
        covers: (url) => need().covers(url),
        unauthorized: (token) => get()?.unauthorized(token),
        ensureFresh: api.ensureFresh,
      },
      instance,
    );
  return api;
}

let main; // The default client, once a configure call has succeeded.
let queue = Promise.resolve(); // configure calls run one after the other, the last one wins.

export function configure(options) {
  const run = queue.then(async () => {
    await loaded();
    if (main) await main.configure(options);
    else main = await wasm.createClient(options);
  });
  queue = run.catch(() => {});
  return run;
}

const notConfigured = () => new FdError("not_configured", "fd-fetch: call `await configure(options)` first");

export const {
  fd,
  fdResponse,
  signIn,
  completeMfa,
  ensureFresh,
  setSession,
  getSession,
  signOut,
  onSessionChange,
  onRefresh,
  startAutoRefresh,
  stopAutoRefresh,
  attachAxios,
} = methods(() => main, notConfigured);

/** An independent client: its own options, session, refresh, listeners and timer. */
export async function createClient(options) {
  await loaded();
  let inner = await wasm.createClient(options);
  const client = methods(
    () => inner,
    () => new FdError("not_configured", "fd-fetch: this client was closed"),
  );
  client.close = () => {
    if (!inner) return;
    inner.close();
    inner.free();
    inner = undefined;
  };
  return Object.freeze(client);
}
