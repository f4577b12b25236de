// The packed package in a default Vite project (no vite.config.*, no plugin): the dev server and a
// production build, each page talking to the mock API on another origin (so through CORS).
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  VITE,
  checkBundledApp,
  exists,
  explain,
  freePort,
  launchBrowser,
  newPage,
  packAndInstall,
  run,
  startChild,
  startServer,
  waitForUrl,
  writeFiles,
} from "./lib.mjs";

const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head><meta charset="UTF-8" /><title>fd-fetch in Vite</title></head>
  <body>
    <div id="app"></div>
    <script type="module" src="/src/main.ts"></script>
  </body>
</html>
`;

// The API base comes in the query string, so one build serves every run.
const MAIN_TS = `import { configure, fd, signIn, getSession, FdError, type FdSession } from "fd-fetch";

type Me = { user: string; partnerId: string };
type Outcome =
  | { ok: true; beforeConfigure: unknown; me: Me; session: FdSession | null }
  | { ok: false; error: string };

declare global {
  interface Window { e2eResult?: Outcome }
}

async function main(): Promise<Outcome> {
  const api = new URLSearchParams(location.search).get("api");
  if (!api) throw new Error("no ?api= in the URL");
  let beforeConfigure: unknown = "resolved";
  try {
    await fd("/me");
  } catch (e) {
    beforeConfigure = { isFdError: e instanceof FdError, isError: e instanceof Error, code: (e as FdError).code };
  }
  await configure({ baseUrl: api });
  const result = await signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-eu" });
  if (result.status !== "signed_in") throw new Error("unexpected sign-in status " + result.status);
  const me = await fd<Me>("/me");
  return { ok: true, beforeConfigure, me, session: getSession() };
}

main().then(
  (r) => { window.e2eResult = r; document.querySelector("#app")!.textContent = "done"; },
  (e) => { window.e2eResult = { ok: false, error: e instanceof FdError ? \`FdError \${e.code}: \${e.message}\` : String(e?.stack ?? e) }; },
);
`;

let work;
let api; // the mock partner API (its own origin)
let browser;

before(async () => {
  work = await packAndInstall("vite", { name: "vite-app", private: true, version: "0.0.0", type: "module" });
  await writeFiles(work.app, { "index.html": INDEX_HTML, "src/main.ts": MAIN_TS });
  api = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await api?.close();
});

const checkApp = (url, pageOrigin) => checkBundledApp(browser, api, url, pageOrigin, "acme-eu");

test("vite dev server: the default project loads fd-fetch, signs in and calls fd", async () => {
  assert.equal(await exists(join(work.app, "vite.config.js")), false);
  const port = await freePort();
  const vite = startChild(process.execPath, [VITE, "--port", String(port), "--strictPort", "--host", "127.0.0.1"], {
    cwd: work.app,
  });
  try {
    const origin = `http://127.0.0.1:${port}`;
    await waitForUrl(`${origin}/`, { child: vite, timeoutMs: 30_000 });
    await checkApp(`${origin}/`, origin).catch((e) => {
      e.message += `\nvite output:\n${vite.output()}`;
      throw e;
    });
  } finally {
    await vite.stop();
  }
});

test("vite build: the production bundle, served statically, does the same", async () => {
  const { out } = await run(process.execPath, [VITE, "build"], { cwd: work.app, timeoutMs: 90_000 });
  const dist = join(work.app, "dist");
  const assets = await readdir(join(dist, "assets"));
  assert.ok(assets.some((f) => f.endsWith(".js")), `no JS in dist/assets: ${assets.join(", ")}\n${out}`);
  const site = await startServer({ staticDir: dist });
  try {
    await checkApp(`${site.origin}/`, site.origin);
  } finally {
    await site.close();
  }
});
