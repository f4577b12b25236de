// Several tabs of one origin (pages of ONE browser context: shared localStorage, cookies,
// BroadcastChannel and Web Locks) against fd-proxy's mock API and refresh-token proxy, on the
// page's own origin. Checks CONTRACT.md "Beyond one page → Tabs" and "→ Lifecycle", and from
// "Hardening" the items on interleaved auth operations, cookie-mode session end and reload, and
// short-lived tokens. The mock's tokens live 120 s; with `refreshThresholdMs: 60_000` a refresh
// falls due 60 s after each new token, and the context's fake clock crosses that point with
// `fastForward(65_000)` while the server (on the real clock) still accepts the token.
//
// The package under test is `$FD_PKG` (default `pkg`), copied as shipped into a static site.
import assert from "node:assert/strict";
import { copyFile, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { PAGE_HELPERS, ROOT, SHIPPED, decodeJwt, expectFdError, freshDir, launchBrowser, startFdProxy, writeFiles } from "./lib.mjs";

const STORAGE_KEY = "fd.session";
const LOCK_NAME = `fd-fetch:${STORAGE_KEY}`;
const ALICE = { username: "alice", password: "wonderland" };
const BOB = { username: "bob", password: "builder" };
/** Past the refresh point of a 120 s token (60 s threshold), inside the 120 s the server accepts. */
const CROSS = 65_000;
/** Past the expiry of a 120 s token in the page's view; the server still accepts it. */
const EXPIRE = 125_000;

// The page: the package through an import map, the helpers of lib.mjs, a recorder of what the
// library posts on its BroadcastChannel (a second channel object of the same name receives what
// the library's channels in this and other tabs post), and a fetch the tests can delay or hang.
const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>fd-fetch tabs</title>
<script type="importmap">{"imports":{"fd-fetch":"/fd-fetch/index.js"}}</script>
<script type="module">
  import * as lib from "fd-fetch";
  ${PAGE_HELPERS}
  const seen = [];
  const bc = new BroadcastChannel(${JSON.stringify(LOCK_NAME)});
  bc.onmessage = (e) => seen.push(JSON.stringify(e.data));
  window.channelMessages = seen;
  window.fetchHook = null;
  window.testFetch = (req, init) => (window.fetchHook ? window.fetchHook(req, init) : fetch(req, init));
  window.ready = true;
</script></head><body><h1>tab</h1></body></html>`;

const COMMON_ARGS = ["--mock-api", "--token-lifetime", "120", "--refresh-delay-ms", "500"];

let rot; // fd-proxy with --rotate-refresh-tokens
let plain; // fd-proxy without rotation
let browser;

before(async () => {
  const dir = await freshDir("tabs");
  const site = join(dir, "site");
  const from = resolve(ROOT, process.env.FD_PKG ?? "pkg");
  await mkdir(join(site, "fd-fetch"), { recursive: true });
  for (const file of SHIPPED) await copyFile(join(from, file), join(site, "fd-fetch", file));
  await writeFiles(site, { "index.html": INDEX_HTML });

  const staticArgs = ["--static-dir", site];
  rot = await startFdProxy([...COMMON_ARGS, "--rotate-refresh-tokens", ...staticArgs]);
  plain = await startFdProxy([...COMMON_ARGS, ...staticArgs]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await Promise.all([rot?.stop(), plain?.stop()]);
});

// ---------------------------------------------------------------------------------------------
// Traffic: every request of the context, with the tab that sent it, in event order.

const AUTH_PATH = /\/(api|proxy)\/auth(\/|$)/;

function recordTraffic(context) {
  const events = [];
  let seq = 0;
  let bodyReads = 0;
  const info = (req) => {
    let tab = "?";
    try {
      tab = req.frame().page().tabName ?? "?";
    } catch {
      /* a request without a page */
    }
    const url = new URL(req.url());
    return { req, tab, method: req.method(), path: url.pathname, route: `${req.method()} ${url.pathname}` };
  };
  context.on("request", (r) =>
    events.push({ type: "request", seq: seq++, ...info(r), body: r.postData(), auth: r.headers().authorization }),
  );
  context.on("response", (resp) => {
    const ev = { type: "response", seq: seq++, ...info(resp.request()), status: resp.status() };
    events.push(ev);
    if (AUTH_PATH.test(ev.path)) {
      bodyReads++;
      resp
        .text()
        .then((b) => (ev.body = b))
        .catch(() => {})
        .finally(() => bodyReads--);
    }
  });
  context.on("requestfinished", (r) => events.push({ type: "finished", seq: seq++, ...info(r) }));
  context.on("requestfailed", (r) =>
    events.push({ type: "failed", seq: seq++, ...info(r), error: r.failure()?.errorText }),
  );

  const of = (type, route, since = 0) =>
    events.filter((e) => e.type === type && e.seq >= since && (!route || e.route === route));
  return {
    events,
    /** The sequence number the next event gets: pass it as `since`. */
    mark: () => seq,
    requests: (route, since) => of("request", route, since),
    responses: (route, since) => of("response", route, since),
    /** Resolves once a request to `route` (after `since`) was sent, or rejects after `timeoutMs`. */
    async waitForRequest(route, since = 0, timeoutMs = 5000, what = route) {
      const deadline = Date.now() + timeoutMs;
      while (of("request", route, since).length === 0) {
        if (Date.now() > deadline) throw new Error(`no ${what} request was sent within ${timeoutMs} ms`);
        await sleep(20);
      }
      return of("request", route, since)[0];
    },
    /**
     * Waits until every request sent has finished or failed, every auth answer's body was read and
     * nothing new happened for 250 ms (at most `timeoutMs`; requests that hang are left pending).
     */
    async quiet(timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      let last = -1;
      let stableSince = Date.now();
      while (Date.now() < deadline) {
        const done = new Set(events.filter((e) => e.type === "finished" || e.type === "failed").map((e) => e.req));
        const pending = events.filter((e) => e.type === "request" && !done.has(e.req)).length;
        if (events.length !== last) {
          last = events.length;
          stableSince = Date.now();
        } else if (pending === 0 && bodyReads === 0 && Date.now() - stableSince >= 250) {
          return;
        }
        await sleep(25);
      }
    },
  };
}

const refreshRoute = (mode) => `POST /${mode === "cookie" ? "proxy" : "api"}/auth/refresh_token`;
const logoutRoute = "POST /proxy/auth/logout";

/** `{A: 1, B: 0}`-style count of refresh requests per tab. */
const byTab = (events) => events.reduce((m, e) => ((m[e.tab] = (m[e.tab] ?? 0) + 1), m), {});

// ---------------------------------------------------------------------------------------------
// Tabs

/**
 * A fresh context (its own storage and cookies) on `server`, closed after `t`; the fake clock is
 * installed before any page opens, so every tab shares it. `open(name, options)` opens a tab on
 * the page and configures it (unless `options === false`).
 */
async function scenario(t, { server = rot, mode = "memory" } = {}) {
  const context = await browser.newContext();
  t.after(() => context.close().catch(() => {}));
  await context.clock.install();
  const traffic = recordTraffic(context);
  const tabs = [];
  const s = {
    context,
    traffic,
    tabs,
    server,
    mode,
    refreshes: (since) => traffic.requests(refreshRoute(mode), since),
    fastForward: (ms) => context.clock.fastForward(ms),
    async open(name, options = {}) {
      const page = await context.newPage();
      page.tabName = name;
      page.logs = [];
      page.on("console", (m) => page.logs.push(`[${name}] console.${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => page.logs.push(`[${name}] pageerror: ${e.stack ?? e.message}`));
      await page.goto(`${server.origin}/`);
      await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 }).catch((e) => {
        throw new Error(`tab ${name} did not load the package: ${e.message}${explain(page)}`);
      });
      if (options !== false) {
        const r = await configure(page, server, { mode, ...options });
        assert.equal(r.ok, true, `configure in tab ${name}: ${JSON.stringify(r)}${explain(page)}`);
      }
      tabs.push(page);
      return page;
    },
    /** Opens tabs `names` (after the first, signed in) and configures each. */
    async openMany(names, options) {
      const pages = [];
      for (const name of names) pages.push(await s.open(name, options));
      return pages;
    },
    explain: () => tabs.map(explain).join(""),
  };
  return s;
}

