// An in-page stand-in for the partner API, handed to fd-fetch as its injected `fetch`. It answers
// with real `Response` objects, records every request it sees, and can hold, fail or stall a route
// so that tests can interleave a refresh with other calls. Tokens carry "SECRET" so that a test can
// look for them anywhere they must not be.

let serial = 0;
const b64url = (s) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** A JWT-shaped access token issued now for `lifetime` seconds, unique per call. */
export function jwt(lifetime) {
  const iat = Math.floor(Date.now() / 1000);
  serial += 1;
  return `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify({ sub: "alice", iat, exp: iat + lifetime, jti: serial }))}.SECRET${serial}`;
}

const json = (status, value) =>
  new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });

export class FakeApi {
  constructor() {
    this.records = [];
    this.routes = new Map();
    this.gates = new Map(); // path -> { promise, open }
    this.expiredCalls = 0;
    this.lifetime = 3600;
    this.refreshToken = "refresh-SECRET-1";
    this.issued = []; // every access token this fake handed out, kept on the JS side only
    this.fetch = (input, init) => this.handle(input, init);
    this.onExpired = () => {
      this.expiredCalls += 1;
    };
    this.route("POST", "/api/auth", () =>
      json(200, {
        AuthenticationResult: {
          AccessToken: this.jwt(),
          IdToken: "id-token-SECRET",
          RefreshToken: this.refreshToken,
          ExpiresIn: this.lifetime,
          TokenType: "Bearer",
        },
      }),
    );
    this.route("POST", "/api/auth/refresh_token", () =>
      json(200, { AccessToken: this.jwt(), IdToken: "id-token-SECRET", TokenType: "Bearer" }),
    );
    this.route("GET", "/api/me", (r) =>
      json(200, { auth: r.headers["authorization"] ?? null, partner: r.headers["x-preferred-partner-id"] ?? null }),
    );
  }

  /** A new access token, remembered in `issued`. */
  jwt() {
    const token = jwt(this.lifetime);
    this.issued.push(token);
    return token;
  }

  /** From now on sign-in hands out a refresh token no test source contains (so none is in wasm memory). */
  uniqueRefreshToken() {
    this.refreshToken = `rt-${crypto.randomUUID()}-SECRET`;
  }

  route(method, path, handler) {
    this.routes.set(`${method} ${path}`, handler);
  }

  /** A fixed answer for `method path`. */
  reply(method, path, status, body, contentType) {
    this.route(method, path, () => {
      const headers = contentType ? { "content-type": contentType } : {};
      return new Response(status === 204 || status === 205 ? null : body, { status, headers });
    });
  }

  /** Requests to `path` wait (before being answered) until `release(path)`. */
  hold(path) {
    let open;
    const promise = new Promise((resolve) => (open = resolve));
    this.gates.set(path, { promise, open });
  }
  release(path) {
    this.gates.get(path)?.open();
    this.gates.delete(path);
  }
  /** Requests to `path` fail as a network error would. */
  fail(method, path) {
    this.route(method, path, () => Promise.reject(new TypeError("Failed to fetch")));
  }
  /** Requests to `path` never answer, and ignore their signal: a fetch that drops it. */
  deaf(path) {
    this.deafPaths = (this.deafPaths ?? new Set()).add(path);
  }
  /** Requests to `path` never answer, until their signal aborts. */
  stall(method, path) {
    this.route(method, path, () => new Promise(() => {}));
  }

