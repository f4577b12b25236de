// fd in a dedicated module worker, in headless Chromium, against fd-proxy's mock behind a
// recording front server: configure with baseUrl, sign in, call, refresh, with the session in
// memory only (a worker has no localStorage; nothing lands in the origin's storage either), and a
// dead session (a 401, or a dead refresh token) rejects with session_expired and calls
// onSessionExpired once, or with no such callback still rejects.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startRecorder } from "./harness.mjs";
import { PKG, explain, launchBrowser, newPage, startFdProxy } from "./lib.mjs";

// The worker runs the scenario source it is sent (a module worker may eval: no CSP here) with the
// package it imported, and posts the result back.
const WORKER = `
import * as lib from "/pkg/index.js";
const describe = (e) =>
  e !== null && typeof e === "object"
    ? { isFdError: e instanceof lib.FdError, isError: e instanceof Error, name: e.name, code: e.code, message: String(e.message), status: e.status }
    : { thrown: String(e) };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
self.onmessage = async ({ data: { src, args } }) => {
  try {
    const fn = (0, eval)("(" + src + ")");
    self.postMessage({ done: true, value: await fn({ lib, describe, sleep, ...args }) });
  } catch (e) {
    self.postMessage({ done: true, failed: String((e && e.stack) || e) });
  }
};
self.postMessage({ ready: true, hasWindow: typeof window !== "undefined", hasLocalStorage: typeof localStorage !== "undefined" });
`;
// The page starts one worker per scenario; `window.inWorker(src, args)` gives its result.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>fd-fetch in a worker</title>
<script type="module">
  window.inWorker = (src, args) =>
    new Promise((resolve, reject) => {
      const worker = new Worker("/worker.js", { type: "module" });
      let ready;
      worker.onerror = (e) => reject(new Error("worker error: " + (e.message || "module failed to load")));
      worker.onmessage = ({ data }) => {
        if (data.ready) {
          ready = data;
          worker.postMessage({ src, args });
        } else if (data.done) {
          worker.terminate();
          data.failed ? reject(new Error("in the worker: " + data.failed)) : resolve({ worker: ready, value: data.value });
        }
      };
    });
  window.ready = true;