const explain = (page) => (page.logs?.length ? `\n  page log:\n    ${page.logs.join("\n    ")}` : "");

/**
 * `lib.configure` in `page`: memory mode (or cookie mode through the proxy), a 60 s threshold,
 * `onSessionExpired` counting into `window.expiredCalls` (so no tab navigates away), and
 * `fetch: testFetch` with `hook: true`. `omit` lists options to leave out.
 */
function configure(page, server, { mode = "memory", hook = false, omit = [], ...extra } = {}) {
  return page.evaluate(
    ([origin, mode, hook, omit, extra]) => {
      const options = {
        baseUrl: origin + "/api",
        refreshThresholdMs: 60_000,
        ...(mode === "cookie" ? { authUrl: origin + "/proxy", refreshTokenIn: "cookie" } : {}),
        ...(hook ? { fetch: testFetch } : {}),
        onSessionExpired: () => {
          window.expiredCalls = (window.expiredCalls ?? 0) + 1;
        },
        ...extra,
      };
      for (const key of omit) delete options[key];
      return attempt(() => lib.configure(options));
    },
    [server.origin, mode, hook, omit, extra],
  );
}

const signInAlice = (page, partnerId = "acme-eu") =>
  page.evaluate(([user, partnerId]) => attempt(() => lib.signIn(user, { partnerId })), [ALICE, partnerId]);

/** bob signs in: `mfa_required`, then the code. */
const signInBob = (page) =>
  page.evaluate(
    (user) =>
      attempt(async () => {
        const first = await lib.signIn(user, { partnerId: "builders-uk" });
        if (first.status !== "mfa_required") throw new Error(`expected mfa_required, got ${JSON.stringify(first)}`);
        return lib.completeMfa({ code: "123456" });
      }),
    BOB,
  );

async function mustSignIn(page, who = "alice", partnerId) {
  const r = who === "bob" ? await signInBob(page) : await signInAlice(page, partnerId);
  assert.equal(r.ok, true, `${who} signs in in tab ${page.tabName}: ${JSON.stringify(redact(r))}${explain(page)}`);
  assert.equal(r.value.status, "signed_in");
  return r.value.session;
}

const fdMe = (page) => page.evaluate(() => attempt(() => lib.fd("/me")));

/** Starts `fd(path, init)` in `page` without awaiting it; `settled(page)` gives its result. */
const startCall = (page, path = "/me", init) =>
  page.evaluate(
    ([path, init]) => {
      window.pending = attempt(() => lib.fd(path, init));
    },
    [path, init],
  );

/** The started call's result, or `"still pending"` after `timeoutMs` (real time). */
async function settled(page, timeoutMs = 15_000) {
  return Promise.race([page.evaluate(() => window.pending), sleep(timeoutMs).then(() => "still pending")]);
}

/** A compact, token-free view of an `fd("/me")` result. */
const meView = (r) =>
  r === "still pending"
    ? r
    : r.ok
      ? { ok: true, user: r.value?.user, partnerId: r.value?.partnerId }
      : { ok: false, code: r.error?.code, status: r.error?.status, message: r.error?.message };

/** What a tab holds: `getSession()`, the saved entry, localStorage's keys, onSessionExpired calls. */
const tabState = (page) =>
  page.evaluate((key) => {
    let session;
    try {
      session = lib.getSession();
    } catch (e) {
      session = { error: describeError(e) };
    }
    return {
      session,
      saved: localStorage.getItem(key),
      keys: Object.keys(localStorage),
      expiredCalls: window.expiredCalls ?? 0,
    };
  }, STORAGE_KEY);

const savedToken = (state) => (state.saved ? JSON.parse(state.saved).accessToken : null);
const sub = (token) => {
  try {
    return decodeJwt(token).sub;
  } catch {
    return "(not a JWT)";
  }
};

/**
 * Polls `fn(arg)` in every page until it is truthy in all of them (`fn` may be async). Resolves
 * with true, or false after `timeoutMs` (the caller asserts, with the state it finds).
 */
