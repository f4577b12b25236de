// Shared helpers of the e2e tests: packing and installing the package, a mock partner API with a
// static file server (node:http only), headless Chromium, child processes that always get killed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const PKG = join(ROOT, "pkg");
export const WORK = join(ROOT, "e2e", ".work");
export const VITE = join(ROOT, "node_modules", "vite", "bin", "vite.js");
export const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

/** The files `npm pack ./pkg` must ship. */
export const SHIPPED = [
  "package.json",
  "index.js",
  "index.d.ts",
  "support.js",
  "fd_fetch.js",
  "fd_fetch.d.ts",
  "fd_fetch_wasm.js",
];

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

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

export const USER = { username: "alice", password: "wonderland" };

/**
 * Starts a server on 127.0.0.1 (`port`, or a free one) that serves `staticDir` (if given) and, under `/api`,
 * the mock partner API:
 *   POST /api/auth                 alice/wonderland → Cognito tokens, else 401
 *   POST /api/auth/refresh_token   known refresh token (and null device keys) → new access token
 *                                  (no ExpiresIn, no RefreshToken), else 401
 *   GET  /api/me                   valid Bearer token + X-Preferred-Partner-Id → {user, partner}, else 401
 *   GET  /api/revoked              always 401
 * Access tokens live `tokenLifetimeSec` (changeable through `server.tokenLifetimeSec`).
 * `server.requests` logs every API request ({method, path, headers, body}); `server.count("POST
 * /api/auth/refresh_token")` counts them (preflights count as "OPTIONS <path>").
 */
