// Helpers of the suites for Node services, axios, instances and workers (node-service, axios,
// instances, worker): a recording front server, the mock's request log, and scenario runners that
// run one function in this Node process and in a page.
//
// The recorder: it forwards `/api`
// and `/api/…` to fd-proxy's mock (so tokens are checked by the one mock), answers every other
// path itself with 200 `{"path"}` (or 401 for paths ending in `/401`), serves static files under
// given prefixes, and records, for every request that is not a static file, what a token leak
// would show: `{ method, path, authorization, partner, status }`. It answers CORS for any origin,
// so pages on another origin can call it.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { explain, newPage, readBody } from "./lib.mjs";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
};

/**
 * Starts the recorder on 127.0.0.1. `upstream`: the mock's origin (`startFdProxy`'s `origin`), or
 * none (then `/api` is answered like any other path). `statics`: `{ "/prefix/": directory }`;
 * `pages`: `{ "/path": text }` (HTML, or as its extension says). Returns `{ origin, api, log, to(route), clear(), close() }`.
 */
export async function startRecorder({ upstream, statics = {}, pages = {} } = {}) {
  const log = [];
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      const path = url.pathname;
      if (req.method === "GET" && pages[path] !== undefined) {
        res.writeHead(200, { "content-type": MIME[extname(path)] ?? MIME[".html"], "cache-control": "no-store" });
        return res.end(pages[path]);
      }
      for (const [prefix, dir] of Object.entries(statics)) {
        if (req.method === "GET" && path.startsWith(prefix))
          return await serveFile(res, dir, path.slice(prefix.length));
      }
      const entry = {
        method: req.method,
        path,
        authorization: req.headers.authorization ?? null,
        partner: req.headers["x-preferred-partner-id"] ?? null,
        status: null,
      };
      log.push(entry);
      const body = await readBody(req);
      if (upstream && (path === "/api" || path.startsWith("/api/"))) {
        const headers = { ...req.headers };
        delete headers.host;
        delete headers.connection;
        delete headers["content-length"];
        const r = await fetch(`${upstream}${url.pathname}${url.search}`, {
          method: req.method,
          headers,
          body: body && req.method !== "GET" && req.method !== "HEAD" ? body : undefined,
          redirect: "manual",
        });
        const answer = Buffer.from(await r.arrayBuffer());
        entry.status = r.status;
        const out = {};
        r.headers.forEach((v, k) => {
          if (!["content-encoding", "content-length", "transfer-encoding", "connection"].includes(k)) out[k] = v;
        });
        res.writeHead(r.status, out);
        return res.end(answer);
      }
      const origin = req.headers.origin;
      if (origin) {
        res.setHeader("access-control-allow-origin", origin);
        res.setHeader("vary", "Origin");
      }
      if (req.method === "OPTIONS") {
        entry.status = 204;
        res.writeHead(204, {
          "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE",
          "access-control-allow-headers": "authorization, x-preferred-partner-id, content-type, x-requested-with",
        });
        return res.end();
      }
      entry.status = path.endsWith("/401") ? 401 : 200;
      res.writeHead(entry.status, { "content-type": "application/json", "cache-control": "no-store" });
      return res.end(JSON.stringify({ path }));
    } catch (e) {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(String(e?.message ?? e));
    }
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    api: `${origin}/api`,
    log,
    /** Recorded requests to `METHOD /path`. */
    to: (route) => log.filter((q) => `${q.method} ${q.path}` === route),
    /** Recorded requests that carried a token or a partner id. */
    withCredentials: () => log.filter((q) => q.authorization !== null || q.partner !== null),
    clear: () => void (log.length = 0),
    async close() {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

async function serveFile(res, dir, rel) {
  const root = resolve(dir);
  const path = resolve(join(root, decodeURIComponent(rel)));
  const st = path.startsWith(root + sep) ? await stat(path).catch(() => null) : null;
  if (!st?.isFile()) {
    res.writeHead(404, { "content-type": "text/plain" });
    return res.end("not found");
  }
  res.writeHead(200, {
    "content-type": MIME[extname(path)] ?? "application/octet-stream",
    "content-length": st.size,
    "cache-control": "no-store",
  });
  createReadStream(path).pipe(res);
}

// ---------------------------------------------------------------------------------------------
// Scenarios: a self-contained async function (no closure: it is sent to pages as source) given
// `{ ...env, describe, sleep, ...args }` and returning plain data. In a page, `env` is
// `window.scenarioEnv` (set by the page), `describe` is lib.mjs's `describeError`.

/** An error as plain data, as `PAGE_HELPERS`' `describeError` gives it in a page. */
export const describeWith = (lib) => (e) =>
  e !== null && typeof e === "object"
    ? {
        isFdError: e instanceof lib.FdError,
        isError: e instanceof Error,
        name: e.name,
        code: e.code,
        message: String(e.message),
        status: e.status,
      }
    : { thrown: String(e) };

/** Runs `scenario` in this process with `env` (which must hold `lib`). */
export function inNode(scenario, env, args) {
  return scenario({ ...env, describe: describeWith(env.lib), sleep: (ms) => sleep(ms), ...args });
}

/** Opens `url` in a fresh context of `browser`, waits for `window.ready`, and runs `scenario` there. */
export async function inPage(browser, url, scenario, args) {
  const { context, page } = await newPage(browser);
  try {
    await page.goto(url);
    await page
      .waitForFunction(() => window.ready === true, null, { timeout: 15_000 })
      .catch((e) => {
        throw new Error(`the page did not load: ${e.message}${explain(page)}`);
      });
    return await page
      .evaluate(
        ([src, a]) => {
          const fn = (0, eval)(`(${src})`);
          const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
          return fn({ ...window.scenarioEnv, describe: window.describeError, sleep, ...a });
        },
        [scenario.toString(), args],
      )
      .catch((e) => {
        throw new Error(`${e.message}${explain(page)}`);
      });
  } finally {
    await context.close();
  }
}