async function waitAll(pages, fn, arg, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const values = await Promise.all(pages.map((p) => p.evaluate(fn, arg).catch(() => false)));
    if (values.every(Boolean)) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** In-page predicate: getSession() is non-null and shows the saved token. */
const inSync = (key) => {
  const s = lib.getSession();
  const saved = JSON.parse(localStorage.getItem(key) ?? "null");
  return Boolean(s && saved && s.accessToken === saved.accessToken);
};

/** In-page predicate: signed out here and in storage. */
const signedOut = (key) => lib.getSession() === null && localStorage.getItem(key) === null;

/** Every tab's getSession() agrees with storage (waited for), and they all show one token. */
async function sameSessionEverywhere(tabs) {
  await waitAll(tabs, inSync, STORAGE_KEY);
  const states = await Promise.all(tabs.map(tabState));
  const tokens = new Set(states.map((s) => s.session?.accessToken ?? null));
  return {
    signedIn: states.filter((s) => s.session && !s.session.error).length,
    agreeWithStorage: states.filter((s) => s.session && s.session.accessToken === savedToken(s)).length,
    distinctTokens: tokens.size,
    token: tokens.size === 1 ? [...tokens][0] : null,
    states,
  };
}

const hasRefreshCookie = async (context) => (await context.cookies()).some((c) => c.name === "fd_refresh");

/** `value` with every JWT and `rt.` refresh token replaced, so that no message shows a token. */
const redact = (value) =>
  JSON.parse(
    (JSON.stringify(value) ?? "null")
      .replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, "<jwt>")
      .replace(/rt\.[\w-]+/g, "<rt>"),
  );

/** Asserts `got` deep-equals `want` (both redacted), with both in the one-line message. */
function expectSummary(got, want, what) {
  [got, want] = [redact(got), redact(want)];
  assert.deepEqual(got, want, `${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

/** Refresh tokens from auth answers' bodies (memory mode). */
function refreshTokenOf(body) {
  try {
    const j = JSON.parse(body);
    return j.RefreshToken ?? j.AuthenticationResult?.RefreshToken ?? null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Reports from the issue

test("report 1 — memory: a tab opened after sign-in asks the holder; nobody is signed out", async (t) => {
  const s = await scenario(t);
  const a = await s.open("A");
  const signedIn = await mustSignIn(a);
  const b = await s.open("B"); // restores the session, without the refresh token
  const restored = (await tabState(b)).session;
  assert.ok(
    restored?.accessToken === signedIn.accessToken && restored?.partnerId === "acme-eu",
    `B restored A's session: ${JSON.stringify(redact(restored))}${s.explain()}`,
  );

  // (a) Past the threshold: B needs a refresh it cannot make; A, the holder, makes it.
  let since = s.traffic.mark();
  await s.fastForward(CROSS);
  const me = meView(await fdMe(b));
  await s.traffic.quiet();
  const after = await sameSessionEverywhere([a, b]);
  expectSummary(
    {
      me,
      refreshesByTab: byTab(s.refreshes(since)),
      signedIn: after.signedIn,
      agreeWithStorage: after.agreeWithStorage,
      distinctTokens: after.distinctTokens,
      newToken: after.token !== null && after.token !== signedIn.accessToken,
    },
    {
      me: { ok: true, user: "alice", partnerId: "acme-eu" },
      refreshesByTab: { A: 1 },
      signedIn: 2,
      agreeWithStorage: 2,
      distinctTokens: 1,
      newToken: true,
    },
    "(a) B's call 65 s after sign-in",
  );

  // (b) In B's view the token has expired (the server still accepts it): B still gets through A.
  since = s.traffic.mark();
  await s.fastForward(EXPIRE);
  const late = meView(await fdMe(b));
  await s.traffic.quiet();
  const stateA = await tabState(a);
  expectSummary(
    {
      me: late,
      refreshTabs: [...new Set(s.refreshes(since).map((e) => e.tab))],
      aSignedIn: Boolean(stateA.session),
      expiredCalls: stateA.expiredCalls + (await tabState(b)).expiredCalls,
    },
    { me: { ok: true, user: "alice", partnerId: "acme-eu" }, refreshTabs: ["A"], aSignedIn: true, expiredCalls: 0 },
    "(b) B's call once its token expired",
  );
});

test("report 1 — memory: a tab opened after the token expired keeps it for the holder, and drops it without one", async (t) => {
  const s = await scenario(t);
  const a = await s.open("A");
  const signedIn = await mustSignIn(a);
  // Every tab's view: the stored token has expired (A has not refreshed it yet, e.g. it slept).
  await s.fastForward(EXPIRE);
  let since = s.traffic.mark();
  const b = await s.open("B"); // restores an expired session while A holds the refresh token
  const restored = (await tabState(b)).session;
  const me = meView(await fdMe(b));
  await s.traffic.quiet();
  const after = await sameSessionEverywhere([a, b]);
  expectSummary(
    {
      restored: restored?.accessToken === signedIn.accessToken,
      me,
      refreshesByTab: byTab(s.refreshes(since)),
      signedIn: after.signedIn,
      newToken: after.token !== null && after.token !== signedIn.accessToken,
    },
    { restored: true, me: { ok: true, user: "alice", partnerId: "acme-eu" }, refreshesByTab: { A: 1 }, signedIn: 2, newToken: true },
    "B opened after expiry, A holding the refresh token",
  );

  // Without A, nothing can refresh an expired token: a tab opened then starts signed out, as before.
  await a.close();
  await b.close();
  await s.fastForward(EXPIRE);
  const c = await s.open("C");
  const alone = await tabState(c);
  expectSummary(
    { session: alone.session, saved: alone.saved },
    { session: null, saved: null },
    "C opened after expiry with no tab holding a refresh token",
  );
});

