// Several tabs of one origin in engines besides Chromium, through WebDriver (e2e/webdriver.mjs):
// each test opens "tabs" in a fresh session (its own profile: shared localStorage, BroadcastChannel
// and Web Locks between them, nothing shared with other tests). They are top-level windows, not
// tabs: WebDriver switches tabs by selecting them, which in Firefox fires `visibilitychange` and
// so starts refreshes of its own (CONTRACT.md "Lifecycle"), and WebKitGTK keeps unselected tabs
// hidden; windows all stay visible, so only the tests' calls start refreshes.
//
// Checks CONTRACT.md "Beyond one page → Tabs". Memory mode (fd-proxy's mock, `startServer`): tabs
// that cross the refresh threshold together send one refresh, a tab without the refresh token gets
// its refresh from the tab that holds it, a sign-out in one tab signs out the others. Cookie mode
// (fd-proxy, refresh tokens rotating): tabs crossing together send one refresh and all stay signed
// in. tabs.test.mjs checks much more of it in Chromium (Playwright).
//
// Who sent what: in memory mode the mock's request log (`GET /api/_mock/requests`: status, partner
// header, user, a digest of the bearer token) for what reached the server, and each tab's `fetch`
// option, a wrapper recording `METHOD /path` in `window.sent`, for which tab sent it. WebDriver has no fake clock: each page runs `Date.now()` `window.skewMs` ahead (PAGE_PRELUDE
// of webdriver.mjs), and the tests move every tab's clock alike.
import assert from "node:assert/strict";
import { copyFile, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  PAGE_HELPERS,
  ROOT,
  SHIPPED,
  USER,
  expectFdError,
  freshDir,
  mockLog,
  startFdProxy,
  startServer,
  tokenDigest,
  writeFiles,
} from "./lib.mjs";
import { ENGINES, PAGE_PRELUDE, missing, skipReason, startDriver } from "./webdriver.mjs";

const STORAGE_KEY = "fd.session";
const PARTNER = "acme-eu"; // one of alice's partners at the mock
/** What `fd("/me")` resolves with at the mock for alice and PARTNER. */
const ME = { user: "alice", name: "Alice Liddell", partnerId: PARTNER, partners: ["acme-eu", "acme-us"] };
/** 56 minutes: 4 minutes left of the mock's 1-hour tokens, under the 5-minute default threshold. */
const PAST_THRESHOLD = 56 * 60_000;
const REFRESH = "POST /api/auth/refresh_token";

const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>fd-fetch tabs</title>
${PAGE_PRELUDE}
<script>
  // The tests' start signal: go(skewMs, call) in one tab moves every tab's clock to skewMs at once
  // and, if call, starts fd("/me") in each (window.pending), so that the tabs cross the threshold
  // together (WebDriver commands to each in turn would be tens of milliseconds apart).
  window.goChannel = new BroadcastChannel("e2e-go");
  const onGo = ({ skewMs, call }) => {
    window.skewMs = skewMs;
    if (call) window.pending = attempt(() => lib.fd("/me"));
  };
  goChannel.onmessage = (e) => onGo(e.data);
  window.go = (skewMs, call) => {
    goChannel.postMessage({ skewMs, call });
    onGo({ skewMs, call });
  };
</script>
<script type="importmap">{"imports":{"fd-fetch":"/fd-fetch/index.js"}}</script>
<script type="module">
  import * as lib from "fd-fetch";
  ${PAGE_HELPERS}
  // The fetch option of every tab: records what this tab sends, and holds a refresh request back
  // window.refreshDelayMs (so that the other tabs' calls surely start while it is in flight).
  window.sent = [];
  window.refreshDelayMs = 0;
  window.recordingFetch = async (req, init) => {
    const method = ((init && init.method) || (typeof req === "object" && req.method) || "GET").toUpperCase();
    const path = new URL(typeof req === "object" && req.url ? req.url : req, location.href).pathname;
    sent.push(method + " " + path);
    if (path.endsWith("/auth/refresh_token")) await new Promise((r) => setTimeout(r, window.refreshDelayMs));
    return fetch(req, init);
  };
  window.ready = true;
