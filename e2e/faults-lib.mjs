// The fault matrix's plumbing (e2e/faults.test.mjs): a node:http fault injector on the page's own
// origin, with a per-fault handler for any route; a second server on another origin that only
// counts what reaches it; the test page; tokens the test can look for in every error; and the table.
//
// The injector is not a mock of the partner API (fd-proxy's --mock-api is the one mock, see the
// README). Its rows make routes hang, trickle, redirect, close the socket or answer garbage, which a
// mock that behaves like the provider must not do; and its stand-in routes are deliberately
// permissive (any password, any token; /me echoes the headers it got) so that a row can plant
// whatever session it needs with setSession and see which token a call carried. Folding all that
// into fd-proxy as a control route would put a fault switchboard in the mock for one suite.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { PAGE_HELPERS, SHIPPED, readBody, readRequest } from "./lib.mjs";

export const STORAGE_KEY = "fd.faults";

const b64url = (s) => Buffer.from(s).toString("base64url");
const rand = (n = 6) => randomBytes(n).toString("hex");

/**
 * Every token a row makes or the server issues, so the row can check that none of them shows in
 * an error's message, its JSON or a console line. All carry "TKN" in their signature.
 */
export class Tokens {
  constructor() {
    this.all = new Set();
  }
  /** A JWT-shaped access token for `sub`, issued now (real clock) for `lifetime` seconds. */
  jwt(sub = "alice", lifetime = 3600) {
    const iat = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: "none", typ: "JWT" }));
    const payload = b64url(JSON.stringify({ sub, iat, exp: iat + lifetime, jti: rand(4) }));
    return this.add(`${header}.${payload}.TKN${rand(8)}`);
  }
  /** A token that is not a JWT (its lifetime then comes from ExpiresIn or the default). */
  opaque(kind = "access") {
    return this.add(`${kind}-TKN${rand(10)}`);
  }
  refresh() {
    return this.opaque("refresh");
  }
  add(token) {
    this.all.add(token);
    return token;
  }
  clear() {
    this.all.clear();
  }
}

export function subOf(token) {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).sub ?? "(no sub)";
  } catch {
    return "(not a JWT)";
  }
}

// ---------------------------------------------------------------------------------------------
// The page

