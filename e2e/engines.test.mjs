// The packed package in a plain page (an import map and a <script type="module">, no bundler) in
// the engines besides Chromium, through WebDriver (e2e/webdriver.mjs): Firefox ESR (headless) and
// WebKitGTK's MiniBrowser (a stand-in for Safari, under Xvfb), one session at a time, against the
// fd-proxy's mock partner API on the same origin (what it answered comes from its request log:
// the partner header, a digest of the bearer token, the status). The same user-visible checks as plain-page.test.mjs does in
// Chromium: errors before configure, sign-in, a call with both headers, what is stored, one refresh
// for concurrent calls past the threshold, the 401 path, a reload.
//
// WebDriver has no fake clock: the page runs `Date.now()` (which the package reads) `window.skewMs`
// ahead of the real clock, set by the test. An engine that is not installed is skipped with the
// reason, unless FD_REQUIRE_ENGINES=1 (npm test sets it, after setup.sh installed them): then it fails.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  LOGIN_HTML,
  USER,
  decodeJwt,
  expectEndedBy401,
  expectFdError,
  expectNotConfigured,
  expectSignedInCall,
  packAndInstall,
  plainPage,
  scriptReadable,
  startServer,
  tokenDigest,
  writeFiles,
} from "./lib.mjs";
import { ENGINES, PAGE_PRELUDE, missing, skipReason, startDriver } from "./webdriver.mjs";

const INDEX_HTML = plainPage(PAGE_PRELUDE);

const PARTNER = "acme-eu"; // one of alice's partners at the mock
/** What `fd("/me")` resolves with at the mock for alice and PARTNER. */
const ME = { user: "alice", name: "Alice Liddell", partnerId: PARTNER, partners: ["acme-eu", "acme-us"] };
/** 56 minutes: 4 minutes left of a 1-hour token, under the 5-minute default threshold. */
const PAST_THRESHOLD = 56 * 60_000;

let work;
let server;

before(async () => {
  work = await packAndInstall("engines");
  await writeFiles(work.app, { "index.html": INDEX_HTML, "login.html": LOGIN_HTML });
  server = await startServer({ staticDir: work.app });
});
after(() => server?.close());

