// The packed package in a plain page: an import map and a <script type="module">, no bundler, in
// real (headless) Chromium, against fd-proxy's mock partner API on the same origin (what it
// answered comes from its request log).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  LOGIN_HTML,
  USER,
  decodeJwt,
  expectEndedBy401,
  expectFdError,
  expectNotConfigured,
  expectSignedInCall,
  explain,
  launchBrowser,
  newPage,
  packAndInstall,
  plainPage,
  scriptReadable,
  startServer,
  tokenDigest,
  writeFiles,
} from "./lib.mjs";

const PARTNER = "acme-eu"; // one of alice's partners at the mock

// The page records what the package does before anyone could call `configure`, then exposes the
// module (`window.lib`) and the helpers of lib.mjs for the tests to drive.
const INDEX_HTML = plainPage();

let work;
let server;
let browser;

before(async () => {
  work = await packAndInstall("plain-page");
  await writeFiles(work.app, { "index.html": INDEX_HTML, "login.html": LOGIN_HTML });
  server = await startServer({ staticDir: work.app });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** A fresh page (own storage) on index.html, the module loaded. */
async function openIndex({ clock = false } = {}) {
  const { context, page } = await newPage(browser, { clock });
  await page.goto(`${server.origin}/`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 }).catch((e) => {
    throw new Error(`the page did not load the package: ${e.message}${explain(page)}`);
  });
  return { context, page };
}

const configure = (page, options = {}) =>
  page.evaluate(([api, options]) => attempt(() => lib.configure({ baseUrl: api, ...options })), [server.api, options]);

const signIn = (page, partnerId = PARTNER) =>
  page.evaluate(([user, partnerId]) => attempt(() => lib.signIn(user, { partnerId })), [USER, partnerId]);

/** signIn, and the tokens the browser received for it (the sign-in answer's body). */
async function signInSeeing(page) {
  const [answer, result] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === "/api/auth", { timeout: 10_000 }),
    signIn(page),
  ]);
  return { result, tokens: await answer.json() };
}

/** What `fd("/me")` resolves with at the mock for alice and PARTNER. */
const ME = { ok: true, value: { user: "alice", name: "Alice Liddell", partnerId: PARTNER, partners: ["acme-eu", "acme-us"] } };

const fdMe = (page) => page.evaluate(() => attempt(() => lib.fd("/me")));

/** Everything script-readable that could hold a token: web storage and document.cookie. */
const readableStorage = (page) => page.evaluate(scriptReadable);

test("before configure every export throws or rejects with FdError not_configured", async () => {
  const { context, page } = await openIndex();
  try {
    const r = await page.evaluate(() => window.beforeConfigure);
    expectNotConfigured(assert, r);
    assert.deepEqual(await server.requests(), [], "nothing was sent before configure");
  } finally {
    await context.close();
  }
});

test("bad options reject with bad_config naming the option", async () => {
  const { context, page } = await openIndex();
  try {
    const empty = await page.evaluate(() => attempt(() => lib.configure({})));
    expectFdError(assert, empty, "bad_config", "configure({})");
    assert.match(empty.error.message, /baseUrl/, "the message names baseUrl");

    const relative = await page.evaluate(() => attempt(() => lib.configure({ baseUrl: "/api" })));
    expectFdError(assert, relative, "bad_config", 'configure({baseUrl: "/api"})');

    const offsite = await configure(page, { loginUrl: "https://evil.example/login" });
    expectFdError(assert, offsite, "bad_config", "configure with an off-origin loginUrl");
    assert.match(offsite.error.message, /loginUrl/, "the message names loginUrl");

    // A good configure after bad ones works.
    const ok = await configure(page);
    assert.deepEqual(ok, { ok: true, value: undefined }, explain(page));
  } finally {
    await context.close();
  }
});