  async handle(request, init) {
    // fd-fetch passes a Request; the benchmark's baseline passes (url, init), as most code does.
    const input = request instanceof Request ? request : new Request(request, init);
    const url = new URL(input.url);
    const body = input.method === "GET" || input.method === "HEAD" ? "" : await input.clone().text();
    const record = {
      method: input.method,
      path: url.pathname + url.search,
      url: input.url,
      headers: Object.fromEntries(input.headers.entries()),
      body,
      credentials: input.credentials,
      redirect: input.redirect,
      mode: input.mode,
    };
    this.records.push(record);
    if (this.deafPaths?.has(url.pathname)) return new Promise(() => {});
    const signal = input.signal;
    const answer = (async () => {
      const gate = this.gates.get(url.pathname);
      if (gate) await gate.promise;
      const handler = this.routes.get(`${input.method} ${url.pathname}`);
      return handler ? handler(record, input) : new Response("no such route", { status: 404 });
    })();
    // Like a real fetch: an abort rejects with the signal's reason, whatever the server is doing.
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      answer.then(resolve, reject);
    });
  }

  count(path) {
    return this.records.filter((r) => new URL(r.url).pathname === path).length;
  }
  /** Requests to `path`, oldest first. */
  requests(path) {
    return this.records.filter((r) => new URL(r.url).pathname === path);
  }
}

/** Everything a script can read from web storage and cookies, as one string. */
export async function scriptVisibleStorage() {
  const parts = [document.cookie];
  for (const store of [localStorage, sessionStorage]) {
    for (let i = 0; i < store.length; i++) parts.push(store.key(i), store.getItem(store.key(i)));
  }
  if (indexedDB.databases) parts.push(...(await indexedDB.databases()).map((d) => d.name));
  return parts.join("\n");
}

export function localKeys() {
  return Object.keys(localStorage);
}

const saved = {};
/** Makes every Storage method throw, as when storage is blocked or full. */
export function breakStorage() {
  for (const m of ["getItem", "setItem", "removeItem"]) {
    saved[m] = Storage.prototype[m];
    Storage.prototype[m] = () => {
      throw new DOMException("storage is blocked", "SecurityError");
    };
  }
}
export function mendStorage() {
  for (const m of Object.keys(saved)) Storage.prototype[m] = saved[m];
}

let ownLocalStorage;
/** Makes the `localStorage` getter itself throw, as when the browser blocks storage outright. */
export function blockStorage() {
  ownLocalStorage = Object.getOwnPropertyDescriptor(window, "localStorage");
  Object.defineProperty(window, "localStorage", {
    configurable: true,
    get() {
      throw new DOMException("access denied", "SecurityError");
    },
  });
}
export function unblockStorage() {
  delete window.localStorage;
  if (ownLocalStorage) Object.defineProperty(window, "localStorage", ownLocalStorage);
}

/** A browser without Web Locks (or a frame denied them): `navigator.locks` is undefined. */
export function hideLocks() {
  Object.defineProperty(navigator, "locks", { configurable: true, value: undefined });
}
export function showLocks() {
  delete navigator.locks;
}