test("a holder's dead refresh ends the asking tab's session too; a transient one lets its call go on", async (t) => {
  const s = await scenario(t);
  const a = await s.open("A", { hook: true });
  await mustSignIn(a);
  const b = await s.open("B"); // no refresh token: asks A

  // Transient: A's refresh answers 503. B's token is still valid, so B's call goes on with it.
  await a.evaluate(() => {
    window.fetchHook = (req, init) =>
      new URL(req.url ?? req).pathname.endsWith("/auth/refresh_token")
        ? Promise.resolve(new Response("busy", { status: 503 }))
        : fetch(req, init);
  });
  await s.fastForward(CROSS);
  const before = (await tabState(b)).session?.accessToken;
  const transient = meView(await fdMe(b));
  const afterTransient = await Promise.all([a, b].map(tabState));
  expectSummary(
    {
      me: transient,
      sameToken: afterTransient.every((x) => x.session?.accessToken === before),
      expiredCalls: afterTransient.map((x) => x.expiredCalls),
    },
    { me: { ok: true, user: "alice", partnerId: "acme-eu" }, sameToken: true, expiredCalls: [0, 0] },
    "A's refresh answered 503 while B asked",
  );

  // Dead: in a new pair of tabs, the session is revoked on the server while still fresh, so once
  // it is due A's refresh is refused (401). B's call ends with session_expired without sending
  // its request, and every tab is signed out.
  const s2 = await scenario(t);
  const a2 = await s2.open("A");
  await mustSignIn(a2);
  const b2 = await s2.open("B");
  const revoked = meView(await a2.evaluate(() => attempt(() => lib.fd("/session/revoke", { method: "POST" }))));
  await s2.fastForward(CROSS);
  const since = s2.traffic.mark();
  const dead = meView(await fdMe(b2));
  await waitAll([a2, b2], signedOut, STORAGE_KEY);
  const afterDead = await Promise.all([a2, b2].map(tabState));
  expectSummary(
    {
      revoked: revoked.ok,
      me: { ok: dead.ok, code: dead.code },
      refreshAnswers: s2.traffic.responses(refreshRoute("memory"), since).map((e) => `${e.tab} ${e.status}`),
      meSentByB: s2.traffic.requests("GET /api/me", since).length,
      sessions: afterDead.map((x) => x.session),
      saved: afterDead.map((x) => x.saved),
      aExpired: afterDead[0].expiredCalls,
    },
    {
      revoked: true,
      me: { ok: false, code: "session_expired" },
      refreshAnswers: ["A 401"],
      meSentByB: 0,
      sessions: [null, null],
      saved: [null, null],
      aExpired: 1,
    },
    "A's refresh refused while B asked",
  );
});

test("report 2 — another user in another tab replaces this tab's session and its refresh token", async (t) => {
  const s = await scenario(t);
  const one = await s.open("1");
  await mustSignIn(one, "alice", "acme-eu");
  const two = await s.open("2");
  const sinceBob = s.traffic.mark();
  await mustSignIn(two, "bob");
  const switched = await waitAll([one], () => lib.getSession()?.partnerId === "builders-uk");
  assert.equal(
    switched,
    true,
    `tab 1 did not take bob's session from tab 2: ${JSON.stringify((await tabState(one)).session)}`,
  );

  const since = s.traffic.mark();
  await s.fastForward(CROSS);
  const me1 = meView(await fdMe(one));
  const me2 = meView(await fdMe(two));
  await s.traffic.quiet();

  // bob's refresh tokens: the one his MFA answer gave, then any a refresh of one of them rotated to.
  const bobs = new Set(
    s.traffic
      .responses("PUT /api/auth/challenge/mfa-token", sinceBob)
      .map((e) => refreshTokenOf(e.body))
      .filter(Boolean),
  );
  for (const r of s.traffic.responses(refreshRoute("memory"), sinceBob)) {
    const sent = s.traffic.requests(refreshRoute("memory"), sinceBob).find((q) => q.req === r.req);
    const token = sent && JSON.parse(sent.body ?? "{}").token;
    if (bobs.has(token) && refreshTokenOf(r.body)) bobs.add(refreshTokenOf(r.body));
  }
  const refreshes = s.refreshes(since);
  const meSubs = s.traffic.requests("GET /api/me", since).map((e) => sub((e.auth ?? "").replace(/^Bearer /, "")));
  expectSummary(
    {
      me1,
      me2,
      status403: s.traffic.events.filter((e) => e.type === "response" && e.status === 403).map((e) => `${e.tab} ${e.route}`),
      refreshTabs: [...new Set(refreshes.map((e) => e.tab))].filter((tab) => tab !== "2"),
      atMostOneRefresh: refreshes.length <= 1,
      refreshesWithAnotherToken: refreshes.filter((e) => !bobs.has(JSON.parse(e.body ?? "{}").token)).length,
      meSentAs: [...new Set(meSubs)],
    },
    {
      me1: { ok: true, user: "bob", partnerId: "builders-uk" },
      me2: { ok: true, user: "bob", partnerId: "builders-uk" },
      status403: [],
      refreshTabs: [],
      atMostOneRefresh: true,
      refreshesWithAnotherToken: 0,
      meSentAs: ["bob"],
    },
    "calls 65 s after bob signed in in tab 2",
  );
  assert.ok(bobs.size >= 1, "bob's refresh token was seen in his MFA answer (the check is not vacuous)");
});

for (const mode of ["memory", "cookie"]) {
  test(`report 3 — 5 tabs crossing the threshold together send 1 refresh (${mode}, rotation on)`, async (t) => {
    const s = await scenario(t, { mode });
    const first = await s.open("1");
    await mustSignIn(first);
    const tabs = [first, ...(await s.openMany(["2", "3", "4", "5"]))];

    for (const crossing of [1, 2]) {
      const since = s.traffic.mark();
      await s.fastForward(CROSS);
      const results = (await Promise.all(tabs.map(fdMe))).map(meView);
      await s.traffic.quiet();
      const after = await sameSessionEverywhere(tabs);
      expectSummary(
        {
          refreshes: s.refreshes(since).length,
          refreshAnswers: s.traffic.responses(refreshRoute(mode), since).map((e) => e.status),
          calls: results.map((r) => (r.ok ? "ok" : `${r.code}${r.status ? ` ${r.status}` : ""}`)),
          signedIn: after.signedIn,
          agreeWithStorage: after.agreeWithStorage,
          distinctTokens: after.distinctTokens,
        },
        {
          refreshes: 1,
          refreshAnswers: [200],
          calls: ["ok", "ok", "ok", "ok", "ok"],
          signedIn: 5,
          agreeWithStorage: 5,
          distinctTokens: 1,
        },
        `crossing ${crossing} (${mode})`,
      );
    }
  });
}

