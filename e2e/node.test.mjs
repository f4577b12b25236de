// The built package in plain Node 20: it touches no `window` at import, loads its wasm without a
// bundler or a file read, and works with an injected fetch and no localStorage (memory only).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PKG } from "./lib.mjs";

const load = () => import(pathToFileURL(join(PKG, "index.js")).href);

test("the package imports and works in Node without a window", async () => {
  assert.equal(typeof globalThis.window, "undefined");
  const lib = await load();
  assert.throws(() => lib.getSession(), (e) => e instanceof lib.FdError && e.code === "not_configured");

  const seen = [];
  const fetch = async (req) => {
    seen.push({ url: req.url, auth: req.headers.get("authorization"), partner: req.headers.get("x-preferred-partner-id") });
    if (new URL(req.url).pathname === "/api/auth") {
      return Response.json({ AccessToken: "node-access", RefreshToken: "node-refresh", ExpiresIn: 3600 });
    }
    return Response.json({ ok: true });
  };
  await lib.configure({ baseUrl: "https://api.test/api", fetch });
  const r = await lib.signIn({ username: "alice" }, { partnerId: "p-node" });
  assert.equal(r.status, "signed_in");
  assert.deepEqual(await lib.fd("/me"), { ok: true });
  assert.deepEqual(seen.at(-1), { url: "https://api.test/api/me", auth: "Bearer node-access", partner: "p-node" });
  assert.equal(lib.getSession().partnerId, "p-node");
  await assert.rejects(lib.fd("//evil.test"), (e) => e instanceof lib.FdError && e.code === "bad_path");
});
