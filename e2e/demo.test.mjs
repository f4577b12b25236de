// The example page that `npm start` serves (www/, built with Vite, on fd-proxy's mock API and
// refresh-token proxy), driven as a person would in headless Chromium: sign-in, MFA, one refresh for
// a burst of 20 calls, a revoked session sent back to /login, cookie mode's HttpOnly refresh token,
// and two tabs sharing one session (one sends the refresh, the other adopts it). Saves screenshots
// of the dashboard (laptop and phone), of the timeline and of both tabs in e2e/screenshots/.
// FD_DEMO_ORIGIN=http://127.0.0.1:8080 tests a server that is already running.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, explain, freePort, launchBrowser, newPage, startChild, waitForUrl } from "./lib.mjs";

const SHOTS = join(ROOT, "e2e", "screenshots");
const LAPTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
/** Past the demo's "refresh due" point: tokens live 120 s and a refresh is due 30 s after each. */
const PAST_THRESHOLD_MS = 35_000;

let origin;
let server;
let browser;

before(async () => {
  if (process.env.FD_DEMO_ORIGIN) {
    origin = process.env.FD_DEMO_ORIGIN.replace(/\/$/, "");
  } else {
    const port = await freePort();
    server = startChild("node", ["scripts/start.mjs"], { env: { PORT: String(port) } });
    origin = `http://127.0.0.1:${port}`;
  }
  await waitForUrl(`${origin}/`, { timeoutMs: 600_000, child: server }); // the first build is slow
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh context on the page at `path`, once the page has configured fd-fetch and rendered. */
async function open(t, { clock = false, path = "/" } = {}) {
  const { context, page } = await newPage(browser, { clock });
  t.after(() => context.close());
  await page.setViewportSize(LAPTOP);
  page.seen = []; // every request the page made: { method, url, request }
  page.on("request", (request) => page.seen.push({ method: request.method(), url: request.url(), request }));
  await page.goto(origin + path);
  await ready(page);
  return { context, page };
}

async function ready(page) {
  await page.waitForSelector("body[data-ready='1']", { timeout: 20_000 }).catch((e) => {
    throw new Error(`the page did not start: ${e.message}${explain(page)}`);
  });
}

const pathOf = (url) => new URL(url).pathname;
const requestsTo = (page, method, path) => page.seen.filter((r) => r.method === method && pathOf(r.url) === path);
const session = (page) => page.evaluate(() => JSON.parse(localStorage.getItem("fd.session") ?? "null"));

async function signIn(page, username, password, { partner } = {}) {
  await page.fill("#login-form [name=username]", username);
  await page.fill("#login-form [name=password]", password);
  if (partner) await page.fill("#login-form [name=partner]", partner);
  await page.click("#login-submit");
}

async function signInAlice(page) {
  await signIn(page, "alice", "wonderland");
  await page.waitForSelector("#dashboard:not([hidden])", { timeout: 10_000 }).catch((e) => {
    throw new Error(`no dashboard after sign-in: ${e.message}${explain(page)}`);
  });
  // The dashboard asks GET /me for the user's name: wait for it, so later counts start clean.
  await page.waitForFunction(() => document.querySelector("#session-user").textContent.includes("alice"));
}

test("memory mode: alice signs in, sees her partner and GET /me; only the access token is stored", async (t) => {
  const { page } = await open(t);
  assert.equal(pathOf(page.url()), "/login", "signed out, / sends you to /login");
  await page.fill("#login-form [name=username]", "alice");
  assert.equal(await page.inputValue("#login-form [name=partner]"), "acme-eu", "alice's default partner");
  assert.equal(await page.getAttribute("#mode-memory", "aria-pressed"), "true");

  await signInAlice(page);
  assert.equal(pathOf(page.url()), "/");
  assert.equal(await page.textContent("#session-partner"), "acme-eu");
  assert.match(await page.textContent("#session-user"), /alice/);
  assert.equal(requestsTo(page, "POST", "/api/auth").length, 1, "memory mode signs in at the API directly");

  await page.click("#call-me");
  await page.waitForFunction(() => document.querySelector("#result pre")?.textContent.includes('"alice"'));
  const shown = JSON.parse(await page.textContent("#result pre"));
  assert.equal(shown.user, "alice");

  const saved = await session(page);
  assert.deepEqual(Object.keys(saved).sort(), ["accessToken", "expiresAt", "partnerId"]);
  assert.equal(saved.partnerId, "acme-eu");
  const me = requestsTo(page, "GET", "/api/me").at(-1).request;
  const headers = await me.allHeaders();
  assert.equal(headers.authorization, `Bearer ${saved.accessToken}`);
  assert.equal(headers["x-preferred-partner-id"], "acme-eu");

  // Back goes to /login, which a signed-in user skips; a reload keeps the session (memory mode).
  await page.goBack();
  await page.waitForFunction(() => location.pathname === "/" && !document.querySelector("#dashboard").hidden);
  await page.reload();
  await ready(page);
  assert.equal(pathOf(page.url()), "/");
  await page.waitForSelector("#dashboard:not([hidden])");
  assert.equal(await page.textContent("#session-partner"), "acme-eu");
});

test("MFA: bob gets the code step, a wrong code is refused with mfa_failed, 123456 signs him in", async (t) => {
  const { page } = await open(t, { path: "/login" });
  await page.fill("#login-form [name=username]", "bob");
  assert.equal(await page.inputValue("#login-form [name=partner]"), "builders-uk", "bob's default partner");
  await page.fill("#login-form [name=password]", "builder");
  await page.click("#login-submit");
  await page.waitForSelector("#mfa-form:not([hidden])");
  assert.equal(await page.isVisible("#login-form"), false);

  await page.fill("#mfa-form [name=code]", "000000");
  await page.click("#mfa-submit");
  await page.waitForSelector("#login-error:not([hidden])");
  assert.match(await page.textContent("#login-error"), /mfa_failed/, explain(page));
  assert.equal(await session(page), null);

  await page.fill("#mfa-form [name=code]", "123456");
  await page.click("#mfa-submit");
  await page.waitForSelector("#dashboard:not([hidden])");
  assert.equal(await page.textContent("#session-partner"), "builders-uk");
  assert.equal(pathOf(page.url()), "/");
  const mfa = requestsTo(page, "PUT", "/api/auth/challenge/mfa-token");
  assert.equal(mfa.length, 2);
  assert.deepEqual(Object.keys(JSON.parse(mfa[1].request.postData())).sort(), ["code", "session"]);
});

test("a wrong password shows sign_in_failed and stays on /login", async (t) => {
  const { page } = await open(t, { path: "/login" });
  await signIn(page, "alice", "nope");
  await page.waitForSelector("#login-error:not([hidden])");
  const text = await page.textContent("#login-error");
  assert.match(text, /sign_in_failed/);
  assert.match(text, /401/);
  assert.equal(pathOf(page.url()), "/login");
});

test("20 concurrent requests past the threshold share ONE refresh; screenshots", async (t) => {
  const { page } = await open(t, { clock: true });
  await signInAlice(page);
  const before = (await session(page)).accessToken;

  await page.clock.fastForward(PAST_THRESHOLD_MS);
  await page.waitForFunction(() => document.querySelector("#session-refresh-in").textContent.includes("due now"));
  page.seen.length = 0;
  await page.click("#burst");
  await page.waitForSelector("#timeline-caption:not([hidden])", { timeout: 15_000 });

  const refreshes = page.seen.filter((r) => pathOf(r.url).endsWith("/auth/refresh_token"));
  assert.equal(refreshes.length, 1, `one refresh for 20 calls${explain(page)}`);
  assert.equal(pathOf(refreshes[0].url), "/api/auth/refresh_token");
  const refreshed = (await session(page)).accessToken;
  assert.notEqual(refreshed, before, "the refresh replaced the access token");

  const orders = requestsTo(page, "GET", "/api/orders");
  assert.equal(orders.length, 20);
  for (const { request } of orders) {
    const headers = await request.allHeaders();
    assert.equal(headers.authorization, `Bearer ${refreshed}`, "every call went out with the refreshed token");
    assert.equal(headers["x-preferred-partner-id"], "acme-eu");
  }

  assert.equal(await page.locator('#timeline [data-row="refresh"]').count(), 1);
  assert.equal(await page.locator('#timeline [data-row="call"]').count(), 20);
  assert.match(await page.textContent("#timeline-caption"), /20 requests, 1 refresh shared by all/);
  assert.equal(await page.textContent("#refresh-count"), "1");
  assert.match(await page.textContent("#session-refresh-in"), /^\d+:\d\d$/, "the next refresh is due again later");

  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
  await page.locator("#timeline-card").screenshot({ path: join(SHOTS, "timeline.png") });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(SHOTS, "dashboard-phone.png"), fullPage: true });
});

