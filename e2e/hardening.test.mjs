// CONTRACT "Hardening", what needs a real server or a real page: redirects on auth calls (Chromium
// and Node), the glue giving no handle on the instance, `<base href>` and the 401 navigation, and a
// Content-Security-Policy without 'wasm-unsafe-eval'. Each test names the report of issue 8 it proves
// fixed. The package under test is `$FD_PKG` (default `pkg`), served as shipped.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";

import { PAGE_HELPERS, ROOT, explain, launchBrowser, makeJwt, newPage, readBody } from "./lib.mjs";

const PKG = resolve(ROOT, process.env.FD_PKG ?? "pkg");
const TYPES = { ".js": "text/javascript", ".html": "text/html" };

/**
 * A server on 127.0.0.1 playing page, package and API at once. `routes` maps "METHOD /path" to a
 * handler `(req, res, body)`; every request is logged in `hits`. `headers` go on every page.
 */
async function serve({ routes = {}, headers = {} } = {}) {
  const hits = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const path = new URL(req.url, "http://x").pathname;
    hits.push({ method: req.method, path, body });
    const route = routes[`${req.method} ${path}`];
    if (route) return route(req, res, body);
    if (path.startsWith("/pkg/")) {
      try {
        const file = await readFile(join(PKG, path.slice(5)));
        res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", ...headers });
        return res.end(file);
      } catch {
        /* 404 below */
      }
    }
    if (path === "/" || path === "/login") {
      res.writeHead(200, { "content-type": "text/html", ...headers });
      return res.end(`<!doctype html><title>${path}</title>`);
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, hits, close: () => new Promise((r) => server.close(r)) };
}

const json = (status, value, extra = {}) => (req, res) => {
  res.writeHead(status, { "content-type": "application/json", ...extra });
  res.end(JSON.stringify(value));
};
const tokens = (refresh) =>
  json(200, { AccessToken: makeJwt(3600), RefreshToken: refresh, ExpiresIn: 3600, TokenType: "Bearer" });
const redirectTo = (url) => (req, res) => res.writeHead(307, { location: url }).end();

