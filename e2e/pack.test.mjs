// The packed package: what the tarball holds, and the installed package in Node.js 20+.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { PKG, SHIPPED, packAndInstall, run, startServer, tokenDigest, writeFiles } from "./lib.mjs";

let work; // { dir, app, tarball, files }
let server;

before(async () => {
  work = await packAndInstall("pack");
  server = await startServer();
});
after(async () => {
  await server?.close();
});

test("the tarball holds the entry, types, glue and inlined wasm, and no sources", async () => {
  const files = [...work.files].sort();
  for (const f of SHIPPED) assert.ok(files.includes(f), `missing ${f} in ${files.join(", ")}`);
  const bad = files.filter(
    (f) => f.endsWith(".rs") || f.startsWith("snippets/") || f.includes("/snippets/") || f.endsWith(".wasm") ||
      f.endsWith(".tgz") || f.startsWith("target/") || f.startsWith("src/"),
  );
  assert.deepEqual(bad, [], "files that must not be shipped");
  const unexpected = files.filter((f) => !SHIPPED.includes(f) && !/^(README|LICEN[CS]E)/i.test(f));
  assert.deepEqual(unexpected, [], "files beyond the entry, types, glue and wasm");
});

test("the installed package.json is an ES module with the exports map of the contract", async () => {
  const pj = JSON.parse(await readFile(join(work.app, "node_modules/fd-fetch/package.json"), "utf8"));
  assert.equal(pj.name, "fd-fetch");
  assert.equal(pj.type, "module");
  assert.deepEqual(pj.exports["."], { types: "./index.d.ts", default: "./index.js" });
  assert.deepEqual(Object.keys(pj.exports["."]), ["types", "default"], "`types` must come first");
  // The installed files are the packed ones, byte for byte the same as pkg/.
  for (const f of SHIPPED.filter((f) => f !== "package.json")) {
    const a = await readFile(join(work.app, "node_modules/fd-fetch", f));
    const b = await readFile(join(PKG, f));
    assert.ok(a.equals(b), `${f} differs between pkg/ and the installed package`);
  }
});

test("the installed package works in Node.js: not_configured, configure, signIn, fd, 401", async () => {
  await writeFiles(work.app, {
    "node-check.mjs": `
      import * as lib from "fd-fetch";
      const { configure, fd, signIn, getSession, FdError } = lib;
      const out = { exports: Object.keys(lib).sort() };
      const describe = (e) => ({ isFdError: e instanceof FdError, isError: e instanceof Error, name: e?.name, code: e?.code, message: String(e?.message), status: e?.status });
      try { await fd("/me"); out.before = "resolved"; } catch (e) { out.before = describe(e); }
      try { getSession(); out.getSessionBefore = "returned"; } catch (e) { out.getSessionBefore = describe(e); }
      await configure({ baseUrl: process.env.API });
      out.sessionAfterConfigure = getSession();
      const r = await signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-eu" });
      out.signInStatus = r.status;
      out.me = await fd("/me");
      out.session = getSession();
      let expired = 0;
      await configure({ baseUrl: process.env.API, onSessionExpired: () => expired++ });
      await fd("/session/revoke", { method: "POST" }).catch(() => {}); // the mock ends the session: 204
      try { await fd("/me"); out.revoked = "resolved"; } catch (e) { out.revoked = describe(e); }
      out.expiredCalls = expired;
      out.sessionAfter401 = getSession();
      console.log("RESULT " + JSON.stringify(out));
    `,
  });
  const { out } = await run(process.execPath, ["node-check.mjs"], {
    cwd: work.app,
    env: { API: server.api },
    allowFail: true,
    timeoutMs: 30_000,
  });
  const line = out.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, `the Node script did not finish:\n${out}`);
  const r = JSON.parse(line.slice(7));
  assert.deepEqual(r.exports, [
    "FdError",
    "completeMfa",
    "configure",
    "ensureFresh",
    "fd",
    "fdResponse",
    "getSession",
    "onSessionChange",
    "setSession",
    "signIn",
    "signOut",
  ]);
  for (const [what, e] of [["fd before configure", r.before], ["getSession before configure", r.getSessionBefore]]) {
    assert.equal(e.code, "not_configured", `${what}: ${JSON.stringify(e)}`);
    assert.equal(e.isFdError, true, what);
    assert.equal(e.isError, true, what);
    assert.equal(e.name, "FdError", what);
  }
  assert.equal(r.sessionAfterConfigure, null);
  assert.equal(r.signInStatus, "signed_in");
  assert.equal(r.me.user, "alice");
  assert.equal(r.me.partnerId, "acme-eu");
  assert.equal(r.session.partnerId, "acme-eu");
  const [me] = await server.requestsTo("GET /api/me");
  assert.equal(me.token, tokenDigest(r.session.accessToken), "fd sent the session's token");
  assert.equal(r.revoked.code, "session_expired", JSON.stringify(r.revoked));
  assert.equal(r.expiredCalls, 1, "onSessionExpired called once");
  assert.equal(r.sessionAfter401, null);
});
