// The packed package: what the tarball holds (exactly), its npm README and package.json, a clean
// `npm publish --dry-run`, and the installed package in Node.js 20+.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { PKG, ROOT, SHIPPED, packAndInstall, run, startServer, tokenDigest, writeFiles } from "./lib.mjs";

/** Every file the tarball holds, no more: the one module (wasm inlined), its types and the npm README. */
const PACKED = ["README.md", "fd_fetch.d.ts", "index.d.ts", "index.js", "package.json"];

/** The module's exports: today's, and those issue 9 adds (CONTRACT "Beyond one page"). */
const EXPORTS_BEFORE = [
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
];
const EXPORTS_ADDED = ["attachAxios", "createClient", "onRefresh", "startAutoRefresh", "stopAutoRefresh"];

let work; // { dir, app, tarball, files }
let server;

before(async () => {
  work = await packAndInstall("pack");
  server = await startServer();
});
after(async () => {
  await server?.close();
});

test("npm pack ships exactly the one module (wasm inlined), its types and the README", async () => {
  const { stdout } = await run("npm", ["pack", "--dry-run", "--json"], { cwd: PKG });
  const [{ files }] = JSON.parse(stdout.slice(stdout.indexOf("[")));
  assert.deepEqual(files.map((f) => f.path).sort(), PACKED, "npm pack --dry-run in pkg/");
  // The tarball the other tests install holds the same.
  assert.deepEqual([...work.files].sort(), PACKED, "the packed tarball");
  for (const f of SHIPPED) assert.ok(PACKED.includes(f), `e2e/lib.mjs ships ${f}, which the tarball lacks`);
});

test("the packed README is the npm one: install, quick start, every export and error code, no repo-only content", async () => {
  const readme = await readFile(join(work.app, "node_modules/fd-fetch/README.md"), "utf8");
  assert.equal(readme, await readFile(join(PKG, "README.md"), "utf8"), "the tarball's README is pkg/README.md");
  assert.notEqual(readme, await readFile(join(ROOT, "README.md"), "utf8"), "not the repository's README");
  for (const section of ["## Install", "## Quick start", "## Options of `configure`", "## Errors", "## Security model",
    "## Content-Security-Policy", "## Browser support", "## Node.js 20+ and workers", "## Migrating from"]) {
    assert.ok(readme.includes(section), `README lacks the section ${section}`);
  }
  assert.match(readme, /npm install fd-fetch/);
  assert.match(readme, /'wasm-unsafe-eval'/);
  // Nothing a package user cannot run or open: repo scripts, repo paths, relative links or images.
  for (const repoOnly of [/npm start/, /npm test/, /npm run /, /cargo /, /\]\((?!https:\/\/|#)[^)]*\)/, /<img /, /\bsrc\//, /\be2e\//]) {
    assert.doesNotMatch(readme, repoOnly, "repository-only content in the npm README");
  }
  // Every anchor link points at a heading of the README (GitHub/npm slugs).
  const slug = (h) => h.toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-");
  const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1])));
  for (const [, a] of readme.matchAll(/\]\(#([^)]+)\)/g)) assert.ok(anchors.has(a), `README link #${a} has no heading`);
  // Every export of the installed package and every FdError code is documented.
  const { out } = await run(process.execPath, ["--input-type=module", "-e", 'console.log("EXPORTS " + JSON.stringify(Object.keys(await import("fd-fetch"))))'], { cwd: work.app });
  const exported = JSON.parse(out.split("\n").find((l) => l.startsWith("EXPORTS ")).slice(8));
  assert.ok(exported.length >= EXPORTS_BEFORE.length, exported.join());
  for (const name of exported) assert.ok(readme.includes(`\`${name}`), `README does not document the export ${name}`);
  const types = await readFile(join(PKG, "fd_fetch.d.ts"), "utf8");
  const union = types.match(/export type FdErrorCode =([^;]+);/)?.[1];
  assert.ok(union, "FdErrorCode in fd_fetch.d.ts");
  const codes = [...union.matchAll(/"(\w+)"/g)].map((m) => m[1]);
  assert.ok(codes.length >= 13, codes.join());
  for (const code of codes) assert.match(readme, new RegExp(`^\\| \`${code}\` \\|`, "m"), `README's error table lacks ${code}`);
});

test("package.json has what npm users expect, and npm publish --dry-run warns of nothing in it", async () => {
  const pj = JSON.parse(await readFile(join(PKG, "package.json"), "utf8"));
  assert.equal(pj.license, "MIT OR Apache-2.0");
  assert.ok(pj.description?.length > 40, "a description");
  assert.ok(pj.keywords?.includes("fetch") && pj.keywords.includes("axios"), "keywords");
  assert.deepEqual(pj.engines, { node: ">=20" });
  assert.deepEqual([...pj.files].sort(), PACKED.filter((f) => f !== "package.json"), "`files` lists every shipped file");
  // No public URL exists for the project: no repository, homepage or bugs field that would be false.
  for (const field of ["repository", "homepage", "bugs"]) assert.equal(pj[field], undefined, field);
  const { out } = await run("npm", ["publish", "--dry-run"], { cwd: PKG, timeoutMs: 180_000 });
  // The one warning left is about this machine, which has no npm login, not about the package.
  const warnings = out.split("\n").filter((l) => /^npm (warn|error|ERR!)/i.test(l) && !/requires you to be logged in/.test(l));
  assert.deepEqual(warnings, [], `npm publish --dry-run:\n${out}`);
  assert.match(out, /\+ fd-fetch@/);
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
  // Today's exports, and of issue 9's additions only those already built: nothing else.
  for (const name of EXPORTS_BEFORE) assert.ok(r.exports.includes(name), `export ${name} missing`);
  const unexpected = r.exports.filter((n) => !EXPORTS_BEFORE.includes(n) && !EXPORTS_ADDED.includes(n));
  assert.deepEqual(unexpected, [], "exports beyond the contract");
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
