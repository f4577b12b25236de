// attachAxios with real axios (a devDependency, never shipped), in Node and in headless Chromium,
// against fd-proxy's mock behind a recording front server (e2e/harness.mjs) that shows which
// requests carried a token. Each scenario is one function run in both places: in Node with the
// built package and axios's Node build, in a page with pkg/ and axios's browser ESM build.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { inNode, inPage, startRecorder } from "./harness.mjs";
import { PAGE_HELPERS, PKG, ROOT, explain, launchBrowser, newPage, startFdProxy } from "./lib.mjs";

const USER = { username: "alice", password: "wonderland" };
const PARTNER = "acme-eu";

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>fd-fetch + axios</title>
<script type="module">
  import * as lib from "/pkg/index.js";
  import axios from "/axios/axios.js";
  ${PAGE_HELPERS}
  window.scenarioEnv = { lib, axios };
  window.ready = true;
</script></head><body><h1>axios</h1></body></html>`;
const LOGIN = `<!doctype html><html><head><meta charset="utf-8"><title>login</title></head><body>login</body></html>`;

let proxy; // the mock partner API (tokens live an hour)
let api; // recorder in front of it: the page's origin and the API's
let other; // another origin, no mock behind it
let browser;
let lib; // the package, in this Node process
let axios; // axios's Node build

before(async () => {
  proxy = await startFdProxy(["--mock-api", "--no-proxy"]);
  api = await startRecorder({
    upstream: proxy.origin,
    statics: { "/pkg/": PKG, "/axios/": join(ROOT, "node_modules", "axios", "dist", "esm") },
    pages: { "/axios.html": PAGE, "/login": LOGIN },
  });
  other = await startRecorder();
  lib = await import(pathToFileURL(join(PKG, "index.js")).href);
  axios = (await import("axios")).default;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await other?.close();
  await api?.close();
  await proxy?.stop();
});

// ---------------------------------------------------------------------------------------------
// Scenarios (see harness.mjs), given { lib, axios, describe, sleep, key, api, origin, other, user,
// partner, sentAuth }.

/** Whether the request config that axios used carried a token (what the interceptor set). */
const SENT_AUTH = `(config) => Boolean(config && config.headers && (typeof config.headers.get === "function" ? config.headers.get("Authorization") : config.headers.Authorization))`;

async function underBaseUrl({ lib, axios, describe, api, origin, user, partner }) {
  // The module-level export, on the default client.
  await lib.configure({ baseUrl: api, storageKey: "axios-default", onSessionExpired: () => {} });
  await lib.signIn(user, { partnerId: partner });
  const token = lib.getSession().accessToken;
  const viaBase = axios.create({ baseURL: api }); // url relative to a baseURL equal to baseUrl
  const absolute = axios.create(); // absolute url, no baseURL
  const joined = axios.create({ baseURL: origin }); // baseURL above the prefix, url inside it
  const detach = [viaBase, absolute, joined].map((ax) => lib.attachAxios(ax));
  const results = [];
  for (const [ax, url] of [
    [viaBase, "/me"],
    [absolute, `${api}/me`],
    [joined, "/api/me"],
    [viaBase, "me"],
  ]) {
    try {
      const r = await ax.get(url);
      results.push({ url, status: r.status, data: r.data });
    } catch (e) {
      results.push({ url, error: describe(e) });
    }
  }
  detach.forEach((d) => d());
  lib.signOut();
  return { token, results };
}

async function outsideBaseUrl({ lib, axios, describe, key, api, origin, other, user, partner, sentAuth }) {
  const sent = (0, eval)(sentAuth);
  let expired = 0;
  const client = await lib.createClient({ baseUrl: api, storageKey: key, onSessionExpired: () => (expired += 1) });
  await client.signIn(user, { partnerId: partner });
  const ax = axios.create({ baseURL: api });
  const detach = client.attachAxios(ax);
  const otherHost = other.replace(/^https?:/, "");
  const urls = [
    `${other}/api/me`, // another origin
    `${otherHost}/api/me`, // protocol-relative: another origin
    `${origin}/apix/me`, // a sibling path that starts with the prefix's characters
    `${origin}/other/x`, // a sibling path
    "/../other/dotdot", // leaves the prefix once resolved
    "/%2e%2e/other/encoded", // the same, percent-encoded
    `${api}/./../other/dots`,
    `${other}/x/401`, // a 401 from outside ends nothing
  ];
  const results = [];
  for (const url of urls) {
    try {
      const r = await ax.get(url);
      results.push({ url, status: r.status, sentAuth: sent(r.config) });
    } catch (e) {
      results.push({
        url,
        error: describe(e),
        isAxiosError: axios.isAxiosError(e),
        status: e?.response?.status,
        sentAuth: sent(e?.config),
      });
    }
  }
  // And one inside, to show this instance does attach tokens.
  const inside = await ax.get("/me").then(
    (r) => ({ status: r.status, sentAuth: sent(r.config) }),
    (e) => ({ error: describe(e) }),
  );
  const signedIn = client.getSession() !== null;
  detach();
  client.close();
  return { results, inside, signedIn, expired };
}

async function concurrentUnderThreshold({ lib, axios, describe, sleep, key, api, user, partner }) {
  // The mock's tokens live an hour: with this threshold a session is under it one second in.
  const threshold = 3_599_000;
  const client = await lib.createClient({ baseUrl: api, storageKey: key, refreshThresholdMs: threshold });
  const events = [];
  client.onRefresh((e) => events.push(e));
  await client.signIn(user, { partnerId: partner });
  const before = client.getSession().accessToken;
  while (client.getSession().expiresAt - Date.now() >= threshold - 100) await sleep(100);
  const ax = axios.create({ baseURL: api });
  const detach = client.attachAxios(ax);
  const settled = await Promise.allSettled(Array.from({ length: 5 }, () => ax.get("/me")));
  const after = client.getSession().accessToken;
  detach();
  client.close();
  return {
    changed: before !== after,
    after,
    results: settled.map((s) =>
      s.status === "fulfilled" ? { status: s.value.status, data: s.value.data } : { error: describe(s.reason) },
    ),
    events: events.map(({ outcome, source }) => ({ outcome, source })),
  };
}

async function unauthorizedOnce({ lib, axios, describe, key, api, user, partner }) {
  let expired = 0;
  const client = await lib.createClient({ baseUrl: api, storageKey: key, onSessionExpired: () => (expired += 1) });
  const changes = [];
  client.onSessionChange((s) => changes.push(s === null ? null : "session"));
  await client.signIn(user, { partnerId: partner });
  const ax = axios.create({ baseURL: api });
  const detach = client.attachAxios(ax);
  const revoke = await ax.post("/session/revoke").then(
    (r) => r.status,
    (e) => describe(e),
  );
  const settled = await Promise.allSettled([ax.get("/me"), ax.get("/me"), ax.get("/me")]);
  const result = {
    revoke,
    errors: settled.map((s) => (s.status === "fulfilled" ? { fulfilled: s.value.status } : describe(s.reason))),
    expired,
    session: client.getSession(),
    lastChange: changes.at(-1),
  };
  detach();
  client.close();
  return result;
}

async function detached({ lib, axios, describe, key, api, user, partner, sentAuth }) {
  const sent = (0, eval)(sentAuth);
  let expired = 0;
  const client = await lib.createClient({ baseUrl: api, storageKey: key, onSessionExpired: () => (expired += 1) });
  await client.signIn(user, { partnerId: partner });
  const ax = axios.create({ baseURL: api });
  const detach = client.attachAxios(ax);
  const attached = await ax.get("/me").then(
    (r) => ({ status: r.status, sentAuth: sent(r.config) }),
    (e) => ({ error: describe(e) }),
  );
  detach();
  const after = await ax.get("/me").then(
    (r) => ({ status: r.status }),
    (e) => ({
      error: describe(e),
      isAxiosError: axios.isAxiosError(e),
      status: e?.response?.status,
      sentAuth: sent(e?.config),
    }),
  );
  const result = { attached, after, expired, signedIn: client.getSession() !== null };
  client.close();
  return result;
}

// ---------------------------------------------------------------------------------------------
// Runners

let keys = 0;
function args() {
  keys += 1;
  return {
    key: `axios-${keys}`,
    api: api.api,
    origin: api.origin,
    other: other.origin,
    user: USER,
    partner: PARTNER,
    sentAuth: SENT_AUTH,
  };
}

const inNodeHere = (scenario) => inNode(scenario, { lib, axios }, args());
const inChromium = (scenario) => inPage(browser, `${api.origin}/axios.html`, scenario, args());

const RUNTIMES = { node: inNodeHere, chromium: inChromium };

function clearLogs() {
  api.clear();
  other.clear();
}

for (const [where, runIn] of Object.entries(RUNTIMES)) {
  test(`${where}: requests under baseUrl get both headers from the session`, async () => {
    clearLogs();
    const r = await runIn(underBaseUrl);
    for (const x of r.results) {
      assert.equal(x.status, 200, `${x.url}: ${JSON.stringify(x)}`);
      assert.equal(x.data.user, "alice");
      assert.equal(x.data.partnerId, PARTNER, `${x.url}: the mock saw the partner`);
    }
    const me = api.to("GET /api/me");
    assert.equal(me.length, r.results.length, "one request each, no retry");
    for (const q of me) {
      assert.equal(q.authorization, `Bearer ${r.token}`, "the session's access token");
      assert.equal(q.partner, PARTNER, "and its partner id");
    }
  });

  test(`${where}: URLs outside baseUrl get no token, and their 401 ends nothing`, async () => {
    clearLogs();
    const r = await runIn(outsideBaseUrl);
    assert.deepEqual(r.inside, { status: 200, sentAuth: true }, "a URL inside gets the token");
    for (const x of r.results)
      assert.equal(x.sentAuth, false, `no Authorization on the request config for ${x.url}: ${JSON.stringify(x)}`);
    const leaked = [...api.withCredentials(), ...other.withCredentials()];
    assert.deepEqual(
      leaked.map((q) => `${q.method} ${q.path}`),
      ["GET /api/me"],
      `only the URL inside carried a token or partner id; log: ${JSON.stringify([...api.log, ...other.log])}`,
    );
    const outside401 = r.results.at(-1);
    assert.equal(outside401.status, 401);
    assert.equal(outside401.isAxiosError, true, "a 401 from outside stays axios's own error");
    assert.notEqual(outside401.error.code, "session_expired");
    assert.equal(r.signedIn, true, "still signed in");
    assert.equal(r.expired, 0, "onSessionExpired not called");
    // The sibling paths, the dot-dot and the other origin were reached without a token.
    assert.ok(other.to("GET /api/me").length >= 1, "the other origin was called");
    assert.ok(
      api.to("GET /apix/me").length === 1 && api.to("GET /other/x").length === 1,
      "the sibling paths were called",
    );
  });

  test(`${where}: concurrent requests under the threshold make one refresh`, async () => {
    clearLogs();
    const r = await runIn(concurrentUnderThreshold);
    assert.equal(r.results.length, 5);
    for (const x of r.results) assert.equal(x.status, 200, JSON.stringify(x));
    assert.equal(api.to("POST /api/auth/refresh_token").length, 1, "one refresh request");
    assert.equal(r.changed, true, "the session has a new token");
    const me = api.to("GET /api/me");
    assert.equal(me.length, 5);
    for (const q of me)
      assert.equal(q.authorization, `Bearer ${r.after}`, "every request went with the refreshed token");
    assert.deepEqual(r.events, [{ outcome: "fresh", source: "this_tab" }], "onRefresh heard one refresh");
  });

  test(`${where}: a 401 ends the session once, is not retried, and rejects with FdError session_expired`, async () => {
    clearLogs();
    const r = await runIn(unauthorizedOnce);
    assert.equal(r.revoke, 204, `the revoke went through axios with the token: ${JSON.stringify(r.revoke)}`);
    assert.equal(r.errors.length, 3);
    for (const e of r.errors) {
      assert.equal(e.isFdError, true, JSON.stringify(e));
      assert.equal(e.name, "FdError");
      assert.equal(e.code, "session_expired");
      assert.equal(e.status, 401);
    }
    assert.equal(r.expired, 1, "onSessionExpired called once");
    assert.equal(r.session, null, "signed out");
    assert.equal(r.lastChange, null, "onSessionChange heard the end");
    const me = api.to("GET /api/me");
    assert.equal(me.length, 3, "each request sent once: never retried");
    assert.ok(me.every((q) => q.status === 401));
    assert.equal(api.to("POST /api/auth/refresh_token").length, 0, "no refresh attempted");
  });

  test(`${where}: the returned function ejects both interceptors`, async () => {
    clearLogs();
    const r = await runIn(detached);
    assert.deepEqual(r.attached, { status: 200, sentAuth: true });
    assert.equal(r.after.sentAuth, false, "no token once detached (request interceptor gone)");
    assert.equal(r.after.status, 401, "the mock refuses the call without a token");
    assert.equal(r.after.isAxiosError, true, "axios's own error: the response interceptor is gone too");
    assert.notEqual(r.after.error.isFdError, true);
    assert.equal(r.signedIn, true, "the 401 did not end the session");
    assert.equal(r.expired, 0);
    const me = api.to("GET /api/me");
    assert.deepEqual(
      me.map((q) => q.authorization !== null),
      [true, false],
      "the first call carried a token, the second none",
    );
  });
}

test("chromium: without onSessionExpired, a 401 through axios sends the page to loginUrl once", async () => {
  clearLogs();
  const { context, page } = await newPage(browser);
  try {
    const logins = [];
    page.on("request", (r) => {
      if (r.isNavigationRequest() && new URL(r.url()).pathname === "/login") logins.push(r.url());
    });
    await page.goto(`${api.origin}/axios.html`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
    const started = await page.evaluate(
      async ({ apiUrl, user, partner }) => {
        const { lib, axios } = window.scenarioEnv;
        const client = await lib.createClient({ baseUrl: apiUrl, storageKey: "axios-nav" });
        await client.signIn(user, { partnerId: partner });
        const ax = axios.create({ baseURL: apiUrl });
        client.attachAxios(ax);
        const revoke = (await ax.post("/session/revoke")).status;
        // Three requests see the 401; the page is on its way to /login while they settle.
        window.navResults = [];
        for (let i = 0; i < 3; i++) {
          ax.get("/me").then(
            () => window.navResults.push("ok"),
            (e) => window.navResults.push(e && e.code),
          );
        }
        return revoke;
      },
      { apiUrl: api.api, user: USER, partner: PARTNER },
    );
    assert.equal(started, 204);
    await page.waitForURL(`${api.origin}/login`, { timeout: 15_000 }).catch((e) => {
      throw new Error(`${e.message}${explain(page)}`);
    });
    await page.waitForLoadState("load");
    assert.deepEqual(logins, [`${api.origin}/login`], "one navigation to /login");
    assert.equal(await page.evaluate(() => localStorage.getItem("axios-nav")), null, "the session entry is gone");
    const me = api.to("GET /api/me");
    assert.ok(me.length >= 1 && me.length <= 3 && me.every((q) => q.status === 401), `no retry: ${JSON.stringify(me)}`);
  } finally {
    await context.close();
  }
});
