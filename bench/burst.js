// The burst: `size` concurrent calls made at once with a session inside the 5-minute refresh
// threshold, so that they all need the one refresh. The fake API answers at once; what is left is
// how each implementation shares the refresh and holds the waiting calls.
import { SoakApi, jsHeap } from "/tests/common/fake_api.js";
import { arena } from "./arena.js";
import { wasmMemoryBytes } from "./wasm-memory.js";

/** Fires `size` calls of `fd` at once; the answers are dropped before this returns. */
async function fire(fd, size) {
  const t0 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: size }, () => fd("/me")));
  return { ms: performance.now() - t0, fulfilled: results.filter((r) => r.status === "fulfilled").length };
}

/** JS heap (after a forced GC where the page may force one) and, for fd-fetch, its wasm memory. */
function memory(name) {
  // The baseline has no wasm: the page's only wasm memory is fd-fetch's.
  return { jsHeap: jsHeap().used, wasm: name === "fd-fetch" ? wasmMemoryBytes() : null };
}

export async function burst(name, size) {
  // SoakApi counts requests instead of recording each one: the fake must not grow the heap measured.
  const api = new SoakApi();
  const a = await arena(name, api, 60_000);
  const before = memory(name);
  const { ms, fulfilled } = await fire(a.fd, size);
  const after = memory(name);
  return {
    size,
    refreshRequests: api.count("/api/auth/refresh_token"),
    fulfilled,
    ms,
    jsHeapBefore: before.jsHeap,
    jsHeapAfter: after.jsHeap,
    wasmBefore: before.wasm,
    wasmAfter: after.wasm,
  };
}