test("configure, signIn, fd: both headers sent, only the access token stored", async () => {
  const { context, page } = await openIndex();
  try {
    await server.clearLog();
    const before = Date.now();
    assert.deepEqual(await configure(page), { ok: true, value: undefined }, `configure${explain(page)}`);
    assert.deepEqual(await page.evaluate(() => attemptSync(() => lib.getSession())), {
      ok: true,
      returnedPromise: false,
      value: null,
    });

    const { result: signedIn, tokens: issued } = await signInSeeing(page);
    assert.equal(signedIn.ok, true, `signIn: ${JSON.stringify(signedIn)}${explain(page)}`);
    assert.equal(signedIn.value.status, "signed_in");
    assert.deepEqual(Object.keys(signedIn.value.session).sort(), ["accessToken", "expiresAt", "partnerId"]);
    assert.equal(signedIn.value.session.accessToken, issued.AccessToken);
    assert.equal(decodeJwt(issued.AccessToken).sub, "alice");
    assert.equal(signedIn.value.session.partnerId, PARTNER);
    const expiresAt = signedIn.value.session.expiresAt;
    assert.ok(
      expiresAt >= before + 3600_000 - 2000 && expiresAt <= Date.now() + 3600_000 + 2000,
      `expiresAt ${expiresAt} is arrival + 1 h`,
    );

    const me = await fdMe(page);
    assert.deepEqual(me, ME, explain(page));
    await expectSignedInCall(assert, server, issued.AccessToken, PARTNER);

    const session = await page.evaluate(() => lib.getSession());
    assert.deepEqual(session, signedIn.value.session, "getSession() is the session signIn gave");

    const { local, session: sessionStorage, cookie } = await readableStorage(page);
    assert.deepEqual(Object.keys(local), ["fd.session"], "localStorage holds exactly fd.session");
    const saved = JSON.parse(local["fd.session"]);
    assert.deepEqual(Object.keys(saved).sort(), ["accessToken", "expiresAt", "partnerId"]);
    assert.equal(saved.accessToken, issued.AccessToken);
    assert.equal(saved.expiresAt, expiresAt);
    assert.equal(saved.partnerId, PARTNER);

    const everything = JSON.stringify({ local, sessionStorage, cookie, session });
    assert.ok(!everything.includes(issued.RefreshToken), "the refresh token is in script-readable storage");
    assert.ok(!everything.includes("rt."), "something refresh-token-like is in script-readable storage");
    assert.ok(!everything.includes(issued.IdToken), "the id token is stored");
    assert.deepEqual(await context.cookies(), [], "no cookies at all (HttpOnly included)");
  } finally {
    await context.close();
  }
});

test("a 401 rejects session_expired, clears the session and navigates to /login", async () => {
  const { context, page } = await openIndex();
  try {
    assert.equal((await configure(page)).ok, true);
    assert.equal((await signIn(page)).ok, true);
    assert.equal((await fdMe(page)).ok, true);
    // The server ends the session; its still-fresh access token is refused from now on.
    const revoke = await page.evaluate(() => attempt(() => lib.fdResponse("/session/revoke", { method: "POST" })));
    assert.equal(revoke.ok, true, JSON.stringify(revoke));
    await server.clearLog();

    // The rejection is recorded in sessionStorage, which survives the same-origin navigation.
    await Promise.all([
      page.waitForURL(`${server.origin}/login`, { timeout: 10_000 }),
      page.evaluate(() => {
        lib.fd("/me").then(
          (v) => sessionStorage.setItem("e2e.revoked", JSON.stringify({ ok: true, value: v })),
          (e) => sessionStorage.setItem("e2e.revoked", JSON.stringify({ ok: false, error: describeError(e) })),
        );
      }),
    ]).catch((e) => {
      throw new Error(`${e.message}${explain(page)}`);
    });
    // fd-proxy serves the page's index.html at /login too (a single-page app): it loaded afresh.
    await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
    await expectEndedBy401(assert, (fn) => page.evaluate(fn), server);
  } finally {
    await context.close();
  }
});