/** Another tab wrote (or, with null, removed) `key`. */
export function fireStorage(key, newValue) {
  window.dispatchEvent(new StorageEvent("storage", { key, newValue, storageArea: localStorage }));
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether wasm `memory` holds the UTF-8 bytes of `text` anywhere (freed memory included). */
export function memoryHolds(memory, text) {
  const hay = new Uint8Array(memory.buffer);
  const needle = new TextEncoder().encode(text);
  const first = needle[0];
  for (let i = hay.indexOf(first); i !== -1 && i <= hay.length - needle.length; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}

/** Whether `memory` holds the refresh token `api` handed out, or any access token it issued. */
export function memoryHoldsTokensOf(memory, api) {
  return [api.refreshToken, ...api.issued].filter((t) => memoryHolds(memory, t));
}

/** An object whose `key` getter throws. */
export function throwingGetter(key) {
  return Object.defineProperty({}, key, {
    enumerable: true,
    get() {
      throw new Error("getter threw");
    },
  });
}

/** Sets (or, with undefined, deletes) `Object.prototype[key]`: prototype pollution elsewhere in an app. */
export function pollute(key, value) {
  if (value === undefined) delete Object.prototype[key];
  else Object.prototype[key] = value;
}

/** From now on, the messages of errors reported to the page (`reportError`, uncaught), live. */
export function watchReported() {
  const seen = [];
  window.addEventListener("error", (e) => {
    seen.push(String(e.error?.message ?? e.message));
    e.preventDefault();
  });
  return seen;
}

/**
 * A FakeApi for long runs (tests/soak.rs): it counts requests per path instead of recording each
 * one, so that the fake itself does not grow the heap the soak watches. Routes and `count` work as
 * in FakeApi; `records`, `requests`, gates, `stall` and aborts do not.
 */
export class SoakApi extends FakeApi {
  constructor() {
    super();
    this.tally = new Map();
  }

  async handle(request, init) {
    const input = request instanceof Request ? request : new Request(request, init);
    const path = new URL(input.url).pathname;
    this.tally.set(path, (this.tally.get(path) ?? 0) + 1);
    const handler = this.routes.get(`${input.method} ${path}`);
    if (!handler) return new Response("no such route", { status: 404 });
    return handler({ method: input.method, path, headers: Object.fromEntries(input.headers.entries()) }, input);
  }

  count(path) {
    return this.tally.get(path) ?? 0;
  }
}

/**
 * What the soak measures: the JS heap in use (Chromium's `performance.memory`, else null), after a
 * forced garbage collection where the page may force one (`gc`, with `--js-flags=--expose-gc`).
 */
export function jsHeap() {
  const forced = typeof globalThis.gc === "function";
  if (forced) globalThis.gc();
  const used = globalThis.performance?.memory?.usedJSHeapSize;
  return { used: typeof used === "number" ? used : null, forced };
}

/** Prints `line` where wasm-bindgen-test-runner prints its own results, so it shows in `npm test`. */
export function report(line) {
  const out = globalThis.document?.getElementById("output");
  if (out) out.textContent += line + "\n";
  else console.log(line);
}

/** The names of the Web Locks held in this origin (held, not pending). */
export async function heldLockNames() {
  const { held = [] } = await navigator.locks.query();
  return held.map((l) => l.name);
}

/** Posts `data` on the BroadcastChannel `name`, as another tab would. */
export function postOn(name, data) {
  const channel = new BroadcastChannel(name);
  channel.postMessage(data);
  channel.close();
}

/**
 * A stand-in for an axios instance, enough for `attachAxios`: interceptor managers with `use` and
 * `eject`, request interceptors run last-registered first and response ones in order, as axios
 * does; the final URL made as axios's `buildFullPath` makes it; a status of 400 or more rejects
 * with an error carrying `config` and `response`. Headers are a plain object (axios 0.x); the
 * e2e suites use the real axios 1.x with its AxiosHeaders.
 */
class Manager {
  constructor() {
    this.handlers = [];
  }
  use(fulfilled, rejected) {
    this.handlers.push({ fulfilled, rejected });
    return this.handlers.length - 1;
  }
  eject(id) {
    this.handlers[id] = null;
  }
}
export class MiniAxios {
  constructor(baseURL, fetch) {
    this.baseURL = baseURL;
    this.fetch = fetch;
    this.interceptors = { request: new Manager(), response: new Manager() };
  }
  async request(config) {
    config = { baseURL: this.baseURL, method: "GET", ...config, headers: { ...config.headers } };
    for (const h of [...this.interceptors.request.handlers].reverse()) if (h) config = await h.fulfilled(config);
    let p = this.send(config);
    for (const h of this.interceptors.response.handlers) if (h) p = p.then(h.fulfilled, h.rejected);
    return p;
  }
  async send(config) {
    const rel = config.url ?? "";
    const absolute = /^([a-z][a-z\d+\-.]*:)?\/\//i.test(rel);
    const url = config.baseURL && !absolute ? config.baseURL.replace(/\/?\/$/, "") + "/" + rel.replace(/^\/+/, "") : rel;
    const res = await this.fetch(new Request(new URL(url, location.href), { method: config.method, headers: config.headers }));
    const text = await res.text();
    const response = { status: res.status, data: text, config };
    if (res.status >= 400) {
      const e = new Error(`Request failed with status code ${res.status}`);
      e.config = config;
      e.response = response;
      throw e;
    }
    return response;
  }
}