export async function startServer({ staticDir, tokenLifetimeSec = 3600, port: listenOn = 0 } = {}) {
  const state = {
    tokenLifetimeSec,
    accessTokens: new Map(), // token → exp (s, real clock)
    refreshTokens: new Set(),
    issued: [], // {via: "auth" | "refresh", accessToken, refreshToken?}
    requests: [],
  };

  const issueAccess = (via, extra = {}) => {
    const accessToken = makeJwt(state.tokenLifetimeSec);
    state.accessTokens.set(accessToken, decodeJwt(accessToken).exp);
    state.issued.push({ via, accessToken, ...extra });
    return accessToken;
  };
  const validAccess = (token) => (state.accessTokens.get(token) ?? 0) > Date.now() / 1000;

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      if (url.pathname === "/api" || url.pathname.startsWith("/api/")) {
        await handleApi(req, res, url);
      } else if (staticDir) {
        await serveStatic(req, res, url);
      } else {
        send(res, 404, "text/plain", "not found");
      }
    } catch (e) {
      if (!res.headersSent) send(res, 500, "text/plain", String(e?.stack ?? e));
      else res.destroy();
    }
  });

  async function handleApi(req, res, url) {
    const path = url.pathname;
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Allow-Credentials", "true");
      res.setHeader("Vary", "Origin");
    }
    const { raw, body } = await readRequest(req);
    state.requests.push({ method: req.method, path, query: url.search, headers: { ...req.headers }, body, raw });

    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": "authorization, x-preferred-partner-id, content-type, x-requested-with",
        "Access-Control-Max-Age": "0",
      });
      return res.end();
    }
    const json = (status, value) => send(res, status, "application/json", JSON.stringify(value));
    const route = `${req.method} ${path}`;

    if (route === "POST /api/auth") {
      if (body?.username === USER.username && body?.password === USER.password) {
        const refreshToken = `refresh-${random()}`;
        state.refreshTokens.add(refreshToken);
        const accessToken = issueAccess("auth", { refreshToken });
        return json(200, {
          AuthenticationResult: {
            AccessToken: accessToken,
            IdToken: `id-${random(6)}`,
            RefreshToken: refreshToken,
            ExpiresIn: state.tokenLifetimeSec,
            TokenType: "Bearer",
          },
        });
      }
      return json(401, { message: "bad credentials" });
    }
    if (route === "POST /api/auth/refresh_token") {
      const ok =
        body &&
        typeof body === "object" &&
        Object.keys(body).sort().join() === "device_group_key,device_key,token" &&
        body.device_key === null &&
        body.device_group_key === null &&
        state.refreshTokens.has(body.token);
      if (!ok) return json(401, { message: "invalid refresh token" });
      const accessToken = issueAccess("refresh", { refreshToken: body.token });
      return json(200, { AccessToken: accessToken, IdToken: `id-${random(6)}`, TokenType: "Bearer" });
    }
    if (route === "GET /api/me") {
      const auth = req.headers.authorization ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      const partner = req.headers["x-preferred-partner-id"];
      if (validAccess(token) && partner) return json(200, { user: "alice", partner });
      return json(401, { message: "unauthorized" });
    }
    if (route === "GET /api/revoked") return json(401, { message: "token revoked" });
    return json(404, { message: `no route ${route}` });
  }

  async function serveStatic(req, res, url) {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "method not allowed");
    const root = resolve(staticDir);
    let path;
    try {
      path = resolve(join(root, decodeURIComponent(url.pathname)));
    } catch {
      return send(res, 400, "text/plain", "bad path");
    }
    if (path !== root && !path.startsWith(root + sep)) return send(res, 403, "text/plain", "forbidden");
    for (const candidate of [path, join(path, "index.html"), `${path}.html`]) {
      const st = await stat(candidate).catch(() => null);
      if (st?.isFile()) {
        res.writeHead(200, {
          "Content-Type": MIME[extname(candidate)] ?? "application/octet-stream",
          "Content-Length": st.size,
          "Cache-Control": "no-store",
        });
        if (req.method === "HEAD") return res.end();
        return createReadStream(candidate).pipe(res);
      }
    }
    return send(res, 404, "text/plain", "not found");
  }

  await new Promise((res, rej) => {
    server.once("error", rej);
    server.listen(listenOn, "127.0.0.1", res);
  });
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    port,
    api: `${origin}/api`,
    state,
    get requests() {
      return state.requests;
    },
    set tokenLifetimeSec(s) {
      state.tokenLifetimeSec = s;
    },
    /** API requests matching "METHOD /api/path". */
    requestsTo(route) {
      return state.requests.filter((r) => `${r.method} ${r.path}` === route);
    },
    count(route) {
      return this.requestsTo(route).length;
    },
    /** The access token the server last issued (by sign-in or refresh). */
    lastIssued(via) {
      return state.issued.filter((i) => !via || i.via === via).at(-1);
    },
    /** Forgets the request log (not the tokens). */
    clearLog() {
      state.requests.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((res) => server.close(res));
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

function send(res, status, type, body) {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(body);
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

export async function launchBrowser() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
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
 * Opens a bundled test app at `url` (with `?api=` pointing at the mock API `api`), waits for its
 * main script to set `window.e2eResult`, and checks what it did: `not_configured` before configure,
 * then sign-in as partner `partner`, `fd("/me")` with both headers, cross-origin with a preflight.
 */
export async function checkBundledApp(browser, api, url, pageOrigin, partner) {
  api.clearLog();
  const { context, page } = await newPage(browser);
  try {
    await page.goto(`${url}?api=${encodeURIComponent(api.api)}`);
    await page.waitForFunction(() => window.e2eResult !== undefined, null, { timeout: 30_000 }).catch((e) => {
      throw new Error(`the app did not finish: ${e.message}${explain(page)}`);
    });
    const r = await page.evaluate(() => window.e2eResult);
    assert.equal(r.ok, true, `the app failed: ${r.error}${explain(page)}`);
    assert.deepEqual(r.beforeConfigure, { isFdError: true, isError: true, code: "not_configured" });
    assert.deepEqual(r.me, { user: "alice", partner });
    assert.equal(r.session.partnerId, partner);
    assert.equal(r.session.accessToken, api.lastIssued("auth").accessToken);

    const me = api.requestsTo("GET /api/me");
    assert.ok(me.length >= 1);
    assert.equal(me.at(-1).headers.authorization, `Bearer ${r.session.accessToken}`);
    assert.equal(me.at(-1).headers["x-preferred-partner-id"], partner);
    assert.equal(me.at(-1).headers.origin, pageOrigin, "the call was cross-origin");
    assert.ok(api.count("OPTIONS /api/me") >= 1, "the browser preflighted /api/me (CORS)");
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