test("rotation with several holders: tabs given the same refresh token drop theirs after a rotation", async (t) => {
  const s = await scenario(t);
  const tabs = await s.openMany(["1", "2", "3"]);
  const tokens = await tabs[0].evaluate(async (origin) => {
    const r = await fetch(origin + "/api/auth", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "alice", password: "wonderland" }),
    });
    const j = await r.json();
    const a = j.AuthenticationResult ?? j;
    return { accessToken: a.AccessToken, refreshToken: a.RefreshToken };
  }, s.server.origin);
  assert.ok(tokens.accessToken && tokens.refreshToken, "the plain sign-in gave both tokens");
  for (const tab of tabs) {
    const r = await tab.evaluate(
      (tokens) => attemptSync(() => lib.setSession({ ...tokens, partnerId: "acme-eu" })),
      tokens,
    );
    assert.equal(r.ok, true, `setSession in tab ${tab.tabName}: ${JSON.stringify(redact(r))}`);
  }

  for (const crossing of [1, 2]) {
    const since = s.traffic.mark();
    await s.fastForward(CROSS);
    const results = (await Promise.all(tabs.map(fdMe))).map(meView);
    await s.traffic.quiet();
    const states = await Promise.all(tabs.map(tabState));
    expectSummary(
      {
        refreshes: s.refreshes(since).length,
        answers400: s.traffic.responses(refreshRoute("memory"), since).filter((e) => e.status === 400).length,
        calls: results.map((r) => (r.ok ? "ok" : r.code)),
        signedIn: states.filter((x) => x.session).length,
      },
      { refreshes: 1, answers400: 0, calls: ["ok", "ok", "ok"], signedIn: 3 },
      `crossing ${crossing}`,
    );
  }
});

test("report 4 — a sign-in answered after signOut is dropped", async (t) => {
  const s = await scenario(t);
  const page = await s.open("A", { hook: true });
  await page.evaluate(() => {
    // The answer to /auth reaches the library 600 ms after the server sent it.
    window.fetchHook = async (req, init) => {
      const resp = await fetch(req, init);
      if (new URL(req.url ?? req).pathname === "/api/auth") await new Promise((r) => setTimeout(r, 600));
      return resp;
    };
  });
  const since = s.traffic.mark();
  await page.evaluate((user) => {
    window.signingIn = attempt(() => lib.signIn(user, { partnerId: "acme-eu" }));
  }, ALICE);
  await s.traffic.waitForRequest("POST /api/auth", since);
  await page.evaluate(() => lib.signOut());
  const result = await page.evaluate(() => window.signingIn);
  expectFdError(assert, redact(result), "sign_in_failed", "signIn answered after signOut");
  for (const when of ["at once", "1 s later"]) {
    if (when !== "at once") await sleep(1000); // nothing must happen meanwhile: no condition to wait for
    const state = await tabState(page);
    expectSummary(
      { session: state.session, saved: state.saved },
      { session: null, saved: null },
      `after signOut, ${when}`,
    );
  }
});

test("report 4 — of two concurrent sign-ins the one called last wins", async (t) => {
  const s = await scenario(t);
  const page = await s.open("A", { hook: true });
  await page.evaluate(() => {
    let first = true; // only the first /auth answer is late (800 ms)
    window.fetchHook = async (req, init) => {
      const isAuth = new URL(req.url ?? req).pathname === "/api/auth";
      const late = isAuth && first;
      if (isAuth) first = false;
      const resp = await fetch(req, init);
      if (late) await new Promise((r) => setTimeout(r, 800));
      return resp;
    };
  });
  const [r1, r2] = await page.evaluate((user) => {
    const p1 = attempt(() => lib.signIn(user, { partnerId: "acme-eu" }));
    const p2 = attempt(() => lib.signIn(user, { partnerId: "acme-us" }));
    return Promise.all([p1, p2]);
  }, ALICE);
  await s.traffic.quiet();
  const state = await tabState(page);
  expectSummary(
    {
      first: r1.ok ? r1.value.status : r1.error.code,
      second: r2.ok ? r2.value.status : r2.error.code,
      partnerId: state.session?.partnerId ?? null,
      savedPartnerId: state.saved ? JSON.parse(state.saved).partnerId : null,
    },
    { first: "sign_in_failed", second: "signed_in", partnerId: "acme-us", savedPartnerId: "acme-us" },
    "signIn(acme-eu, late answer) then signIn(acme-us)",
  );
  expectFdError(assert, redact(r1), "sign_in_failed", "the first, overtaken sign-in");
});

test("report 4 — cookie mode: a refresh answered after signOut does not bring the cookie back", async (t) => {
  const s = await scenario(t, { mode: "cookie" });
  const page = await s.open("A");
  await mustSignIn(page);
  assert.equal(await hasRefreshCookie(s.context), true, "the proxy set its cookie at sign-in");
  await s.fastForward(CROSS);
  const since = s.traffic.mark();
  await startCall(page);
  await s.traffic.waitForRequest(refreshRoute("cookie"), since, 5000, "refresh");
  await page.evaluate(() => lib.signOut());
  const call = meView(await settled(page));
  await s.traffic.quiet();
  const state = await tabState(page);
  const refreshAnswer = s.traffic.responses(refreshRoute("cookie"), since)[0];
  const logout = s.traffic.requests(logoutRoute, since)[0];
  expectSummary(
    {
      cookie: await hasRefreshCookie(s.context),
      session: state.session,
      saved: state.saved,
      logoutSent: Boolean(logout),
      logoutAfterRefreshAnswer: Boolean(logout && refreshAnswer && logout.seq > refreshAnswer.seq),
      call: call.code ?? call,
    },
    { cookie: false, session: null, saved: null, logoutSent: true, logoutAfterRefreshAnswer: true, call: "not_signed_in" },
    "signOut during a refresh",
  );
});