/** The test page: the package through an import map, lib.mjs's helpers, and the rows' helpers. */
export const INDEX_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>fd-fetch faults</title>
<script type="importmap">{"imports":{"fd-fetch":"/fd-fetch/index.js"}}</script>
<script type="module">
  import * as lib from "fd-fetch";
  ${PAGE_HELPERS}
  // One storage key per row (\`?key=\`): rows share a browser context, one after the other.
  const KEY = new URLSearchParams(location.search).get("key") ?? ${JSON.stringify(STORAGE_KEY)};
  window.KEY = KEY;
  window.expired = 0;
  window.onExpired = () => { window.expired += 1; };
  // Every error a row caught, as text, for the token check (done in the page: a 1 MB token or a
  // 100 MB path need not cross to Node).
  window.errs = [];
  const keep = (e) => {
    const safe = (f) => { try { return f(); } catch (x) { return "(threw: " + x + ")"; } };
    errs.push({
      message: safe(() => String(e?.message ?? e)),
      json: safe(() => JSON.stringify(e)),
      str: safe(() => String(e)),
      // An FdError with a code and a message, or the AbortError that the contract passes through.
      fd:
        (e instanceof lib.FdError && e.name === "FdError" && typeof e.code === "string" && String(e.message).length > 0) ||
        (e instanceof DOMException && e.name === "AbortError"),
      what: safe(() => (e?.name ?? typeof e) + ":" + e?.code),
    });
  };
  window.tryA = async (fn) => {
    try { return { ok: true, value: await fn() }; } catch (e) { keep(e); return { ok: false, error: describeError(e) }; }
  };
  window.trySync = (fn) => {
    try { return { ok: true, value: fn() }; } catch (e) { keep(e); return { ok: false, error: describeError(e) }; }
  };
  window.cfg = (extra = {}) =>
    tryA(() => lib.configure({ baseUrl: location.origin + "/api", storageKey: KEY, onSessionExpired: onExpired, ...extra }));
  /** A session whose token is valid for \`leftMs\` more (default: a minute, under the 5 min threshold). */
  window.put = (accessToken, refreshToken, leftMs = 60_000, partnerId = "p-1") =>
    trySync(() => lib.setSession({ accessToken, refreshToken, expiresAt: Date.now() + leftMs, partnerId }));
  /** "ok:old" (sent with \`old\`), "ok:new" (with the session's token now), "ok:other", or "err:<code>". */
  window.callView = (r, old) => {
    if (!r.ok) return "err:" + (typeof r.error.code === "string" ? r.error.code : r.error.name ?? r.error.thrown);
    const auth = r.value && r.value.auth;
    if (auth === "Bearer " + old) return "ok:old";
    let now;
    try { now = lib.getSession()?.accessToken; } catch { now = undefined; }
    if (now !== undefined && auth === "Bearer " + now) return "ok:new";
    return "ok:other";
  };
  /** "kept" (still \`old\`), "new", "none", or "err:<code>". */
  window.sessionView = (old) => {
    const r = trySync(() => lib.getSession());
    if (!r.ok) return "err:" + r.error.code;
    return r.value === null ? "none" : r.value.accessToken === old ? "kept" : "new";
  };
  window.savedView = (old) => {
    try {
      const raw = localStorage.getItem(KEY);
      if (raw === null) return "none";
      return JSON.parse(raw).accessToken === old ? "kept" : "new";
    } catch (e) { return "unreadable"; }
  };
  /** Whether a request an injected fetch got is the refresh. */
  window.isRefresh = (req) => new URL(req.url ?? req).pathname.endsWith("/auth/refresh_token");
  /** An injected fetch: \`answer(req, init)\` answers the refresh, fetch everything else. */
  window.refreshThrough = (answer) => (req, init) => (isRefresh(req) ? answer(req, init) : fetch(req, init));
  /** configure (\`extra\`, then \`window.rowOptions\`) and setSession: undefined, or the failed step's cell. */
  window.startSession = async (old, rt, leftMs, extra = {}) => {
    const c = await cfg({ ...extra, ...window.rowOptions });
    if (!c.ok) return { configure: "err:" + c.error.code };
    const p = put(old, rt, leftMs);
    if (!p.ok) return { setSession: "err:" + p.error.code };
  };
  /** signIn as \`username\` (password "x"), through tryA. */
  window.signInAs = (username, partnerId = "p-1") => tryA(() => lib.signIn({ username, password: "x" }, { partnerId }));
  /** fd("/me") as callView sees it. */
  window.fdMe = async (old) => callView(await tryA(() => lib.fd("/me")), old);
  /** A tryA/trySync result: its status (signIn, completeMfa) or "ok", else "err:<code>" (+ "/<HTTP status>"). */
  window.outcome = (r, withStatus = false) =>
    r.ok ? r.value?.status ?? "ok" : "err:" + r.error.code + (withStatus ? "/" + r.error.status : "");
  /** ["a", "a", "b"] → "2×a,1×b". */
  window.tally = (list) => {
    const counts = {};
    for (const x of list) counts[x] = (counts[x] ?? 0) + 1;
    return Object.entries(counts).map(([k, n]) => n + "×" + k).join(",");
  };
  window.ready = true;
</script></head><body><h1>faults</h1></body></html>`;

/** A page served with \`script-src 'self'\` (report 11): no inline script, no import map. */
const CSP_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>csp</title>
<script type="module" src="/csp.js"></script></head><body>csp</body></html>`;
const CSP_JS = `import * as lib from "/fd-fetch/index.js";
const view = (e) => ({ ok: false, name: e && e.name, code: e && e.code, message: String(e && e.message), fd: e instanceof lib.FdError });
window.cspConfigure = lib.configure({ baseUrl: location.origin + "/api", onSessionExpired: () => {} }).then(() => ({ ok: true }), view);
window.cspAfter = () => lib.fd("/me").then(() => ({ ok: true }), view);
window.ready = true;
`;

// ---------------------------------------------------------------------------------------------
// The servers