/** Loads the package into `page` (served by `site`) as `lib`, with the in-page helpers. */
async function loadPackage(page, site, html = "") {
  await page.goto(`${site.origin}/`);
  await page.setContent(`<!doctype html>${html}<script type="module">
    import * as lib from "${site.origin}/pkg/index.js";
    ${PAGE_HELPERS}
    window.ready = true;
  </script>`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

// Report 1: a 307 from an auth endpoint to another origin re-POSTed the refresh token there.
test("auth calls never follow a redirect: nothing reaches the other origin (Chromium)", async (t) => {
  const thief = await serve({ routes: { "POST /steal": tokens("stolen") } });
  const api = await serve({
    routes: {
      "POST /auth": tokens("refresh-SECRET-r1"),
      "POST /auth/refresh_token": redirectTo(`${thief.origin}/steal`),
      "POST /bounce/auth": redirectTo(`${thief.origin}/steal`),
      "GET /me": json(200, { me: "alice" }),
    },
  });
  const { context, page } = await newPage(browser);
  t.after(() => Promise.all([context.close(), api.close(), thief.close()]));
  await loadPackage(page, api);
  const result = await page.evaluate(async (base) => {
    await lib.configure({ baseUrl: base, refreshThresholdMs: 3_599_000, onSessionExpired() {} });
    await lib.signIn({ username: "alice" }, { partnerId: "p-1" });
    await new Promise((r) => setTimeout(r, 1100)); // under the threshold from now on
    const me = await attempt(() => lib.fd("/me"));
    const stale = lib.getSession().accessToken;
    return { me, kept: stale !== null };
  }, api.origin);
  assert.deepEqual(result.me, { ok: true, value: { me: "alice" } }, `the call went on with its token${explain(page)}`);
  assert.equal(result.kept, true, "a redirect is a transient failure: the session is kept");
  assert.equal(api.hits.filter((h) => h.path === "/auth/refresh_token").length, 1);
  assert.deepEqual(thief.hits, [], "the other origin received nothing");

  // Sign-in too: a redirect is `network`, and the password goes nowhere else.
  const signIn = await page.evaluate(async () => {
    await lib.configure({ baseUrl: location.origin, authUrl: `${location.origin}/bounce`, onSessionExpired() {} });
    return attempt(() => lib.signIn({ username: "alice", password: "pw-SECRET" }, { partnerId: "p-1" }));
  });
  assert.equal(signIn.error?.code, "network", JSON.stringify(signIn));
  assert.equal(api.hits.filter((h) => h.path === "/bounce/auth").length, 1);
  assert.deepEqual(thief.hits, [], "the password went nowhere else");
});

// Report 1, "same in Node": Node's fetch follows redirects by default too.
test("auth calls never follow a redirect: nothing reaches the other origin (Node)", async (t) => {
  const thief = await serve({ routes: { "POST /steal": tokens("stolen") } });
  const api = await serve({
    routes: {
      "POST /auth": redirectTo(`${thief.origin}/steal`),
      "POST /auth/refresh_token": redirectTo(`${thief.origin}/steal`),
    },
  });
  t.after(() => Promise.all([api.close(), thief.close()]));
  const lib = await import(pathToFileURL(join(PKG, "index.js")).href);
  await lib.configure({ baseUrl: api.origin, onSessionExpired() {} });
  await assert.rejects(lib.signIn({ username: "alice", password: "pw-SECRET" }, { partnerId: "p-1" }), {
    code: "network",
  });
  lib.setSession({
    accessToken: makeJwt(3600),
    refreshToken: "refresh-SECRET-n1",
    expiresAt: Date.now() - 1000,
    partnerId: "p-1",
  });
  await assert.rejects(lib.ensureFresh(), { code: "refresh_failed" });
  assert.deepEqual(thief.hits, [], "the other origin received nothing");
  assert.equal(api.hits.length, 2);
  lib.signOut();
});

// Report 5: any script could import the generated glue and reach the live instance's memory. The
// package is now one bundle: the glue is no module of its own, and the entry's exports hold no handle.
test("no module of the package hands out a handle on the wasm instance", async (t) => {
  const site = await serve();
  const { context, page } = await newPage(browser);
  t.after(() => Promise.all([context.close(), site.close()]));
  await loadPackage(page, site);
  const seen = await page.evaluate(async (origin) => {
    await lib.configure({ baseUrl: origin });
    const glue = await fetch(`${origin}/pkg/fd_fetch.js`);
    const handles = [];
    for (const [name, v] of Object.entries(lib)) {
      for (const k of v && typeof v === "object" ? Object.keys(v) : []) {
        if (v[k] instanceof WebAssembly.Memory || v[k] instanceof WebAssembly.Instance) handles.push(`${name}.${k}`);
      }
      if (v instanceof WebAssembly.Memory || v instanceof WebAssembly.Instance) handles.push(name);
    }
    return { glueStatus: glue.status, entryExports: Object.keys(lib).sort(), handles };
  }, site.origin);
  assert.equal(seen.glueStatus, 404, "the package serves no glue module");
  assert.deepEqual(seen.handles, []);
  for (const name of seen.entryExports) {
    assert.ok(!/memory|wasm|instance|initSync/i.test(name), `exported: ${name}`);
  }
});

// Report 6: an injected `<base href>` sent the 401 navigation to another origin.
test("loginUrl is resolved against the page's origin, not a <base> element", async (t) => {
  const other = await serve();
  const site = await serve({ routes: { "GET /me": json(401, { message: "expired" }) } });
  const { context, page } = await newPage(browser);
  t.after(() => Promise.all([context.close(), site.close(), other.close()]));
  await loadPackage(page, site, `<base href="${other.origin}/">`);
  const navigated = page.waitForURL((url) => url.pathname === "/login", { timeout: 10_000 });
  // The 401 navigates at once: the page that asked is gone before it could answer.
  await page.evaluate(async (origin) => {
    await lib.configure({ baseUrl: origin });
    lib.setSession({ accessToken: "a-SECRET", partnerId: "p-1" });
    lib.fd("/me").catch(() => {});
  }, site.origin);
  await navigated;
  assert.equal(new URL(page.url()).origin, site.origin, `landed on ${page.url()}${explain(page)}`);
  assert.equal(site.hits.filter((h) => h.path === "/me").length, 1);
  assert.deepEqual(other.hits, [], "the <base> origin was never asked");
});

// Report 11: under a CSP without 'wasm-unsafe-eval', configure rejected with a raw CompileError.
test("a CSP without 'wasm-unsafe-eval' makes configure reject with `unsupported`, at once", async (t) => {
  const site = await serve({ headers: { "content-security-policy": "script-src 'self' 'unsafe-inline'" } });
  const { context, page } = await newPage(browser);
  t.after(() => Promise.all([context.close(), site.close()]));
  await page.goto(`${site.origin}/`);
  await page.addScriptTag({
    type: "module",
    content: `import * as lib from "/pkg/index.js";
      const started = performance.now();
      lib.configure({ baseUrl: location.origin }).then(
        () => (window.outcome = { ok: true }),
        (e) => (window.outcome = { code: e.code, name: e.name, fd: e instanceof lib.FdError, message: e.message,
                                   ms: performance.now() - started }),
      );
      const later = await lib.configure({ baseUrl: location.origin }).catch((e) => e.code ?? e.name);
      window.later = later;`,
  });
  await page.waitForFunction(() => window.outcome && "later" in window, null, { timeout: 10_000 });
  const outcome = await page.evaluate(() => window.outcome);
  assert.equal(outcome.code, "unsupported", JSON.stringify(outcome) + explain(page));
  assert.equal(outcome.fd, true);
  assert.match(outcome.message, /'wasm-unsafe-eval'/);
  t.diagnostic(`rejected after ${outcome.ms.toFixed(1)} ms`);
  assert.equal(await page.evaluate(() => window.later), "unsupported", "a second call says the same");
});
