// The wasm memory of whatever this page instantiates, for the burst's "wasm memory" figures.
// fd-fetch gives no handle on its instance (by design: see "Hardening" in the README), and how
// pkg/ is built may change, so this module wraps every way of instantiating a module before
// fd-fetch loads, and keeps each exported Memory. Import it before /pkg/index.js.
const memories = new Set();

const keep = (instance) => {
  for (const value of Object.values(instance.exports)) {
    if (value instanceof WebAssembly.Memory) memories.add(value);
  }
};

// Proxies rather than replacement functions: `instanceof WebAssembly.Instance` still holds for the
// instances the originals make (wasm-bindgen's glue tests it), and `new` still works.
const { instantiate, instantiateStreaming, Instance } = WebAssembly;
const resultInstance = (result) => (result instanceof Instance ? result : result.instance);
WebAssembly.instantiate = new Proxy(instantiate, {
  async apply(target, self, args) {
    const result = await Reflect.apply(target, self, args);
    keep(resultInstance(result));
    return result;
  },
});
WebAssembly.instantiateStreaming = new Proxy(instantiateStreaming, {
  async apply(target, self, args) {
    const result = await Reflect.apply(target, self, args);
    keep(result.instance);
    return result;
  },
});
WebAssembly.Instance = new Proxy(Instance, {
  construct(target, args, newTarget) {
    const instance = Reflect.construct(target, args, newTarget);
    keep(instance);
    return instance;
  },
});

/** Bytes of every wasm memory seen so far, or null when none was (nothing instantiated yet). */
export function wasmMemoryBytes() {
  if (memories.size === 0) return null;
  return [...memories].reduce((sum, m) => sum + m.buffer.byteLength, 0);
}