/**
 * Tab A signed in and tab B opened after it; past the refresh point, A's call has sent its refresh
 * request (answered 500 ms later by the mock).
 */
async function refreshInFlightInA(t, mode) {
  const s = await scenario(t, { mode });
  const a = await s.open("A");
  await mustSignIn(a);
  const b = await s.open("B");
  await s.fastForward(CROSS);
  const since = s.traffic.mark();
  await startCall(a);
  await s.traffic.waitForRequest(refreshRoute(mode), since, 5000, "A's refresh");
  return { s, a, b };
}

test("report 4 — cookie mode: another user's sign-in during a refresh wins the cookie", async (t) => {
  const { s, a, b } = await refreshInFlightInA(t, "cookie");
  const bob = await signInBob(b);
  assert.equal(bob.ok, true, `bob signs in in B: ${JSON.stringify(redact(bob))}${s.explain()}`);
  const pendingA = meView(await settled(a));
  const both = await waitAll([a, b], () => lib.getSession()?.partnerId === "builders-uk");
  await s.traffic.quiet();
  const meA = meView(await fdMe(a));
  const meB = meView(await fdMe(b));

  const since2 = s.traffic.mark();
  await s.fastForward(CROSS);
  const later = meView(await fdMe(a));
  await s.traffic.quiet();
  expectSummary(
    {
      aPendingCallSettled: pendingA !== "still pending",
      bothShowBob: both,
      meA,
      meB,
      laterRefreshes: s.refreshes(since2).length,
      laterRefreshAnswers: s.traffic.responses(refreshRoute("cookie"), since2).map((e) => e.status),
      later,
    },
    {
      aPendingCallSettled: true,
      bothShowBob: true,
      meA: { ok: true, user: "bob", partnerId: "builders-uk" },
      meB: { ok: true, user: "bob", partnerId: "builders-uk" },
      laterRefreshes: 1,
      laterRefreshAnswers: [200],
      later: { ok: true, user: "bob", partnerId: "builders-uk" },
    },
    "bob's sign-in in B during A's refresh",
  );
});

test("report 5 — cookie mode: a reload after expiry keeps the session and refreshes through the cookie", async (t) => {
  const s = await scenario(t, { mode: "cookie" });
  const page = await s.open("A");
  await mustSignIn(page);
  await s.fastForward(EXPIRE);
  await page.reload();
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  const r = await configure(page, s.server, { mode: "cookie" });
  assert.equal(r.ok, true, `configure after reload: ${JSON.stringify(r)}${s.explain()}`);
  const restored = (await tabState(page)).session;
  assert.equal(restored?.partnerId, "acme-eu", `the expired session is kept after a reload: ${JSON.stringify(restored)}`);
  const since = s.traffic.mark();
  const me = meView(await fdMe(page));
  await s.traffic.quiet();
  expectSummary(
    { me, refreshes: s.refreshes(since).length, refreshAnswers: s.traffic.responses(refreshRoute("cookie"), since).map((e) => e.status) },
    { me: { ok: true, user: "alice", partnerId: "acme-eu" }, refreshes: 1, refreshAnswers: [200] },
    "the first call after the reload",
  );
});

test("report 5 — cookie mode: a session ended by a 401 also kills the cookie", async (t) => {
  const s = await scenario(t, { mode: "cookie" });
  const page = await s.open("A");
  await mustSignIn(page);
  const revoke = await page.evaluate(() => attempt(() => lib.fd("/session/revoke", { method: "POST" })));
  assert.equal(revoke.ok, true, `revoke: ${JSON.stringify(redact(revoke))}`);
  const since = s.traffic.mark();
  const me = await fdMe(page);
  expectFdError(assert, redact(me), "session_expired", 'fd("/me") after the revoke');
  await s.traffic.quiet();
  const state = await tabState(page);
  expectSummary(
    {
      logoutSent: s.traffic.requests(logoutRoute, since).length,
      cookie: await hasRefreshCookie(s.context),
      session: state.session,
      expiredCalls: state.expiredCalls,
    },
    { logoutSent: 1, cookie: false, session: null, expiredCalls: 1 },
    "after the 401",
  );
});

test("report 6 — short-lived tokens refresh at half-life, not on every call", async (t) => {
  const s = await scenario(t);
  const page = await s.open("A", { omit: ["refreshThresholdMs"] }); // default 5 min > the 120 s tokens
  await mustSignIn(page);
  const counts = {};
  const calls = async (label, n) => {
    const since = s.traffic.mark();
    for (let i = 0; i < n; i++) {
      const r = await fdMe(page);
      assert.equal(r.ok, true, `${label}, call ${i + 1}: ${JSON.stringify(redact(r))}${s.explain()}`);
    }
    await s.traffic.quiet();
    counts[label] = s.refreshes(since).length;
  };
  await calls("at 0 s, 3 calls", 3);
  await s.fastForward(30_000);
  await calls("at 30 s, 2 calls", 2);
  await s.fastForward(35_000);
  await calls("at 65 s, 2 calls", 2);
  expectSummary(counts, { "at 0 s, 3 calls": 0, "at 30 s, 2 calls": 0, "at 65 s, 2 calls": 1 }, "refresh requests");
});

// ---------------------------------------------------------------------------------------------
// Locks: tabs that close or hang

/** Makes `page`'s injected fetch hang every refresh request forever, ignoring its signal. */
const hangRefreshes = (page) =>
  page.evaluate(() => {
    window.fetchHook = (req, init) =>
      new URL(req.url ?? req).pathname.endsWith("/auth/refresh_token") ? new Promise(() => {}) : fetch(req, init);
  });

/** Whether `page` sees the tabs' operation lock held, within `timeoutMs`. */
const lockSeenHeld = (page, timeoutMs) =>
  waitAll([page], async (name) => (await navigator.locks.query()).held.some((l) => l.name === name), LOCK_NAME, timeoutMs);

