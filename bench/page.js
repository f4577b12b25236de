// The benchmark's in-page half, driven by scripts/bench.mjs through `window.bench`: each method
// measures one section and returns plain figures; the script summarizes and prints them.
// wasm-memory.js comes first: it must wrap WebAssembly before fd-fetch can instantiate anything.
import { wasmMemoryBytes } from "./wasm-memory.js";
import { perCall } from "./per-call.js";
import { burst } from "./burst.js";
import { behaviour } from "./behaviour.js";

window.bench = {
  perCall,
  burst,
  behaviour,
  /** Whether the heap figures are worth reading: precise (not bucketed) and after a forced GC. */
  memoryInfo: () => ({
    gcForced: typeof globalThis.gc === "function",
    jsHeapAvailable: typeof performance.memory?.usedJSHeapSize === "number",
    wasmSeen: wasmMemoryBytes() !== null,
  }),
};
window.benchReady = true;