test("a revoked session: the next call's 401 clears it and fd-fetch sends the user to /login", async (t) => {
  const { page } = await open(t);
  await signInAlice(page);
  const statuses = [];
  page.on("response", (r) => statuses.push(`${r.request().method()} ${pathOf(r.url())} ${r.status()}`));

  await page.click("#revoke");
  await page.waitForURL(`${origin}/login`);
  await ready(page);
  await page.waitForSelector("#login-notice", { state: "visible" });
  assert.match(await page.textContent("#login-notice"), /Your session ended — sign in again/);
  assert.equal(await session(page), null);
  assert.ok(statuses.includes("POST /api/session/revoke 204"), statuses.join(", "));
  assert.ok(statuses.includes("GET /api/me 401"), statuses.join(", "));

  // Signing in again clears the notice; a manual sign-out does not show it.
  await signInAlice(page);
  await page.click("#sign-out");
  await page.waitForURL(`${origin}/login`);
  assert.equal(await page.isVisible("#login-notice"), false);
  assert.equal(await session(page), null);
});

test("the session-ended notice goes once the user signs in again, and stays gone through the MFA step", async (t) => {
  const { page } = await open(t);
  await signInAlice(page);
  await page.click("#revoke");
  await page.waitForURL(`${origin}/login`);
  await ready(page);
  await page.waitForSelector("#login-notice", { state: "visible" });

  // Signing in again as bob, who needs MFA: once the password step is sent, the notice is old news.
  await signIn(page, "bob", "builder");
  await page.waitForSelector("#mfa-form:not([hidden])");
  assert.equal(await page.isVisible("#login-notice"), false, "the notice is gone at the MFA step");
  // Going back to the first step does not bring it back: the user has moved on.
  await page.click("#mfa-back");
  await page.waitForSelector("#login-form:not([hidden])");
  assert.equal(await page.isVisible("#login-notice"), false, "still gone after 'Use another account'");
  // Nor does a reload.
  await page.reload();
  await ready(page);
  assert.equal(await page.isVisible("#login-notice"), false, "still gone after a reload");
  // A failed attempt hides it too (the error box says what happened now).
  await signInAlice(page);
  await page.click("#revoke");
  await page.waitForURL(`${origin}/login`);
  await ready(page);
  await page.waitForSelector("#login-notice", { state: "visible" });
  await signIn(page, "alice", "nope");
  await page.waitForSelector("#login-error:not([hidden])");
  assert.equal(await page.isVisible("#login-notice"), false, "gone once the user tried again");
});