/** Two cookie-mode tabs past the refresh point, both with `refreshTimeoutMs`; A's refreshes hang. */
async function hungHolderAndOther(t, refreshTimeoutMs) {
  const s = await scenario(t, { mode: "cookie" });
  const a = await s.open("A", { hook: true, refreshTimeoutMs });
  await mustSignIn(a);
  const b = await s.open("B", { refreshTimeoutMs });
  await hangRefreshes(a);
  await s.fastForward(CROSS);
  return { s, a, b };
}

test("a tab closed while holding the lock does not block the others", async (t) => {
  const { s, a, b } = await hungHolderAndOther(t, 60_000);
  const since = s.traffic.mark();
  await startCall(a);
  const held = await lockSeenHeld(b);
  assert.equal(held, true, `B never saw a held Web Lock ${LOCK_NAME} while A's refresh hung`);
  await startCall(b);
  await a.close();
  const started = Date.now();
  const me = meView(await settled(b, 20_000));
  await s.traffic.quiet();
  expectSummary(
    { me, refreshesByTab: byTab(s.refreshes(since)) },
    { me: { ok: true, user: "alice", partnerId: "acme-eu" }, refreshesByTab: { B: 1 } },
    `B's call once A closed (settled after ${Date.now() - started} ms)`,
  );
});

test("a tab whose refresh hangs does not freeze the others", async (t) => {
  const { a, b } = await hungHolderAndOther(t, 2000);
  await startCall(a);
  // Let A take the lock first, so that B really waits behind a hung holder.
  const held = await lockSeenHeld(b, 3000);
  if (!held) t.diagnostic(`no Web Lock ${LOCK_NAME} was seen held while A's refresh hung`);
  const meB = meView(await Promise.race([fdMe(b), sleep(15_000).then(() => "still pending")]));
  const pendingA = meView(await settled(a, 15_000));
  await a.evaluate(() => (window.fetchHook = null));
  const laterA = meView(await fdMe(a));
  const alice = { ok: true, user: "alice", partnerId: "acme-eu" };
  expectSummary({ meB, pendingA, laterA }, { meB: alice, pendingA: alice, laterA: alice }, "B beside a hung A");
});

// ---------------------------------------------------------------------------------------------
// Sign-out across tabs

for (const mode of ["memory", "cookie"]) {
  test(`sign-out in one tab during another tab's refresh leaves every tab signed out (${mode})`, async (t) => {
    const { s, a, b } = await refreshInFlightInA(t, mode);
    await b.evaluate(() => lib.signOut());
    const out = await waitAll([a, b], signedOut, STORAGE_KEY);
    const pendingA = meView(await settled(a));
    await s.traffic.quiet();
    for (const when of ["settled", "1.5 s later"]) {
      if (when !== "settled") await sleep(1500); // a late refresh answer must not bring anything back
      const states = await Promise.all([a, b].map(tabState));
      expectSummary(
        {
          wentOut: out,
          sessions: states.map((x) => x.session),
          saved: states.map((x) => x.saved),
          ...(mode === "cookie" ? { cookie: await hasRefreshCookie(s.context) } : {}),
        },
        { wentOut: true, sessions: [null, null], saved: [null, null], ...(mode === "cookie" ? { cookie: false } : {}) },
        `B signed out during A's refresh (${when}; A's call: ${JSON.stringify(pendingA)})`,
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

test("lifecycle: a tab that becomes visible again refreshes at once when under the threshold", async (t) => {
  const s = await scenario(t);
  const page = await s.open("A");
  await mustSignIn(page);
  const events = {
    visibilitychange: () => document.dispatchEvent(new Event("visibilitychange")),
    online: () => window.dispatchEvent(new Event("online")),
    "pageshow (persisted)": () => window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })),
  };
  const counts = {};
  for (const [name, fire] of Object.entries(events)) {
    const before = (await tabState(page)).session?.accessToken;
    await s.fastForward(CROSS);
    const since = s.traffic.mark();
    assert.equal(await page.evaluate(() => document.visibilityState), "visible");
    await page.evaluate(fire);
    await s.traffic.waitForRequest(refreshRoute("memory"), since, 3000, `${name}'s refresh`).catch(() => {});
    await s.traffic.quiet();
    counts[name] = s.refreshes(since).length;
    if (counts[name] > 0) {
      // Let the answer land before the clock jumps again (a jump would fire the refresh's timeout).
      await waitAll([page], (old) => lib.getSession()?.accessToken !== old, before);
    }
  }
  expectSummary(
    counts,
    { visibilitychange: 1, online: 1, "pageshow (persisted)": 1 },
    "refresh requests sent with no fd call, per event",
  );
});

test("lifecycle: a page kept in the back/forward cache or frozen stops claiming the refresh token until it runs again", async (t) => {
  const s = await scenario(t);
  const a = await s.open("A");
  await mustSignIn(a);
  const b = await s.open("B");
  const HOLDER = `${LOCK_NAME}:holder`;
  const holders = () => b.evaluate(async (name) => (await navigator.locks.query()).held.filter((l) => l.name === name).length, HOLDER);
  const seen = {};
  await waitAll([b], async (name) => (await navigator.locks.query()).held.some((l) => l.name === name), HOLDER);
  seen.signedIn = await holders();
  // A frozen page cannot answer B, so it must not look like a holder while it is cached.
  await a.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })));
  await waitAll([b], async (name) => !(await navigator.locks.query()).held.some((l) => l.name === name), HOLDER);
  seen.cached = await holders();
  await a.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })));
  await waitAll([b], async (name) => (await navigator.locks.query()).held.some((l) => l.name === name), HOLDER);
  seen.shownAgain = await holders();
  // The same for a page the browser freezes in the background (Page Lifecycle freeze/resume).
  await a.evaluate(() => document.dispatchEvent(new Event("freeze")));
  await waitAll([b], async (name) => !(await navigator.locks.query()).held.some((l) => l.name === name), HOLDER);
  seen.frozen = await holders();
  await a.evaluate(() => document.dispatchEvent(new Event("resume")));
  await waitAll([b], async (name) => (await navigator.locks.query()).held.some((l) => l.name === name), HOLDER);
  seen.resumed = await holders();
  // Shown again, A answers B's question as before.
  await s.fastForward(CROSS);
  const since = s.traffic.mark();
  const me = meView(await fdMe(b));
  expectSummary(
    { holders: seen, me, refreshesByTab: byTab(s.refreshes(since)) },
    { holders: { signedIn: 1, cached: 0, shownAgain: 1, frozen: 0, resumed: 1 }, me: { ok: true, user: "alice", partnerId: "acme-eu" }, refreshesByTab: { A: 1 } },
    "tab A's holder lock through the back/forward cache",
  );
});

