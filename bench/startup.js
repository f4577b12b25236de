// One start-up sample: from importing the library named by `?lib=` to it being ready to send the
// first call (for fd-fetch, `configure()` resolved: the wasm fetched, decompressed, instantiated).
// Sets `window.startup` to `{ms}` or `{error}`. Nothing else loads first, not even the
// WebAssembly wrapper of the main bench page.
const API = `${location.origin}/api`;

const READY = {
  "fd-fetch": async () => (await import("/pkg/index.js")).configure({ baseUrl: API }),
  baseline: async () => (await import("/bench/baseline.js")).configureBaseline(API),
  axios: async () => {
    const { default: axios } = await import("/bench/.work/axios.js");
    axios.create({ baseURL: API }).interceptors.request.use((config) => config);
  },
  ky: async () => {
    const { default: ky } = await import("/bench/.work/ky.js");
    ky.create({ prefixUrl: API, hooks: { beforeRequest: [() => {}] } });
  },
};

const lib = new URLSearchParams(location.search).get("lib");
const t0 = performance.now();
try {
  await READY[lib]();
  window.startup = { ms: performance.now() - t0 };
} catch (e) {
  window.startup = { error: `${lib}: ${e?.message ?? e}` };
}