test("after a reload, configure restores the session and the access token still works (memory mode)", async () => {
  const { context, page } = await openIndex({ clock: true });
  try {
    assert.equal((await configure(page)).ok, true);
    const signedIn = await signIn(page);
    assert.equal(signedIn.ok, true, JSON.stringify(signedIn));
    const token = signedIn.value.session.accessToken;

    await page.reload();
    await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
    expectFdError(assert, await page.evaluate(() => window.beforeConfigure.getSession), "not_configured", "after reload");
    await server.clearLog();

    assert.equal((await configure(page)).ok, true, explain(page));
    const restored = await page.evaluate(() => lib.getSession());
    assert.deepEqual(restored, signedIn.value.session, "the restored session is the saved one");
    assert.deepEqual(await fdMe(page), ME, explain(page));
    assert.equal((await server.requestsTo("GET /api/me"))[0].token, tokenDigest(token));

    // The refresh token did not survive the reload: past the refresh threshold (4 min left) the
    // still-valid access token keeps working, and no refresh goes out.
    await page.clock.fastForward("56:00");
    const skew = (await page.evaluate(() => Date.now())) - Date.now();
    assert.ok(skew > 55 * 60_000, `the page clock moved on 56 minutes (skew ${skew} ms)`);
    assert.deepEqual(await fdMe(page), ME, explain(page));
    assert.equal((await server.requestsTo("GET /api/me")).at(-1).token, tokenDigest(token));
    assert.equal(await server.count("POST /api/auth/refresh_token"), 0, "no refresh without a refresh token");
    assert.equal(await server.count("POST /api/auth"), 0);
  } finally {
    await context.close();
  }
});

test("20 concurrent calls past the threshold make exactly one refresh and all use its token", async () => {
  const { context, page } = await openIndex({ clock: true });
  try {
    assert.equal((await configure(page)).ok, true);
    const { result: signedIn, tokens: issued } = await signInSeeing(page);
    assert.equal(signedIn.ok, true, JSON.stringify(signedIn));
    const first = signedIn.value.session.accessToken;
    await server.clearLog();
    const refreshBodies = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname === "/api/auth/refresh_token") refreshBodies.push(r.postDataJSON());
    });

    await page.clock.fastForward("56:00"); // 4 minutes left, under the 5-minute threshold
    const results = await page.evaluate(() => Promise.all(Array.from({ length: 20 }, () => attempt(() => lib.fd("/me")))));
    for (const [i, r] of results.entries()) {
      assert.deepEqual(r, ME, `call ${i}${explain(page)}`);
    }

    const refreshes = await server.requestsTo("POST /api/auth/refresh_token");
    assert.deepEqual(refreshes.map((r) => [r.status, r.user]), [[200, "alice"]], "exactly one refresh, accepted");
    assert.deepEqual(refreshBodies, [{ token: issued.RefreshToken, device_key: null, device_group_key: null }]);
    const fresh = await page.evaluate(() => lib.getSession().accessToken);
    assert.notEqual(fresh, first);
    const mes = await server.requestsTo("GET /api/me");
    assert.equal(mes.length, 20);
    for (const r of mes) {
      assert.equal(r.token, tokenDigest(fresh), "every call carried the new token");
      assert.equal(r.partner, PARTNER);
      assert.ok(r.at >= refreshes[0].at, "after the refresh was answered");
    }

    const { session, saved, now } = await page.evaluate(() => ({
      session: lib.getSession(),
      saved: JSON.parse(localStorage.getItem("fd.session")),
      now: Date.now(),
    }));
    assert.equal(session.accessToken, fresh);
    assert.equal(session.partnerId, PARTNER, "the refresh keeps the partner id");
    assert.deepEqual(saved, session, "token and expiry saved together");
    assert.ok(Math.abs(session.expiresAt - (now + 3600_000)) < 10_000, "expiry is arrival + the new token's lifetime");
    const everything = JSON.stringify(await readableStorage(page));
    assert.ok(!everything.includes(issued.RefreshToken), "refresh token in storage");

    // Fresh again: the next call goes out without another refresh.
    assert.equal((await fdMe(page)).ok, true);
    assert.equal(await server.count("POST /api/auth/refresh_token"), 1);
  } finally {
    await context.close();
  }
});