</script></head><body><h1>tab</h1></body></html>`;

let server; // memory mode: fd-proxy's mock API (no refresh-token proxy), whose request log the tests read
let proxy; // cookie mode: fd-proxy, its mock API with refresh-token rotation, and the refresh-token proxy

before(async () => {
  const site = join(await freshDir("engines-tabs"), "site");
  const from = resolve(ROOT, process.env.FD_PKG ?? "pkg");
  await mkdir(join(site, "fd-fetch"), { recursive: true });
  for (const file of SHIPPED) await copyFile(join(from, file), join(site, "fd-fetch", file));
  await writeFiles(site, { "index.html": INDEX_HTML });
  server = await startServer({ staticDir: site });
  proxy = await startFdProxy(["--mock-api", "--rotate-refresh-tokens", "--token-lifetime", "120", "--static-dir", site]);
});
after(async () => {
  await server?.close();
  await proxy?.stop();
});


for (const id of ["firefox", "webkit"]) {
  describe(`tabs in ${ENGINES[id].name}`, { skip: skipReason(id) }, () => {
    let driver;

    before(async () => {
      const lacks = missing(id);
      if (lacks) throw new Error(lacks);
      driver = await startDriver(id);
    });
    after(() => driver?.stop());

    /**
     * A fresh session, quit after `t`. `open(name)` opens a tab on the page (the first in the
     * session's own window) and configures it; `in(tab, fn, ...args)` runs `fn` in that tab.
     */
    async function browserSession(t, { origin = server.origin, options = {} } = {}) {
      const s = await driver.newSession();
      t.after(() => s.quit());
      let current = await s.window();
      let first = true;
      const tabs = [];
      const inTab = async (tab, fn, ...args) => {
        if (current !== tab.handle) {
          await s.switchTo(tab.handle);
          current = tab.handle;
        }
        return s.evaluate(fn, ...args);
      };
      const explain = async () => {
        const lines = [];
        for (const tab of tabs) {
          const errors = await inTab(tab, () => window.pageErrors).catch((e) => [`(unreadable: ${e.message})`]);
          for (const e of errors ?? []) lines.push(`[${tab.name}] ${e}`);
        }
        return lines.length ? `\n  page errors:\n    ${lines.join("\n    ")}` : "";
      };
      return {
        s,
        tabs,
        in: inTab,
        explain,
        /** The caller switched windows itself: the next `in` switches back. */
        switchedAway: () => (current = null),
        async open(name) {
          const handle = first ? current : await s.newWindow("window");
          first = false;
          const tab = { name, handle };
          await s.switchTo(handle);
          current = handle;
          await s.goto(`${origin}/`);
          assert.ok(await s.waitFor(() => window.ready === true), `tab ${name} did not load the package${await explain()}`);
          const r = await inTab(
            tab,
            (api, options) =>
              attempt(() =>
                lib.configure({
                  baseUrl: api,
                  fetch: recordingFetch,
                  onSessionExpired: () => (window.expiredCalls = (window.expiredCalls ?? 0) + 1),
                  ...options,
                }),
              ),
            `${origin}/api`,
            options,
          );
          assert.equal(r.ok, true, `configure in tab ${name}: ${JSON.stringify(r)}${await explain()}`);
          tabs.push(tab);
          return tab;
        },
        /** Moves every tab's clock `ms` ahead of the real one. */
        async skewAll(ms) {
          for (const tab of tabs) await inTab(tab, (ms) => (window.skewMs = ms), ms);
        },
        /** What each tab sent to `route`: `{A: 1, B: 0, …}`. */
        async sentBy(route) {
          const counts = {};
          for (const tab of tabs) counts[tab.name] = (await inTab(tab, () => window.sent)).filter((x) => x === route).length;
          return counts;
        },
        /** Clears every tab's record of what it sent. */
        async forgetSent() {
          for (const tab of tabs) await inTab(tab, () => (window.sent.length = 0));
        },
        /** Polls `fn` in every tab until it is truthy in all of them; false after `timeoutMs`. */
        async waitAll(fn, arg, timeoutMs = 10_000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            let all = true;
            for (const tab of tabs) all = (await inTab(tab, fn, arg).catch(() => false)) && all;
            if (all) return true;
            if (Date.now() > deadline) return false;
            await sleep(50);
          }
        },
      };
    }

    /** Tab A signs alice in (A holds the refresh token); B and C open after, restoring the session. */
    async function signedInTabs(t) {
      const b = await browserSession(t);
      const a = await b.open("A");
      const signedIn = await b.in(a, (user, partnerId) => attempt(() => lib.signIn(user, { partnerId })), USER, PARTNER);
      assert.equal(signedIn.ok, true, `sign-in in A: ${JSON.stringify(signedIn)}${await b.explain()}`);
      for (const name of ["B", "C"]) {
        const tab = await b.open(name);
        const restored = await b.in(tab, () => lib.getSession());
        assert.equal(restored?.accessToken, signedIn.value.session.accessToken, `${name} restored A's session`);
      }
      await server.clearLog();
      await b.forgetSent();
      return { b, session: signedIn.value.session };
    }

    /** In-page: this tab's session is the stored one, and not `old`. */
    const holdsNewToken = (old) => {
      const s = lib.getSession();
      const saved = JSON.parse(localStorage.getItem("fd.session") ?? "null");
      return Boolean(s && saved && s.accessToken === saved.accessToken && s.accessToken !== old);
    };

    test("three tabs that cross the threshold together send one refresh, from the tab holding the refresh token", async (t) => {
      const { b, session } = await signedInTabs(t);
      for (const tab of b.tabs) await b.in(tab, () => (window.refreshDelayMs = 500));
      await b.in(b.tabs[0], (ms) => go(ms, true), PAST_THRESHOLD);
      assert.ok(await b.waitAll(() => window.pending !== undefined), "every tab started its call");
      const results = {};
      for (const tab of b.tabs) results[tab.name] = await b.in(tab, () => window.pending);
      for (const [name, r] of Object.entries(results)) assert.deepEqual(r, { ok: true, value: ME }, `tab ${name}${await b.explain()}`);

      const refreshes = await server.requestsTo(REFRESH);
      assert.deepEqual(refreshes.map((r) => [r.status, r.user]), [[200, "alice"]], "one refresh request reached the API");
      assert.deepEqual(await b.sentBy(REFRESH), { A: 1, B: 0, C: 0 }, "A, the holder, sent it");
      assert.ok(await b.waitAll(holdsNewToken, session.accessToken), "every tab holds the new token, as stored");
      const fresh = await b.in(b.tabs[0], () => lib.getSession().accessToken);
      const mes = await server.requestsTo("GET /api/me");
      assert.deepEqual(
        mes.map((r) => [r.status, r.token === tokenDigest(fresh), r.partner]),
        [
          [200, true, PARTNER],
          [200, true, PARTNER],
          [200, true, PARTNER],
        ],
        "each tab's call carried the new token and the partner id",
      );
    });

    test("a tab without the refresh token, calling alone past the threshold, gets the refresh from the holder", async (t) => {
      const { b, session } = await signedInTabs(t);
      await b.skewAll(PAST_THRESHOLD);
      const [, tabB] = b.tabs;
      const r = await b.in(tabB, () => attempt(() => lib.fd("/me")));
      assert.deepEqual(r, { ok: true, value: ME }, `B's call${await b.explain()}`);
      const refreshes = await server.requestsTo(REFRESH);
      assert.deepEqual(refreshes.map((r) => [r.status, r.user]), [[200, "alice"]], "one refresh request reached the API");
      assert.deepEqual(await b.sentBy(REFRESH), { A: 1, B: 0, C: 0 }, "A refreshed for B");
      assert.ok(await b.waitAll(holdsNewToken, session.accessToken), "every tab holds the new token, as stored");
      const fresh = await b.in(tabB, () => lib.getSession().accessToken);
      const mes = await server.requestsTo("GET /api/me");
      assert.deepEqual(mes.map((r) => [r.status, r.token, r.partner]), [[200, tokenDigest(fresh), PARTNER]], "B's call went out with the new token");
      // The refresh token A received at sign-in (PAGE_PRELUDE's record of A's network) is nowhere in B's storage.
      const [{ answer }] = await b.in(b.tabs[0], () => window.authSeen.filter((x) => x.path === "/api/auth"));
      const refreshToken = (answer.AuthenticationResult ?? answer).RefreshToken;
      assert.ok(refreshToken, "A's sign-in answer had a refresh token");
      const storage = JSON.stringify(await b.in(tabB, () => ({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })));
      assert.ok(!storage.includes(refreshToken), "the refresh token reached B's storage");
      assert.deepEqual(await b.in(tabB, () => window.authSeen), [], "B itself sent nothing to the sign-in or refresh routes");
    });

    test("a sign-out in one tab signs out the others, without navigating", async (t) => {
      const { b } = await signedInTabs(t);
      const [tabA, tabB, tabC] = b.tabs;
      await b.in(tabC, () => lib.signOut());
      const out = await b.waitAll((key) => lib.getSession() === null && localStorage.getItem(key) === null, STORAGE_KEY);
      assert.ok(out, `every tab signed out${await b.explain()}`);
      for (const tab of [tabA, tabB]) {
        const r = await b.in(tab, () => attempt(() => lib.fd("/me")));
        expectFdError(assert, r, "not_signed_in", `fd("/me") in ${tab.name} after C signed out`);
        assert.equal(await b.in(tab, () => location.pathname + ":" + (window.expiredCalls ?? 0)), "/:0", `${tab.name} stayed`);
      }
      assert.equal(await server.count("GET /api/me"), 0, "nothing was sent after the sign-out");
      // A, which held the refresh token, dropped it: past the threshold nothing can refresh.
      await b.skewAll(PAST_THRESHOLD);
      expectFdError(assert, await b.in(tabA, () => attempt(() => lib.ensureFresh())), "not_signed_in", "ensureFresh in A");
      assert.equal(await server.count(REFRESH), 0, "no refresh after the sign-out");
    });

    test("cookie mode, refresh tokens rotating: three tabs crossing together send one refresh and stay signed in", async (t) => {
      // fd-proxy's tokens live 120 s: with a 60 s threshold, 65 s on is past it and still valid.
      const options = { authUrl: proxy.proxy, refreshTokenIn: "cookie", refreshThresholdMs: 60_000 };
      const b = await browserSession(t, { origin: proxy.origin, options });
      const a = await b.open("A");
      const signedIn = await b.in(a, (user, partnerId) => attempt(() => lib.signIn(user, { partnerId })), USER, PARTNER);
      assert.equal(signedIn.ok, true, `sign-in in A: ${JSON.stringify(signedIn.error ?? signedIn.value?.status)}${await b.explain()}`);
      for (const name of ["B", "C"]) await b.open(name);
      await b.forgetSent();
      // The cookie is scoped to the proxy's path: WebDriver lists the cookies of the current
      // document's URL, so a spare window looks from there.
      const cookie = async () => {
        const spare = await b.s.newWindow("window");
        await b.s.switchTo(spare);
        await b.s.goto(`${proxy.proxy}/auth/refresh_token`);
        const found = (await b.s.cookies()).filter((c) => c.name === "fd_refresh").map((c) => c.httpOnly);
        await b.s.closeWindow();
        b.switchedAway();
        return found;
      };
      assert.deepEqual(await cookie(), [true], "the proxy set its HttpOnly cookie");

      for (const tab of b.tabs) await b.in(tab, () => (window.refreshDelayMs = 500));
      await mockLog(proxy.api).clearLog();
      await b.in(b.tabs[0], (ms) => go(ms, true), 65_000);
      assert.ok(await b.waitAll(() => window.pending !== undefined), "every tab started its call");
      const results = [];
      for (const tab of b.tabs) {
        const r = await b.in(tab, () => window.pending);
        results.push(r.ok ? `${r.value.user}/${r.value.partnerId}` : `${r.error.code}: ${r.error.message}`);
      }
      assert.deepEqual(results, ["alice/acme-eu", "alice/acme-eu", "alice/acme-eu"], `each tab's call${await b.explain()}`);
      const sent = await b.sentBy("POST /proxy/auth/refresh_token");
      assert.equal(Object.values(sent).reduce((n, x) => n + x, 0), 1, `one refresh across the tabs: ${JSON.stringify(sent)}`);
      assert.ok(await b.waitAll(holdsNewToken, signedIn.value.session.accessToken), "every tab holds the new token, as stored");
      // What reached the mock behind the proxy: one refresh, then the calls with the new token.
      const fresh = await b.in(a, () => lib.getSession().accessToken);
      const log = (await mockLog(proxy.api).requests()).map((r) => `${r.method} ${r.path} ${r.status} ${r.partner} ${r.token === tokenDigest(fresh)}`);
      assert.deepEqual(
        log.filter((x) => !x.startsWith("OPTIONS")).sort(),
        [
          "GET /api/me 200 acme-eu true",
          "GET /api/me 200 acme-eu true",
          "GET /api/me 200 acme-eu true",
          "POST /api/auth/refresh_token 200 null false",
        ],
        "the mock behind the proxy saw one refresh and three calls with the new token",
      );
      assert.deepEqual(await cookie(), [true], "the rotated cookie is still there, HttpOnly");
      assert.equal(await b.in(a, () => document.cookie.includes("fd_refresh")), false, "the cookie is not readable by script");
    });
  });
}
