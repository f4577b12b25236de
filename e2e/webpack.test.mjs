// The packed package in a webpack 5 project with no config file and no loader: `webpack --mode
// production` bundles src/index.js (the wasm comes inlined, so there is no asset to locate), and the
// page, served statically, talks to the mock API on another origin.
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, checkBundledApp, exists, launchBrowser, packAndInstall, run, startServer, writeFiles } from "./lib.mjs";

const WEBPACK = join(ROOT, "node_modules", "webpack-cli", "bin", "cli.js");

const INDEX_JS = `import { configure, fd, signIn, getSession, FdError } from "fd-fetch";

async function main() {
  const api = new URLSearchParams(location.search).get("api");
  let beforeConfigure = "resolved";
  try {
    await fd("/me");
  } catch (e) {
    beforeConfigure = { isFdError: e instanceof FdError, isError: e instanceof Error, code: e.code };
  }
  await configure({ baseUrl: api });
  const result = await signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-us" });
  if (result.status !== "signed_in") throw new Error("unexpected sign-in status " + result.status);
  return { ok: true, beforeConfigure, me: await fd("/me"), session: getSession() };
}

main().then(
  (r) => (window.e2eResult = r),
  (e) => (window.e2eResult = { ok: false, error: e instanceof FdError ? e.code + ": " + e.message : String(e && e.stack || e) }),
);
`;

let work;
let api;
let browser;

before(async () => {
  work = await packAndInstall("webpack", { name: "webpack-app", private: true, version: "0.0.0" });
  await writeFiles(work.app, { "src/index.js": INDEX_JS });
  api = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await api?.close();
});

test("webpack 5 build: the default project bundles fd-fetch, signs in and calls fd", async () => {
  assert.equal(await exists(join(work.app, "webpack.config.js")), false);
  const { out } = await run(process.execPath, [WEBPACK, "--mode", "production"], { cwd: work.app, timeoutMs: 90_000 });
  const dist = join(work.app, "dist");
  const files = await readdir(dist);
  assert.ok(files.includes("main.js"), `no dist/main.js: ${files.join(", ")}\n${out}`);
  assert.ok(!files.some((f) => f.endsWith(".wasm")), "no .wasm asset to serve: it is inlined");
  await writeFile(join(dist, "index.html"), '<!doctype html><title>fd-fetch in webpack</title><script src="main.js"></script>');
  const site = await startServer({ staticDir: dist });
  try {
    await checkBundledApp(browser, api, `${site.origin}/`, site.origin, "acme-us");
  } finally {
    await site.close();
  }
});
