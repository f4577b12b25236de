// A page on another origin than the API: the packed package in a plain page served from one port,
// fd-proxy's mock API and proxy on another. Chromium enforces CORS, so these pass only if the
// server answers preflights for both custom headers, and shares credentials with allowed origins
// only.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PAGE_HELPERS, explain, launchBrowser, newPage, packAndInstall, startFdProxy, startServer, writeFiles } from "./lib.mjs";

const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>another origin</title>
<script type="importmap">{"imports": {"fd-fetch": "/node_modules/fd-fetch/index.js"}}</script>
<script type="module">
  import * as lib from "fd-fetch";
  ${PAGE_HELPERS}
  window.ready = true;
</script></head><body></body></html>`;

const ALICE = { username: "alice", password: "wonderland" };

let pageServer; // serves the page (and the package) on its own origin
let allowing; // fd-proxy that lists the page's origin in --allowed-origin
let strict; // fd-proxy that does not
let browser;

before(async () => {
  const work = await packAndInstall("cross-origin");
  await writeFiles(work.app, { "index.html": INDEX_HTML });
  pageServer = await startServer({ staticDir: work.app });
  allowing = await startFdProxy(["--mock-api", "--allowed-origin", pageServer.origin]);
  strict = await startFdProxy(["--mock-api"]);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await Promise.all([pageServer?.close(), allowing?.stop(), strict?.stop()]);
});

async function open(t) {
  const { context, page } = await newPage(browser);
  t.after(() => context.close());
  await page.goto(`${pageServer.origin}/`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15_000 });
  return { context, page };
}

const inPage = (page, fn, arg) => page.evaluate(fn, arg);

test("memory mode: sign-in and calls with both custom headers cross origins (preflighted)", async (t) => {
  const { page } = await open(t);
  assert.notEqual(new URL(allowing.origin).port, new URL(pageServer.origin).port, "two origins");
  const r = await inPage(
    page,
    async ([api, user]) => {
      await lib.configure({ baseUrl: api });
      const signIn = await attempt(() => lib.signIn(user, { partnerId: "acme-eu" }));
      const me = await attempt(() => lib.fd("/me"));
      return { signIn, me };
    },
    [allowing.api, ALICE],
  );
  assert.equal(r.signIn.ok, true, JSON.stringify(r.signIn) + explain(page));
  assert.equal(r.signIn.value.status, "signed_in");
  assert.equal(r.me.ok, true, JSON.stringify(r.me) + explain(page));
  assert.equal(r.me.value.user, "alice");
  assert.equal(r.me.value.partnerId, "acme-eu", "X-Preferred-Partner-Id crossed the origin");
});

test("cookie mode: the proxy sets its cookie for an allowed origin and refreshes with it", async (t) => {
  const { context, page } = await open(t);
  const r = await inPage(
    page,
    async ([api, proxy, user]) => {
      // A threshold 50 ms short of the tokens' hour: once 100 ms have passed, the call refreshes
      // first, through the cookie. (A threshold above the lifetime would mean half-life instead.)
      await lib.configure({ baseUrl: api, authUrl: proxy, refreshTokenIn: "cookie", refreshThresholdMs: 3_599_950 });
      const signIn = await attempt(() => lib.signIn(user, { partnerId: "acme-us" }));
      const first = lib.getSession()?.accessToken;
      await new Promise((r) => setTimeout(r, 100));
      const me = await attempt(() => lib.fd("/me"));
      const second = lib.getSession()?.accessToken;
      return { signIn, me, refreshed: Boolean(first && second && first !== second), cookie: document.cookie };
    },
    [allowing.api, allowing.proxy, ALICE],
  );
  assert.equal(r.signIn.ok, true, JSON.stringify(r.signIn) + explain(page));
  assert.equal(r.me.ok, true, JSON.stringify(r.me) + explain(page));
  assert.equal(r.me.value.partnerId, "acme-us");
  assert.equal(r.refreshed, true, "the call went out with a token the cookie's refresh gave");
  assert.equal(r.cookie, "", "nothing script-readable");
  const cookies = await context.cookies(allowing.origin + "/proxy/auth/refresh_token");
  const jar = cookies.find((c) => c.name === "fd_refresh");
  assert.ok(jar, `the proxy's cookie is in the browser: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(jar.httpOnly, true);
  assert.equal(jar.sameSite, "Strict");
  assert.equal(jar.path, "/proxy/auth");
});

test("cookie mode: a proxy that does not allow the page's origin shares nothing with it", async (t) => {
  const { context, page } = await open(t);
  const r = await inPage(
    page,
    async ([api, proxy, user]) => {
      await lib.configure({ baseUrl: api, authUrl: proxy, refreshTokenIn: "cookie" });
      return attempt(() => lib.signIn(user, { partnerId: "acme-eu" }));
    },
    [strict.api, strict.proxy, ALICE],
  );
  // The preflight got no CORS grant for this origin, so Chromium never sent the sign-in, and fetch
  // reports that as a network failure. No cookie, no session.
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.error.code, "network", JSON.stringify(r.error));
  assert.deepEqual((await context.cookies(strict.origin)).map((c) => c.name), []);
  assert.equal(await page.evaluate(() => lib.getSession()), null);
});