/**
 * The page's origin: the static page and package, `/login`, and under `/api` the partner API.
 * `on(route, handler)` replaces a route's behaviour until `reset()`; `hold(route)` keeps its
 * requests waiting until `release()`. Default routes:
 *   POST /api/auth                  alice / bob → tokens for that user; mfa → a challenge; else 401
 *   PUT  /api/auth/challenge/mfa-token  code 123456 → tokens for mfa; else 401
 *   POST /api/auth/refresh_token    → a new AccessToken (JWT, 1 h) for the refresh token's user
 *   POST /api/auth/logout           → 204
 *   GET  /api/me                    → {auth: <Authorization>, partner: <X-Preferred-Partner-Id>}
 *   GET  /api/revoked               → 401
 */
export async function startPageServer({ pkgDir, tokens }) {
  const files = new Map();
  for (const f of SHIPPED) files.set(`/fd-fetch/${f}`, await readFile(join(pkgDir, f)));
  const log = [];
  const handlers = new Map();
  const cleanups = new Set(); // hung responses, trickle timers: ended by reset()
  const owners = new Map(); // refresh token → user

  const json = (res, status, value, headers = {}) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
    res.end(typeof value === "string" ? value : JSON.stringify(value));
  };
  const issue = (sub) => {
    const refresh = tokens.refresh();
    owners.set(refresh, sub);
    return {
      AccessToken: tokens.jwt(sub),
      IdToken: tokens.opaque("id"),
      RefreshToken: refresh,
      ExpiresIn: 3600,
      TokenType: "Bearer",
    };
  };
  const defaults = {
    "POST /api/auth": ({ res, body }) => {
      const user = body?.username;
      if (user === "alice" || user === "bob") return json(res, 200, { AuthenticationResult: issue(user) });
      if (user === "mfa") {
        return json(res, 200, { ChallengeName: "SOFTWARE_TOKEN_MFA", Session: tokens.opaque("mfa-session") });
      }
      return json(res, 401, { message: "bad credentials" });
    },
    "PUT /api/auth/challenge/mfa-token": ({ res, body }) =>
      body?.code === "123456" && typeof body?.session === "string"
        ? json(res, 200, { AuthenticationResult: issue("mfa") })
        : json(res, 401, { message: "bad code" }),
    "POST /api/auth/refresh_token": ({ res, body }) =>
      json(res, 200, {
        AccessToken: tokens.jwt(owners.get(body?.token) ?? "alice"),
        IdToken: tokens.opaque("id"),
        TokenType: "Bearer",
      }),
    "POST /api/auth/logout": ({ res }) => {
      res.writeHead(204);
      res.end();
    },
    "GET /api/me": ({ req, res }) =>
      json(res, 200, { auth: req.headers.authorization ?? null, partner: req.headers["x-preferred-partner-id"] ?? null }),
    "GET /api/revoked": ({ res }) => json(res, 401, { message: "revoked" }),
  };

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      // A body that is not JSON stays its raw text: no route reads a field of it.
      const { raw, body } = await readRequest(req);
      const route = `${req.method} ${url.pathname}`;
      log.push({ route, headers: { ...req.headers }, body, raw });
      const ctx = { req, res, url, raw, body, route, json: (...a) => json(res, ...a), issue };
      const handler = handlers.get(route) ?? defaults[route];
      if (handler) return await handler(ctx);
      if (req.method === "GET" && url.pathname === "/") return page(res, INDEX_HTML, {});
      if (req.method === "GET" && url.pathname === "/login") return page(res, "<!doctype html><h1>login</h1>", {});
      if (req.method === "GET" && url.pathname === "/csp.html") {
        return page(res, CSP_HTML, { "content-security-policy": "script-src 'self'" });
      }
      if (req.method === "GET" && url.pathname === "/csp.js") return asset(res, CSP_JS);
      if (req.method === "GET" && files.has(url.pathname)) return asset(res, files.get(url.pathname));
      json(res, 404, { message: `no route ${route}` });
    } catch (e) {
      if (!res.headersSent) json(res, 500, { message: String(e) });
      else res.destroy();
    }
  });
  const page = (res, html, headers) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...headers });
    res.end(html);
  };
  const asset = (res, content) => {
    res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
    res.end(content);
  };

  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;

  return {
    origin,
    api: `${origin}/api`,
    defaults,
    /** Requests to `route` ("METHOD /path") since the last reset. */
    sent: (route) => log.filter((e) => e.route === route),
    count: (route) => log.filter((e) => e.route === route).length,
    on(route, handler) {
      handlers.set(route, handler);
    },
    /** Registers something `reset()` must end (a hung response, a timer). */
    cleanup(fn) {
      cleanups.add(fn);
      return () => cleanups.delete(fn);
    },
    /** A handler that never answers (until reset). */
    hang: () => (ctx) => {
      cleanups.add(() => ctx.res.destroy());
    },
    /**
     * Requests to `route` wait. Returns `{ seen(): Promise, release(handler?) }`: `seen` resolves
     * when the first one arrived; `release` answers every waiting one with `handler` (default: the
     * route's default) and lets later ones through.
     */
    hold(route) {
      const waiting = [];
      let arrived;
      const first = new Promise((r) => (arrived = r));
      let released = null;
      this.on(route, (ctx) => {
        if (released) return released(ctx);
        waiting.push(ctx);
        cleanups.add(() => ctx.res.destroy());
        arrived();
      });
      return {
        seen: (ms = 5000) =>
          Promise.race([first.then(() => true), new Promise((r) => setTimeout(() => r(false), ms).unref())]),
        release: async (handler = defaults[route]) => {
          released = handler;
          for (const ctx of waiting.splice(0)) await handler(ctx);
        },
      };
    },
    reset() {
      handlers.clear();
      for (const fn of cleanups) fn();
      cleanups.clear();
      log.length = 0;
    },
    async close() {
      this.reset();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Another origin: answers anything (tokens, CORS allowed) and counts what reached it. */
export async function startOtherServer({ tokens }) {
  const log = [];
  const server = createServer(async (req, res) => {
    await readBody(req);
    log.push(`${req.method} ${new URL(req.url, "http://x").pathname}`);
    const cors = {
      "access-control-allow-origin": req.headers.origin ?? "*",
      "access-control-allow-credentials": "true",
      "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
      "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
    };
    if (req.method === "OPTIONS") {
      res.writeHead(204, cors);
      return res.end();
    }
    res.writeHead(200, { "content-type": "application/json", ...cors });
    res.end(
      JSON.stringify({ AccessToken: tokens.jwt("mallory"), RefreshToken: tokens.refresh(), ExpiresIn: 3600, TokenType: "Bearer" }),
    );
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    hits: () => log.length,
    log,
    reset: () => (log.length = 0),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The table

/** `{a: 1, b: "x"}` → `a=1 b=x`. */
export const fmt = (o) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");

/** Prints rows `{fault, expected, observed, ok}` as one table, wrapping long cells. */
export function printTable(rows) {
  const width = { n: 3, fault: 44, expected: 52, observed: 52, ok: 4 };
  const wrap = (text, w) => {
    const words = String(text).split(" ");
    const lines = [""];
    for (const word of words) {
      for (let piece = word; piece.length; ) {
        const room = w - lines.at(-1).length - (lines.at(-1) ? 1 : 0);
        if (piece.length <= room) {
          lines[lines.length - 1] += (lines.at(-1) ? " " : "") + piece;
          piece = "";
        } else if (lines.at(-1) === "") {
          lines[lines.length - 1] = piece.slice(0, w);
          piece = piece.slice(w);
          lines.push("");
        } else {
          lines.push("");
        }
      }
    }
    return lines.filter((l, i) => l !== "" || i === 0);
  };
  const rule = `+${Object.values(width).map((w) => "-".repeat(w + 2)).join("+")}+`;
  const line = (cells) => {
    const wrapped = Object.keys(width).map((k) => wrap(cells[k], width[k]));
    const h = Math.max(...wrapped.map((w) => w.length));
    const out = [];
    for (let i = 0; i < h; i++) {
      out.push(`| ${Object.keys(width).map((k, j) => (wrapped[j][i] ?? "").padEnd(width[k])).join(" | ")} |`);
    }
    return out.join("\n");
  };
  const out = [rule, line({ n: "#", fault: "fault", expected: "expected", observed: "observed", ok: "ok" }), rule];
  rows.forEach((r, i) => {
    out.push(line({ n: String(i + 1), ...r, ok: r.ok ? "ok" : "FAIL" }));
    out.push(rule);
  });
  const bad = rows.filter((r) => !r.ok).length;
  out.push(`${rows.length} faults, ${rows.length - bad} as expected, ${bad} mismatched`);
  console.log(out.join("\n"));
}