</script></head><body><h1>worker</h1></body></html>`;

let mock;
let rec;
let browser;

before(async () => {
  mock = await startFdProxy(["--mock-api", "--no-proxy"]);
  rec = await startRecorder({
    upstream: mock.origin,
    statics: { "/pkg/": PKG },
    pages: { "/worker.html": PAGE, "/worker.js": WORKER, "/login": "<!doctype html><title>login</title>" },
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await rec?.close();
  await mock?.stop();
});

/** Runs `scenario` in a fresh worker of a fresh page; also returns what the page's storage holds after. */
async function inWorker(scenario, args = {}) {
  const { context, page } = await newPage(browser);
  try {
    await page.goto(`${rec.origin}/worker.html`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
    const r = await page
      .evaluate(([src, a]) => window.inWorker(src, a), [scenario.toString(), { api: rec.api, ...args }])
      .catch((e) => {
        throw new Error(`${e.message}${explain(page)}`);
      });
    const storage = await page.evaluate(async () => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
      indexedDB: (await indexedDB.databases()).map((d) => d.name),
    }));
    return { ...r, storage };
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios, run inside the worker with { lib, describe, sleep, api }.

async function signInCallRefresh({ lib, describe, sleep, api }) {
  const before = await lib.fd("/me").then(
    () => "sent",
    (e) => describe(e),
  );
  const events = [];
  // Tokens live an hour: with this threshold the session is under it a second after each refresh.
  await lib.configure({ baseUrl: api, refreshThresholdMs: 3_599_000 });
  lib.onRefresh((e) => events.push(e.outcome));
  const notSignedIn = await lib.fd("/me").then(
    () => "sent",
    (e) => describe(e),
  );
  const signIn = await lib.signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-eu" });
  const first = lib.getSession();
  const me = await lib.fd("/me");
  while (lib.getSession().expiresAt - Date.now() >= 3_599_000 - 100) await sleep(100);
  const afterRefresh = await lib.fd("/orders");
  const second = lib.getSession();
  const idb = typeof indexedDB === "undefined" ? [] : (await indexedDB.databases()).map((d) => d.name);
  return {
    before: before.code ?? before,
    notSignedIn: notSignedIn.code ?? notSignedIn,
    signIn: signIn.status,
    me,
    afterRefresh: afterRefresh.partnerId,
    tokens: [first.accessToken, second.accessToken],
    partner: second.partnerId,
    events,
    idb,
    keys: Object.keys(second).sort(),
  };
}

async function deadSession({ lib, describe, sleep, api, withCallback }) {
  let expired = 0;
  const options = { baseUrl: api, refreshThresholdMs: 3_599_000 };
  if (withCallback) options.onSessionExpired = () => (expired += 1);
  await lib.configure(options);
  const call = (path, init) =>
    lib.fd(path, init).then(
      (v) => ({ ok: v }),
      (e) => ({ error: describe(e) }),
    );

  // A 401 from the API: three calls see it, the session ends once.
  await lib.signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-eu" });
  const revoke = await call("/session/revoke", { method: "POST" });
  const on401 = await Promise.all([call("/me"), call("/me"), call("/me")]);
  const after401 = { session: lib.getSession(), expired };

  // A dead refresh token: revoked while the access token was fresh, found dead at the refresh.
  await lib.signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-eu" });
  const revoke2 = await call("/session/revoke", { method: "POST" });
  while (lib.getSession().expiresAt - Date.now() >= 3_599_000 - 100) await sleep(100);
  const onDeadRefresh = await call("/me");
  return { revoke, on401, after401, revoke2, onDeadRefresh, session: lib.getSession(), expired };
}

// ---------------------------------------------------------------------------------------------

test("a module worker configures, signs in, calls and refreshes, the session in memory only", async () => {
  rec.clear();
  const { worker, value: r, storage } = await inWorker(signInCallRefresh);
  assert.deepEqual(
    worker,
    { ready: true, hasWindow: false, hasLocalStorage: false },
    "a worker: no window, no localStorage",
  );
  assert.equal(r.before, "not_configured");
  assert.equal(r.notSignedIn, "not_signed_in");
  assert.equal(r.signIn, "signed_in");
  assert.equal(r.me.user, "alice");
  assert.equal(r.me.partnerId, "acme-eu");
  assert.equal(r.afterRefresh, "acme-eu");
  assert.notEqual(r.tokens[0], r.tokens[1], "the session got a new access token");
  assert.deepEqual(r.keys, ["accessToken", "expiresAt", "partnerId"], "getSession never shows a refresh token");
  assert.deepEqual(r.events, ["fresh"], "onRefresh heard the refresh");

  // What the API saw: sign-in, the first call with the first token, one refresh, the next call with the new one.
  const routes = rec.log
    .filter((q) => q.method !== "OPTIONS" && q.path.startsWith("/api/"))
    .map((q) => `${q.method} ${q.path} ${q.status}`);
  assert.deepEqual(routes, [
    "POST /api/auth 200",
    "GET /api/me 200",
    "POST /api/auth/refresh_token 200",
    "GET /api/orders 200",
  ]);
  assert.equal(rec.to("GET /api/me")[0].authorization, `Bearer ${r.tokens[0]}`);
  assert.equal(rec.to("GET /api/orders")[0].authorization, `Bearer ${r.tokens[1]}`);
  assert.equal(rec.to("GET /api/orders")[0].partner, "acme-eu");

  // Nothing in the origin's storage, the worker's IndexedDB included.
  assert.deepEqual(r.idb, [], "no IndexedDB database in the worker");
  assert.deepEqual(storage, { local: 0, session: 0, cookie: "", indexedDB: [] }, "nothing in the origin's storage");
});

test("in a worker a dead session rejects with session_expired and calls onSessionExpired once", async () => {
  rec.clear();
  const { value: r } = await inWorker(deadSession, { withCallback: true });
  assert.equal(r.revoke.ok, null, "the revoke went through fd (204)");
  for (const c of r.on401) {
    assert.equal(c.error?.isFdError, true, JSON.stringify(c));
    assert.equal(c.error.code, "session_expired");
  }
  assert.deepEqual(r.after401, { session: null, expired: 1 }, "one dead session, one call of onSessionExpired");
  assert.equal(r.revoke2.ok, null);
  assert.equal(
    r.onDeadRefresh.error?.code,
    "session_expired",
    `a dead refresh token: ${JSON.stringify(r.onDeadRefresh)}`,
  );
  assert.equal(r.session, null);
  assert.equal(r.expired, 2, "called once more, for the second dead session");
  const refreshes = rec.to("POST /api/auth/refresh_token");
  assert.equal(refreshes.length, 1, "one refresh tried");
  assert.equal(refreshes[0].status, 401, "and the mock said the refresh token is dead");
  assert.equal(rec.to("GET /api/me").filter((q) => q.status === 401).length, 3, "each 401 call sent once");
});

test("in a worker without onSessionExpired a dead session still rejects with session_expired", async () => {
  rec.clear();
  const { value: r } = await inWorker(deadSession, { withCallback: false });
  for (const c of r.on401) assert.equal(c.error?.code, "session_expired", JSON.stringify(c));
  assert.equal(r.after401.session, null);
  assert.equal(r.onDeadRefresh.error?.code, "session_expired", JSON.stringify(r.onDeadRefresh));
  assert.equal(r.session, null);
});
