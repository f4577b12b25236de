// A recording front server for the issue-9 suites (axios, instances, worker): it forwards `/api`
// and `/api/…` to fd-proxy's mock (so tokens are checked by the one mock), answers every other
// path itself with 200 `{"path"}` (or 401 for paths ending in `/401`), serves static files under
// given prefixes, and records, for every request that is not a static file, what a token leak
// would show: `{ method, path, authorization, partner, status }`. It answers CORS for any origin,
// so pages on another origin can call it.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { readBody } from "./lib.mjs";

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
 * `pages`: `{ "/path": html }`. Returns `{ origin, api, log, to(route), clear(), close() }`.
 */
export async function startRecorder({ upstream, statics = {}, pages = {} } = {}) {
  const log = [];
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      const path = url.pathname;
      if (req.method === "GET" && pages[path] !== undefined) {
        res.writeHead(200, { "content-type": MIME[".html"], "cache-control": "no-store" });
        return res.end(pages[path]);
      }
      for (const [prefix, dir] of Object.entries(statics)) {
        if (req.method === "GET" && path.startsWith(prefix)) return await serveFile(res, dir, path.slice(prefix.length));
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
  res.writeHead(200, { "content-type": MIME[extname(path)] ?? "application/octet-stream", "content-length": st.size, "cache-control": "no-store" });
  createReadStream(path).pipe(res);
}
