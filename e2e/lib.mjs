// Shared helpers of the e2e tests: packing and installing the package, fd-proxy's mock partner API
// (the one mock) with the page's files, headless Chromium, child processes that always get killed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const PKG = join(ROOT, "pkg");
export const WORK = join(ROOT, "e2e", ".work");
export const VITE = join(ROOT, "node_modules", "vite", "bin", "vite.js");
export const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

/** The files `npm pack ./pkg` must ship. */
export const SHIPPED = ["package.json", "index.js", "index.d.ts", "fd_fetch.d.ts"];

// ---------------------------------------------------------------------------------------------
// Processes

/** Environment for child processes: without the test runner's marker, so a child `node` is plain. */
export function childEnv(extra = {}) {
  const env = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", ...extra };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

const live = new Set(); // children still running, killed on exit whatever happens

process.on("exit", () => {
  for (const child of live) killGroup(child, "SIGKILL");
});

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal); // the child and what it started (esbuild, …)
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Starts a long-running child in its own process group. Returns `{ child, output(), stop() }`;
 * `stop()` ends the whole group (SIGTERM, then SIGKILL after 3 s) and resolves once it exited.
 */
export function startChild(cmd, args, { cwd = ROOT, env = {} } = {}) {
  const child = spawn(cmd, args, { cwd, env: childEnv(env), detached: true, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let out = "";
  let stdout = "";
  child.stdout.on("data", (d) => {
    out += d;
    stdout += d;
  });
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((res) => child.on("close", (code, signal) => res({ code, signal })));
  child.on("close", () => live.delete(child));
  child.on("error", (e) => (out += `\nspawn error: ${e.message}`));
  return {
    child,
    exited,
    output: () => out,
    stdout: () => stdout,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 3000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

/**
 * Runs a command to its end. Resolves with `{ code, out, stdout }` (`out`: stdout and stderr
 * interleaved); rejects on a non-zero exit unless `allowFail`.
 */
export async function run(cmd, args, { cwd = ROOT, env = {}, allowFail = false, timeoutMs = 120_000 } = {}) {
  const p = startChild(cmd, args, { cwd, env });
  const timer = setTimeout(() => p.stop(), timeoutMs);
  const { code, signal } = await p.exited;
  clearTimeout(timer);
  const out = p.output();
  if (code !== 0 && !allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed with ${code ?? signal}:\n${out}`);
  }
  return { code, out, stdout: p.stdout() };
}

// ---------------------------------------------------------------------------------------------
// Package

/** A fresh, empty directory `e2e/.work/<name>`. */
export async function freshDir(name) {
  const dir = join(WORK, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/** `npm pack ./pkg` into `dir`. Resolves with `{ tarball, files }` (paths inside the package). */
export async function pack(dir) {
  const { stdout } = await run("npm", ["pack", "./pkg", "--pack-destination", dir, "--json"]);
  const json = JSON.parse(stdout.slice(stdout.indexOf("[")));
  const [{ filename, files }] = json;
  return { tarball: join(dir, filename), files: files.map((f) => f.path) };
}

/**
 * Makes `dir` a project (its own `package.json`, unless one is there) and installs the tarball into
 * it. Returns the installed package's directory.
 */
export async function installInto(dir, tarball, packageJson = { name: "e2e-app", private: true, type: "module" }) {
  await mkdir(dir, { recursive: true });
  if (!(await exists(join(dir, "package.json")))) {
    await writeFile(join(dir, "package.json"), JSON.stringify(packageJson, null, 2));
  }
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: dir });
  return join(dir, "node_modules", "fd-fetch");
}

/** Packs `pkg/` once and installs it into `e2e/.work/<name>/app`. */
export async function packAndInstall(name, packageJson) {
  const dir = await freshDir(name);
  const { tarball, files } = await pack(dir);
  const app = join(dir, "app");
  await installInto(app, tarball, packageJson);
  return { dir, app, tarball, files };
}

export async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes `{relative path: content}` under `dir`, making directories. */
export async function writeFiles(dir, files) {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
}

// ---------------------------------------------------------------------------------------------
// Mock partner API + static files

const b64url = (s) => Buffer.from(s).toString("base64url");
const random = (n = 12) => randomBytes(n).toString("hex");

/** An unsigned JWT-shaped token `header.payload.sig` with `iat` now and `exp` `lifetimeSec` later. */
export function makeJwt(lifetimeSec, now = Math.floor(Date.now() / 1000)) {
  const header = b64url(JSON.stringify({ alg: "none", typ: "JWT" }));
  const payload = b64url(JSON.stringify({ sub: "alice", iat: now, exp: now + lifetimeSec, jti: random(6) }));
  return `${header}.${payload}.sig${random(4)}`;
}

export function decodeJwt(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

export const USER = { username: "alice", password: "wonderland" };

/** The first 16 hex digits of a token's SHA-256: how fd-proxy's mock request log shows a bearer token. */
export const tokenDigest = (token) => createHash("sha256").update(token).digest("hex").slice(0, 16);

/**
 * Starts fd-proxy's mock partner API (the one mock: `--mock-api --no-proxy`, see the README) on
 * 127.0.0.1, serving `staticDir` too when given (a single-page app: unknown paths get its
 * index.html). Users alice / wonderland (partners acme-eu, acme-us) and bob / builder (MFA code
 * 123456, partner builders-uk); `GET /api/me` → `{user, name, partnerId, partners}`;
 * `POST /api/session/revoke` ends the caller's session (its next call is a 401).
 *
 * What the mock answered comes from its request log (`GET /api/_mock/requests`), so these are
 * async: `requests()` (entries `{method, path, status, partner, token, user, at}`, `token` being
 * `tokenDigest(bearer)`), `requestsTo("METHOD /api/path")`, `count(route)` (preflights count as
 * "OPTIONS <path>"), `clearLog()`. `args` are more fd-proxy flags.
 */
export async function startServer({ staticDir, tokenLifetimeSec = 3600, args = [] } = {}) {
  const flags = ["--mock-api", "--no-proxy", "--token-lifetime", String(tokenLifetimeSec), ...args];
  if (staticDir) flags.push("--static-dir", staticDir);
  const server = await startFdProxy(flags);
  return {
    origin: server.origin,
    port: Number(new URL(server.origin).port),
    api: server.api,
    output: server.output,
    ...mockLog(server.api),
    close: server.stop,
  };
}

/**
 * The request log of fd-proxy's mock under `api` (`GET/DELETE {api}/_mock/requests`): what it
 * answered, oldest first, never a token. `requests()` (entries `{method, path, status, partner,
 * token, user, at}`, `token` being `tokenDigest(bearer)`), `requestsTo("METHOD /api/path")`,
 * `count(route)`, `clearLog()` (empties the log, not the mock's sessions).
 */
export function mockLog(api) {
  const requests = async () => {
    const r = await fetch(`${api}/_mock/requests`);
    assert.equal(r.status, 200, "the mock's request log answers");
    return r.json();
  };
  const requestsTo = async (route) => (await requests()).filter((r) => `${r.method} ${r.path}` === route);
  return {
    requests,
    requestsTo,
    count: async (route) => (await requestsTo(route)).length,
    async clearLog() {
      const r = await fetch(`${api}/_mock/requests`, { method: "DELETE" });
      assert.equal(r.status, 204, "the mock's request log clears");
    },
  };
}

/** A node:http request's whole body, as text. */
export async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

/** A request's body as `raw` text and as `body`: parsed JSON, else the raw text (`undefined` when empty). */
export async function readRequest(req) {
  const raw = await readBody(req);
  try {
    return { raw, body: raw ? JSON.parse(raw) : undefined };
  } catch {
    return { raw, body: raw };
  }
}

/** A port that was free a moment ago (for servers that want `--port`). */
export async function freePort() {
  const srv = createServer();
  await new Promise((res, rej) => {
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", res);
  });
  const { port } = srv.address();
  await new Promise((res) => srv.close(res));
  return port;
}

/** Polls `url` until it answers (any HTTP status below 500), or fails after `timeoutMs`. */
export async function waitForUrl(url, { timeoutMs = 30_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (child && (child.child.exitCode !== null || child.child.signalCode !== null)) {
      throw new Error(`process exited before ${url} answered:\n${child.output()}`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status < 500) return r;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})${child ? `\n${child.output()}` : ""}`);
}

// ---------------------------------------------------------------------------------------------
// Browser

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Headless Debian Chromium; `args` are more command-line switches (the bench's memory flags). */
export async function launchBrowser({ args = [] } = {}) {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: [...CHROMIUM_ARGS, ...args] });
}

/**
 * A new page in a fresh context (its own storage). `page.logs` collects console messages, page
 * errors and failed requests, for failure messages: `explain(page)`.
 */
export async function newPage(browser, { clock = false } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.logs = [];
  page.on("console", (m) => page.logs.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.stack ?? e.message}`));
  page.on("requestfailed", (r) => page.logs.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  if (clock) await page.clock.install();
  return { context, page };
}

export const explain = (page) => (page.logs.length ? `\npage log:\n  ${page.logs.join("\n  ")}` : "");

/**
 * In-page helpers, as a module script snippet: `window.describeError(e)` turns an error into plain
 * data, `window.attempt(fn)` awaits `fn()` and gives `{ok, value}` or `{ok: false, error}`, and
 * `window.attemptSync(fn)` does the same without awaiting (telling whether `fn` threw or returned).
 * Needs the package namespace in scope as `lib`.
 */
export const PAGE_HELPERS = `
  const describeError = (e) =>
    e !== null && typeof e === "object"
      ? { isFdError: e instanceof lib.FdError, isError: e instanceof Error, name: e.name, code: e.code,
          message: String(e.message), status: e.status, body: e.body,
          ownKeys: Object.keys(e), ctor: e.constructor && e.constructor.name }
      : { thrown: String(e) };
  const attempt = async (fn) => {
    try { return { ok: true, value: await fn() }; } catch (e) { return { ok: false, error: describeError(e) }; }
  };
  const attemptSync = (fn) => {
    try {
      const value = fn();
      return { ok: true, returnedPromise: value instanceof Promise, value: value instanceof Promise ? "(a promise)" : value };
    } catch (e) { return { ok: false, error: describeError(e) }; }
  };
  Object.assign(window, { lib, describeError, attempt, attemptSync });
`;

/** The exports that return a promise, and those that act at once (and so throw), before `configure`. */
export const ASYNC_EXPORTS = ["fd", "fdResponse", "signIn", "completeMfa", "ensureFresh"];
export const SYNC_EXPORTS = [
  "getSession",
  "setSession",
  "signOut",
  "onSessionChange",
  "onRefresh",
  "startAutoRefresh",
  "stopAutoRefresh",
  "attachAxios",
];

/**
 * The plain page of the package tests (an import map and a <script type="module">, no bundler):
 * it records what every export does before anyone could call `configure` (`window.beforeConfigure`),
 * then exposes the module (`window.lib`) and PAGE_HELPERS. `prelude`: markup for the <head> first.
 */
export function plainPage(prelude = "") {
  return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>fd-fetch plain page</title>
${prelude}
<script type="importmap">{"imports": {"fd-fetch": "/node_modules/fd-fetch/index.js"}}</script>
<script type="module">
  import * as lib from "fd-fetch";
  ${PAGE_HELPERS}
  const calls = {
    fd: () => lib.fd("/me"),
    fdResponse: () => lib.fdResponse("/me"),
    signIn: () => lib.signIn({ username: "alice", password: "wonderland" }, { partnerId: "p-1" }),
    completeMfa: () => lib.completeMfa({ code: "123456" }),
    ensureFresh: () => lib.ensureFresh(),
    getSession: () => lib.getSession(),
    setSession: () => lib.setSession({ accessToken: "a.b.c", partnerId: "p-1" }),
    signOut: () => lib.signOut(),
    onSessionChange: () => lib.onSessionChange(() => {}),
    onRefresh: () => lib.onRefresh(() => {}),
    startAutoRefresh: () => lib.startAutoRefresh(),
    stopAutoRefresh: () => lib.stopAutoRefresh(),
    attachAxios: () => {
      const side = { use: () => 0, eject: () => {} }; // enough of an axios instance
      return lib.attachAxios({ interceptors: { request: side, response: { ...side } } });
    },
  };
  window.beforeConfigure = {};
  for (const name of ${JSON.stringify(ASYNC_EXPORTS)}) {
    window.beforeConfigure[name] = await attempt(calls[name]);
  }
  for (const name of Object.keys(calls)) window.beforeConfigure[name] ??= attemptSync(calls[name]);
  window.ready = true;
</script>
</head>
<body><h1>fd-fetch</h1></body>
</html>
`;
}

/** The page a dead session navigates to. */
export const LOGIN_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>login</title></head><body><h1>login</h1></body></html>`;

/**
 * Asserts that every export the plain page called before `configure` (its `window.beforeConfigure`)
 * failed with FdError `not_configured`: the async ones by rejecting, the others by throwing.
 */
export function expectNotConfigured(assert, recorded) {
  for (const name of [...ASYNC_EXPORTS, ...SYNC_EXPORTS]) {
    expectFdError(assert, recorded[name], "not_configured", `${name}() before configure`);
  }
}

/**
 * A page function (for Playwright's or e2e/webdriver.mjs's `evaluate`): everything script-readable
 * that could hold a token, web storage and `document.cookie`. Self-contained, since it is sent as
 * source.
 */
export function scriptReadable() {
  const dump = (s) => Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
  return { local: dump(localStorage), session: dump(sessionStorage), cookie: document.cookie };
}

/** Asserts that an `attempt` result is a rejection with an FdError of `code`. */
export function expectFdError(assert, result, code, what) {
  assert.equal(result.ok, false, `${what}: expected FdError ${code}, got ${JSON.stringify(result)}`);
  const e = result.error;
  assert.equal(e.code, code, `${what}: code (error: ${JSON.stringify(e)})`);
  assert.equal(e.isFdError, true, `${what}: instanceof FdError (error: ${JSON.stringify(e)})`);
  assert.equal(e.isError, true, `${what}: instanceof Error`);
  assert.equal(e.name, "FdError", `${what}: name`);
  assert.ok(e.message.length > 0, `${what}: a message`);
}

/**
 * The mock's log after one sign-in and one `fd("/me")`: the call carried `accessToken` as its bearer
 * and `partner` as `X-Preferred-Partner-Id`, was answered 200, and no refresh went out.
 */
export async function expectSignedInCall(assert, server, accessToken, partner) {
  const [sent] = await server.requestsTo("GET /api/me");
  assert.equal(sent.token, tokenDigest(accessToken), "Authorization: Bearer <the access token>");
  assert.equal(sent.partner, partner, "X-Preferred-Partner-Id");
  assert.equal(sent.status, 200);
  assert.equal(await server.count("POST /api/auth"), 1);
  assert.equal(await server.count("POST /api/auth/refresh_token"), 0);
}

/**
 * After the mock revoked the session and the page's next `fd("/me")` met the 401 (the page keeps
 * its outcome in sessionStorage `e2e.revoked`): the call rejected with `session_expired`, storage
 * is empty, the 401 was not retried and no refresh went out. `evaluate(fn)` runs `fn` in the page
 * (Playwright's `page.evaluate` or a WebDriver session's).
 */
export async function expectEndedBy401(assert, evaluate, server) {
  const revoked = JSON.parse(await evaluate(() => sessionStorage.getItem("e2e.revoked")));
  expectFdError(assert, revoked, "session_expired", 'fd("/me") after the session was revoked');
  assert.equal(await evaluate(() => localStorage.getItem("fd.session")), null, "the session is gone");
  assert.equal(await evaluate(() => localStorage.length), 0);
  const me = await server.requestsTo("GET /api/me");
  assert.deepEqual(me.map((r) => r.status), [401], "a 401 is never retried");
  assert.equal(await server.count("POST /api/auth/refresh_token"), 0);
}

/**
 * Opens a bundled test app at `url` (with `?api=` pointing at the mock API `api`, a `startServer`),
 * waits for its main script to set `window.e2eResult`, and checks what it did: `not_configured`
 * before configure, then sign-in as alice with partner `partner`, `fd("/me")` with both headers (as
 * the mock logged it), cross-origin with a preflight.
 */
export async function checkBundledApp(browser, api, url, pageOrigin, partner) {
  assert.notEqual(new URL(url).origin, new URL(api.api).origin, "the page and the API are two origins");
  await api.clearLog();
  const { context, page } = await newPage(browser);
  try {
    await page.goto(`${url}?api=${encodeURIComponent(api.api)}`);
    await page.waitForFunction(() => window.e2eResult !== undefined, null, { timeout: 30_000 }).catch((e) => {
      throw new Error(`the app did not finish: ${e.message}${explain(page)}`);
    });
    const r = await page.evaluate(() => window.e2eResult);
    assert.equal(r.ok, true, `the app failed: ${r.error}${explain(page)}`);
    assert.deepEqual(r.beforeConfigure, { isFdError: true, isError: true, code: "not_configured" });
    assert.equal(r.me.user, "alice");
    assert.equal(r.me.partnerId, partner, "the mock saw the partner header");
    assert.equal(r.session.partnerId, partner);

    const [signIn] = await api.requestsTo("POST /api/auth");
    assert.deepEqual([signIn?.status, signIn?.user], [200, "alice"], "one sign-in, as alice");
    const me = await api.requestsTo("GET /api/me");
    assert.ok(me.length >= 1);
    assert.equal(me.at(-1).status, 200);
    assert.equal(me.at(-1).token, tokenDigest(r.session.accessToken), "the call carried the session's token");
    assert.equal(me.at(-1).partner, partner);
    assert.ok((await api.count("OPTIONS /api/me")) >= 1, "the browser preflighted /api/me (CORS: a cross-origin call)");
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------------------------
// fd-proxy, the Rust server (mock partner API + refresh-token proxy)

export const FD_PROXY = join(ROOT, "target", "debug", "fd-proxy");

/**
 * Builds (if needed) and starts `fd-proxy --listen 127.0.0.1:0 …args` with a throwaway cookie key.
 * Resolves once it printed its address, with `{ origin, api, proxy, output(), stop() }`.
 */
export async function startFdProxy(args) {
  await run("cargo", ["build", "--quiet", "-p", "fd-proxy", "--features", "mock"], { timeoutMs: 600_000 });
  const server = startChild(FD_PROXY, ["--listen", "127.0.0.1:0", ...args], {
    env: { FD_PROXY_COOKIE_KEY: randomBytes(64).toString("base64") },
  });
  const deadline = Date.now() + 20_000;
  let origin;
  while (!(origin = server.stdout().match(/^fd-proxy listening on (http:\/\/\S+)$/m)?.[1])) {
    if (Date.now() > deadline || server.child.exitCode !== null) {
      await server.stop();
      throw new Error(`fd-proxy did not start:\n${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { origin, api: `${origin}/api`, proxy: `${origin}/proxy`, output: server.output, stop: server.stop };
}