test("the network table shows its latest rows and, on demand, every request it kept", async (t) => {
  const { page } = await open(t);
  await signInAlice(page);
  await page.click("#burst");
  await page.waitForSelector("#timeline-caption:not([hidden])", { timeout: 15_000 });
  // Every request fd-fetch made (the page's fetch of /api/demo-config is not fd-fetch's).
  const made = page.seen.filter((r) => /^\/(api|proxy)\//.test(pathOf(r.url)) && pathOf(r.url) !== "/api/demo-config");
  assert.ok(made.length > 20, `sign-in, /me and a burst of 20: ${made.length}`);
  await page.waitForFunction(
    (n) => document.querySelector("#log-toggle")?.textContent.includes(String(n)),
    made.length,
    { timeout: 5_000 },
  ).catch(async (e) => {
    throw new Error(`no way to see all ${made.length} requests: ${e.message}; the table ends with: ` +
      `${await page.locator("#log-body tr").last().textContent()}`);
  });
  const rows = page.locator("#log-body tr[data-request]");
  assert.ok((await rows.count()) < made.length, "the latest rows first, not all at once");
  await page.click("#log-toggle");
  await page.waitForFunction((n) => document.querySelectorAll("#log-body tr[data-request]").length === n, made.length);
  const paths = await rows.locator("td.req code").allTextContents();
  assert.equal(paths.at(-1), "/api/auth", "the oldest row, the sign-in, is reachable");
  assert.equal(paths.filter((p) => p.startsWith("/api/orders")).length, 20, "all 20 calls of the burst");
  // And back to the short list.
  await page.click("#log-toggle");
  await page.waitForFunction((n) => document.querySelectorAll("#log-body tr[data-request]").length < n, made.length);
});

test("cookie mode: sign-in through /proxy, the refresh token only in an HttpOnly cookie, refresh and logout through the proxy", async (t) => {
  const { context, page } = await open(t, { clock: true });
  await page.click("#mode-cookie");
  await page.waitForSelector("#mode-cookie[aria-pressed='true']");
  assert.equal(await page.evaluate(() => localStorage.getItem("fd-demo.mode")), "cookie");

  await signInAlice(page);
  assert.equal(requestsTo(page, "POST", "/proxy/auth").length, 1, "the sign-in went to the proxy");
  assert.equal(requestsTo(page, "POST", "/api/auth").length, 0);

  const cookie = (await context.cookies()).find((c) => c.name === "fd_refresh");
  assert.ok(cookie, "the proxy set fd_refresh");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/proxy/auth");

  const visible = await page.evaluate(async () => {
    const dump = (s) => Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
    return {
      cookie: document.cookie,
      local: dump(localStorage),
      session: dump(sessionStorage),
      idb: (await indexedDB.databases()).map((d) => d.name),
    };
  });
  assert.ok(!visible.cookie.includes("fd_refresh"), "document.cookie cannot see it");
  for (const [where, store] of [["localStorage", visible.local], ["sessionStorage", visible.session]]) {
    for (const [key, value] of Object.entries(store)) {
      assert.ok(key === "fd.session" || key.startsWith("fd-demo."), `unexpected ${where} key ${key}`);
      assert.ok(!value.includes("rt."), `${where}.${key} holds a refresh token`);
    }
  }
  assert.deepEqual(Object.keys(JSON.parse(visible.local["fd.session"])).sort(), ["accessToken", "expiresAt", "partnerId"]);
  assert.deepEqual(visible.idb, []);

  const before = (await session(page)).accessToken;
  await page.clock.fastForward(PAST_THRESHOLD_MS);
  page.seen.length = 0;
  const refreshAnswer = page.waitForResponse((r) => pathOf(r.url()) === "/proxy/auth/refresh_token");
  await page.click("#call-me");
  const refresh = await refreshAnswer;
  assert.equal(refresh.status(), 200, "the proxy refreshed from its cookie");
  assert.equal(refresh.request().postDataJSON().token, null, "the page sends no refresh token");
  await page.waitForFunction(() => document.querySelector("#result pre")?.textContent.includes('"alice"'));
  const after = (await session(page)).accessToken;
  assert.notEqual(after, before, "a new access token");
  assert.equal(requestsTo(page, "POST", "/api/auth/refresh_token").length, 0);
  const me = requestsTo(page, "GET", "/api/me").at(-1).request;
  assert.equal((await me.allHeaders()).authorization, `Bearer ${after}`);

  const logout = page.waitForResponse((r) => pathOf(r.url()) === "/proxy/auth/logout");
  await page.click("#sign-out");
  assert.equal((await logout).request().method(), "POST");
  await page.waitForURL(`${origin}/login`);
  assert.equal(await session(page), null);
  assert.equal((await context.cookies()).find((c) => c.name === "fd_refresh"), undefined, "the proxy dropped its cookie");
});

/** Another tab of `context`: same origin, same storage, and the context's Playwright clock. */
async function openTab(context, path = "/") {
  const page = await context.newPage();
  page.logs = [];
  page.on("console", (m) => page.logs.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.stack ?? e.message}`));
  page.on("requestfailed", (r) => page.logs.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  await page.setViewportSize(LAPTOP);
  page.seen = [];
  page.on("request", (request) => page.seen.push({ method: request.method(), url: request.url(), request }));
  await page.goto(origin + path);
  await ready(page);
  return page;
}

const showsAlice = (page) =>
  page.waitForFunction(() => document.querySelector("#result pre")?.textContent.includes('"alice"'), null, { timeout: 15_000 });

test("two tabs share one session: one refresh, the other tab adopts it", async (t) => {
  // `page.clock` is its context's: installed here, it also runs in every tab opened later in this
  // context (from before their scripts start), and one fastForward moves all of them.
  const { context, page: first } = await open(t, { clock: true });
  await signInAlice(first);
  const second = await openTab(context);
  await second.waitForSelector("#dashboard:not([hidden])");
  assert.equal(pathOf(second.url()), "/", "the second tab shows the dashboard without signing in");
  assert.equal(await second.textContent("#session-partner"), "acme-eu");

  // Memory mode: only the tab that signed in holds the refresh token; the other gets refreshes through it.
  assert.equal(await first.textContent("#session-refresh-where"), "In wasm memory, this tab only");
  assert.match(
    await second.textContent("#session-refresh-where"),
    /^None in this tab \(opened after sign-in\): another tab that holds one refreshes for it; with none open, the token is used until it expires$/,
  );
  assert.match(await second.textContent("#session-refresh-in"), /^\d+:\d\d$/, "the second tab still counts down to the refresh");
  for (const page of [first, second]) {
    assert.equal(await page.isVisible("#tabs-hint"), true, "the hint to open a second tab");
    assert.equal(await page.getAttribute("#tabs-hint a", "target"), "_blank");
    assert.equal(await page.locator("#refresh-log li[data-source]").count(), 0, "no refresh yet");
  }

  const refreshes = []; // every refresh request of both tabs
  context.on("request", (r) => {
    if (r.method() === "POST" && pathOf(r.url()).endsWith("/auth/refresh_token")) refreshes.push(r);
  });
  const tabOf = (r) => (r.frame().page() === first ? "the first tab" : r.frame().page() === second ? "the second tab" : "?");
  const before = (await session(first)).accessToken;

  await first.clock.fastForward(PAST_THRESHOLD_MS);
  for (const page of [first, second]) {
    await page.waitForFunction(() => document.querySelector("#session-refresh-in").textContent.includes("due now"));
  }

  // The tab without a refresh token calls first: it gets its refresh from the tab that has one.
  await second.click("#call-me");
  await showsAlice(second);
  assert.equal(
    refreshes.length,
    1,
    `the second tab's call past the threshold should have had the first tab refresh for it: ` +
      `${refreshes.length} refresh requests by the time it answered` +
      (refreshes.length ? ` (from ${refreshes.map(tabOf).join(", ")})` : "") +
      explain(first) +
      explain(second),
  );
  assert.equal(tabOf(refreshes[0]), "the first tab", "the tab that holds the refresh token sent the refresh");
  assert.equal(pathOf(refreshes[0].url()), "/api/auth/refresh_token");
  const refreshed = (await session(second)).accessToken;
  assert.notEqual(refreshed, before, "a new access token in the shared session");
  const me = requestsTo(second, "GET", "/api/me").at(-1).request;
  assert.equal((await me.allHeaders()).authorization, `Bearer ${refreshed}`, "the second tab's call went out with it");

  // Then the tab with the refresh token: the shared session is fresh, so no second refresh.
  await first.click("#call-me");
  await showsAlice(first);
  assert.equal(refreshes.length, 1, `one refresh across both tabs, got ${refreshes.length} (from ${refreshes.map(tabOf).join(", ")})`);
  assert.equal((await session(first)).accessToken, refreshed);

  // Each tab's Refreshes list tells who did it.
  const rows = async (page, source) => {
    await page.waitForSelector(`#refresh-log li[data-source="${source}"]`, { timeout: 5_000 }).catch(async () => {
      throw new Error(`no "${source}" row; the list says: ${await page.textContent("#refresh-log")}${explain(page)}`);
    });
    return page.locator("#refresh-log li[data-source]").allTextContents();
  };
  const firstRows = await rows(first, "this-tab");
  assert.equal(firstRows.length, 1, firstRows.join(" | "));
  assert.match(firstRows[0], /sent by this tab/);
  const secondRows = await rows(second, "other-tab");
  assert.equal(secondRows.length, 1, secondRows.join(" | "));
  assert.match(secondRows[0], /adopted from another tab/);
  assert.equal(await first.textContent("#refresh-tally"), "sent 1 · adopted 0");
  assert.equal(await second.textContent("#refresh-tally"), "sent 0 · adopted 1");
  assert.equal(await first.textContent("#refresh-count"), "1");
  assert.equal(await second.textContent("#refresh-count"), "0", "the second tab sent no refresh request");

  for (const page of [first, second]) {
    assert.equal(pathOf(page.url()), "/", "both tabs stay signed in");
    assert.equal(await page.isVisible("#dashboard"), true);
    assert.equal(await page.isVisible("#tabs-hint"), true);
    assert.match(await page.textContent("#session-refresh-in"), /^\d+:\d\d$/, "the next refresh is due again later");
  }

  // The session cards and the Refreshes lists of the tab that adopted the refresh and of the one that sent it.
  await mkdir(SHOTS, { recursive: true });
  for (const [page, file] of [[second, "tabs.png"], [first, "tabs-sender.png"]]) {
    await page.waitForTimeout(600); // the token's life bar animates back to the start
    const box = await page.locator("#dashboard .grid-2").boundingBox();
    const pad = 16;
    const clip = { x: box.x - pad, y: box.y - pad, width: box.width + 2 * pad, height: box.height + 2 * pad };
    await page.screenshot({ path: join(SHOTS, file), clip, fullPage: true });
  }
});