// ---------------------------------------------------------------------------------------------
// Secrets

test("no refresh token ever reaches a BroadcastChannel message or web storage", async (t) => {
  const s = await scenario(t);
  const one = await s.open("1");
  await mustSignIn(one);
  const tabs = [one, ...(await s.openMany(["2", "3"]))];
  for (const crossing of [1, 2]) {
    await s.fastForward(CROSS);
    await Promise.all(tabs.map(fdMe));
    await s.traffic.quiet();
    await waitAll(tabs, inSync, STORAGE_KEY);
  }
  // Through a tab with no refresh token alone, then a second user's sign-in in another tab.
  await s.fastForward(CROSS);
  await fdMe(tabs[2]);
  await mustSignIn(tabs[1], "bob");
  await waitAll(tabs, () => lib.getSession()?.partnerId === "builders-uk");
  await s.traffic.quiet();

  const refreshTokens = new Set(
    s.traffic.events.filter((e) => e.type === "response" && e.body).map((e) => refreshTokenOf(e.body)).filter(Boolean),
  );
  const accessTokens = new Set(
    s.traffic.events.filter((e) => e.type === "request" && e.auth).map((e) => e.auth.replace(/^Bearer /, "")),
  );
  const messages = (await Promise.all(tabs.map((p) => p.evaluate(() => window.channelMessages)))).flat();
  const storages = await Promise.all(
    tabs.map((p) =>
      p.evaluate(() => {
        const dump = (st) => Object.fromEntries(Array.from({ length: st.length }, (_, i) => [st.key(i), st.getItem(st.key(i))]));
        return { local: dump(localStorage), session: dump(sessionStorage) };
      }),
    ),
  );
  const secretIn = (text) =>
    text.includes("rt.") ||
    text.includes("eyJ") ||
    [...refreshTokens].some((x) => text.includes(x)) ||
    [...accessTokens].some((x) => text.includes(x));
  assert.ok(refreshTokens.size >= 1 && accessTokens.size >= 1, "tokens were seen on the wire (the check is not vacuous)");
  expectSummary(
    {
      messagesRecorded: messages.length > 0,
      messagesWithATokenOrRt: messages.filter(secretIn).length,
      localStorageKeys: storages.map((x) => Object.keys(x.local)),
      sessionStorageKeys: storages.map((x) => Object.keys(x.session)),
      savedFields: storages.map((x) => Object.keys(JSON.parse(x.local[STORAGE_KEY] ?? "{}")).sort()),
      storageWithRefreshToken: storages.filter((x) => {
        const text = JSON.stringify(x);
        return text.includes("rt.") || [...refreshTokens].some((r) => text.includes(r));
      }).length,
    },
    {
      messagesRecorded: true,
      messagesWithATokenOrRt: 0,
      localStorageKeys: [[STORAGE_KEY], [STORAGE_KEY], [STORAGE_KEY]],
      sessionStorageKeys: [[], [], []],
      savedFields: Array(3).fill(["accessToken", "expiresAt", "partnerId"]),
      storageWithRefreshToken: 0,
    },
    `what three tabs posted (${messages.length} messages) and stored`,
  );
});

// ---------------------------------------------------------------------------------------------
// Matrix

test("matrix: tabs × mode × rotation → refresh requests and tabs signed in", async (t) => {
  const rows = [];
  for (const n of [2, 5]) {
    for (const mode of ["memory", "cookie"]) {
      for (const rotation of ["on", "off"]) {
        const row = { tabs: n, mode, rotation, refreshes: "-", answers: "-", callsOk: "-", signedIn: "-" };
        rows.push(row);
        await t.test(`${n} tabs, ${mode}, rotation ${rotation}`, async (st) => {
          const s = await scenario(st, { mode, server: rotation === "on" ? rot : plain });
          const first = await s.open("1");
          await mustSignIn(first);
          const tabs = [first, ...(await s.openMany(Array.from({ length: n - 1 }, (_, i) => String(i + 2))))];
          const since = s.traffic.mark();
          await s.fastForward(CROSS);
          const results = await Promise.all(tabs.map(fdMe));
          await s.traffic.quiet();
          await waitAll(tabs, inSync, STORAGE_KEY, 2000);
          const states = await Promise.all(tabs.map(tabState));
          row.refreshes = s.refreshes(since).length;
          row.answers = s.traffic.responses(refreshRoute(mode), since).map((e) => e.status).join(",") || "-";
          row.callsOk = results.filter((r) => r.ok).length;
          row.signedIn = states.filter((x) => x.session).length;
        });
      }
    }
  }
  const columns = ["tabs", "mode", "rotation", "refreshes", "answers", "callsOk", "signedIn"];
  const width = (c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length));
  const line = (cells) => cells.map((v, i) => String(v).padEnd(width(columns[i]))).join("  ");
  console.log(["", line(columns), ...rows.map((r) => line(columns.map((c) => r[c])))].join("\n"));
  const measured = rows.filter((r) => !String(r.rotation).includes("n/a"));
  const bad = measured.filter((r) => r.refreshes !== 1 || r.signedIn !== r.tabs || r.callsOk !== r.tabs);
  assert.deepEqual(
    bad.map((r) => `${r.tabs} tabs ${r.mode} rotation ${r.rotation}: ${r.refreshes} refreshes (${r.answers}), ${r.callsOk} ok, ${r.signedIn} signed in`),
    [],
    `rows without exactly 1 refresh and every tab signed in: ${bad
      .map((r) => `${r.tabs}/${r.mode}/rot-${r.rotation}: ${r.refreshes} refreshes [${r.answers}], ${r.callsOk}/${r.tabs} ok, ${r.signedIn}/${r.tabs} signed in`)
      .join("; ")}`,
  );
});