for (const id of ["firefox", "webkit"]) {
  describe(`plain page in ${ENGINES[id].name}`, { skip: skipReason(id) }, () => {
    let driver;
    let s; // the WebDriver session

    before(async () => {
      const lacks = missing(id);
      if (lacks) throw new Error(lacks);
      driver = await startDriver(id);
      s = await driver.newSession();
      console.log(`# ${ENGINES[id].name}: ${s.browser}`);
    });
    after(async () => {
      await s?.quit();
      await driver?.stop();
    });

    /** The page's recorded errors, for failure messages. */
    const explain = async () => {
      const errors = await s.evaluate(() => window.pageErrors ?? []).catch((e) => [`(unreadable: ${e.message})`]);
      return errors.length ? `\n  page errors:\n    ${errors.join("\n    ")}` : "";
    };

    /** index.html with empty storage and the module loaded (each test starts signed out). */
    async function openIndex() {
      await s.goto(`${server.origin}/`);
      await s.evaluate(() => {
        localStorage.clear();
        sessionStorage.clear();
      });
      await server.clearLog();
      await s.refresh();
      const ready = await s.waitFor(() => window.ready === true);
      assert.ok(ready, `the page did not load the package${await explain()}`);
    }

    const configure = (options = {}) =>
      s.evaluate((api, options) => attempt(() => lib.configure({ baseUrl: api, ...options })), server.api, options);
    const signIn = () => s.evaluate((user, partnerId) => attempt(() => lib.signIn(user, { partnerId })), USER, PARTNER);
    /** What the page sent to / received from `path` (the sign-in or refresh route): PAGE_PRELUDE's record. */
    const authSeen = (path) => s.evaluate((path) => window.authSeen.filter((x) => x.path === path), path);
    const fdMe = () => s.evaluate(() => attempt(() => lib.fd("/me")));
    const skew = (ms) => s.evaluate((ms) => (window.skewMs = ms), ms);
    const readable = () => s.evaluate(scriptReadable);

    test("before configure every export throws or rejects with FdError not_configured", async () => {
      await openIndex();
      const r = await s.evaluate(() => window.beforeConfigure);
      expectNotConfigured(assert, r);
      assert.deepEqual(await server.requests(), [], "nothing was sent before configure");
    });

    test("bad options reject with bad_config naming the option; a good configure after them works", async () => {
      await openIndex();
      const empty = await s.evaluate(() => attempt(() => lib.configure({})));
      expectFdError(assert, empty, "bad_config", "configure({})");
      assert.match(empty.error.message, /baseUrl/);
      const offsite = await configure({ loginUrl: "https://evil.example/login" });
      expectFdError(assert, offsite, "bad_config", "configure with an off-origin loginUrl");
      assert.match(offsite.error.message, /loginUrl/);
      assert.equal((await configure()).ok, true, await explain());
    });

    test("configure, signIn, fd: both headers sent, only the access token stored, no cookie", async () => {
      await openIndex();
      assert.equal((await configure()).ok, true, await explain());
      const signedIn = await signIn();
      assert.equal(signedIn.ok, true, `signIn: ${JSON.stringify(signedIn)}${await explain()}`);
      const answers = await authSeen("/api/auth");
      assert.equal(answers.length, 1, "the page received one sign-in answer");
      const issued = answers[0].answer.AuthenticationResult ?? answers[0].answer;
      assert.equal(signedIn.value.status, "signed_in");
      assert.equal(signedIn.value.session.accessToken, issued.AccessToken);
      assert.equal(decodeJwt(issued.AccessToken).sub, "alice");
      assert.equal(signedIn.value.session.partnerId, PARTNER);

      assert.deepEqual(await fdMe(), { ok: true, value: ME }, await explain());
      await expectSignedInCall(assert, server, issued.AccessToken, PARTNER);

      const { local, session, cookie } = await readable();
      assert.deepEqual(Object.keys(local), ["fd.session"], "localStorage holds exactly fd.session");
      const saved = JSON.parse(local["fd.session"]);
      assert.deepEqual(saved, signedIn.value.session, "the saved session is signIn's");
      const everything = JSON.stringify({ local, session, cookie });
      assert.ok(issued.RefreshToken, "the sign-in answer had a refresh token");
      assert.ok(!everything.includes(issued.RefreshToken), "the refresh token is in script-readable storage");
      assert.ok(!everything.includes("rt."), "something refresh-token-like is in script-readable storage");
      assert.ok(!everything.includes(issued.IdToken), "the id token is stored");
      assert.deepEqual(await s.cookies(), [], "no cookies at all (HttpOnly included)");
    });

    test("20 concurrent calls past the threshold make exactly one refresh and all use its token", async () => {
      await openIndex();
      assert.equal((await configure()).ok, true);
      const signedIn = await signIn();
      assert.equal(signedIn.ok, true, JSON.stringify(signedIn));
      const [{ answer }] = await authSeen("/api/auth");
      const issued = answer.AuthenticationResult ?? answer;
      await server.clearLog();

      await skew(PAST_THRESHOLD);
      const results = await s.evaluate(() => Promise.all(Array.from({ length: 20 }, () => attempt(() => lib.fd("/me")))));
      for (const [i, r] of results.entries()) assert.deepEqual(r, { ok: true, value: ME }, `call ${i}${await explain()}`);

      const refreshes = await server.requestsTo("POST /api/auth/refresh_token");
      assert.deepEqual(refreshes.map((r) => [r.status, r.user]), [[200, "alice"]], "exactly one refresh, accepted");
      const refreshBodies = (await authSeen("/api/auth/refresh_token")).map((x) => x.sent);
      assert.deepEqual(refreshBodies, [{ token: issued.RefreshToken, device_key: null, device_group_key: null }]);
      const fresh = await s.evaluate(() => lib.getSession().accessToken);
      assert.notEqual(fresh, signedIn.value.session.accessToken);
      const mes = await server.requestsTo("GET /api/me");
      assert.equal(mes.length, 20);
      for (const r of mes) {
        assert.equal(r.token, tokenDigest(fresh), "every call carried the new token");
        assert.equal(r.partner, PARTNER);
        assert.equal(r.status, 200);
        assert.ok(r.at >= refreshes[0].at, "after the refresh was answered");
      }
      const { session, saved, readable: everything } = await s.evaluate(() => ({
        session: lib.getSession(),
        saved: JSON.parse(localStorage.getItem("fd.session")),
        readable: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie,
      }));
      assert.equal(session.accessToken, fresh);
      assert.equal(session.partnerId, PARTNER, "the refresh keeps the partner id");
      assert.deepEqual(saved, session, "token and expiry saved together");
      assert.ok(!everything.includes(issued.RefreshToken), "refresh token in storage");

      assert.equal((await fdMe()).ok, true);
      assert.equal(await server.count("POST /api/auth/refresh_token"), 1, "fresh again: no second refresh");
    });

    test("a 401 rejects session_expired, clears the session and navigates to /login", async () => {
      await openIndex();
      assert.equal((await configure()).ok, true);
      assert.equal((await signIn()).ok, true);
      assert.equal((await fdMe()).ok, true);
      // The server ends the session; its still-fresh access token is refused from now on.
      const revoke = await s.evaluate(() => attempt(() => lib.fdResponse("/session/revoke", { method: "POST" })));
      assert.equal(revoke.ok, true, JSON.stringify(revoke));
      await server.clearLog();

      // The rejection is recorded in sessionStorage, which survives the same-origin navigation.
      await s.evaluate(() => {
        lib.fd("/me").then(
          (v) => sessionStorage.setItem("e2e.revoked", JSON.stringify({ ok: true, value: v })),
          (e) => sessionStorage.setItem("e2e.revoked", JSON.stringify({ ok: false, error: describeError(e) })),
        );
      });
      const deadline = Date.now() + 10_000;
      while ((await s.url()) !== `${server.origin}/login` && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await s.url(), `${server.origin}/login`, "the page went to loginUrl");
      // fd-proxy serves the page's index.html at /login too (a single-page app): it loaded afresh.
      assert.ok(await s.waitFor(() => window.ready === true), `the page at /login did not load${await explain()}`);
      await expectEndedBy401(assert, (fn) => s.evaluate(fn), server);
    });

    test("after a reload, configure restores the session; without the refresh token no refresh goes out", async () => {
      await openIndex();
      assert.equal((await configure()).ok, true);
      const signedIn = await signIn();
      assert.equal(signedIn.ok, true, JSON.stringify(signedIn));
      const token = signedIn.value.session.accessToken;

      await s.refresh();
      assert.ok(await s.waitFor(() => window.ready === true), `reloaded page did not load${await explain()}`);
      await server.clearLog();
      assert.equal((await configure()).ok, true, await explain());
      assert.deepEqual(await s.evaluate(() => lib.getSession()), signedIn.value.session, "the restored session is the saved one");
      assert.deepEqual(await fdMe(), { ok: true, value: ME }, await explain());
      assert.equal((await server.requestsTo("GET /api/me"))[0].token, tokenDigest(token));

      // (The same skew makes the 20 calls above refresh. Script run by WebDriver may see its own
      // Date in Firefox, so the page's clock is not read back here.)
      await skew(PAST_THRESHOLD);
      assert.deepEqual(await fdMe(), { ok: true, value: ME }, await explain());
      const mes = await server.requestsTo("GET /api/me");
      assert.deepEqual(mes.map((r) => [r.status, r.token]), [[200, tokenDigest(token)], [200, tokenDigest(token)]], "both calls with the restored token");
      assert.equal(await server.count("POST /api/auth/refresh_token"), 0, "no refresh without a refresh token");
      assert.equal(await server.count("POST /api/auth"), 0);
    });
  });
}
