// npm run bench (issue 10): fd-fetch beside raw fetch, the provider's baseline interceptor
// (bench/baseline.js), axios with a request interceptor and ky with a beforeRequest hook, in one
// headless Chromium page. Per-call cost with a stub fetch and over loopback HTTP to fd-proxy's mock
// API, a burst of concurrent calls at the refresh threshold, start-up, bundle sizes, and the
// behaviour rows. Prints the tables and writes bench/results/<date>.json and latest.json.
// Timings are figures to compare side by side, never pass/fail: these machines are noisy.
//
//   FD_BENCH_QUICK=1   small samples, a burst of 500, no package build (run `npm run build`
//                      first); writes to a temporary directory unless FD_BENCH_OUT is set
//   FD_BENCH_OUT=dir   where the JSON goes (default bench/results/)
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "./build.mjs";
import { ROOT, PKG, startServer, launchBrowser, newPage, explain } from "../e2e/lib.mjs";
import { bundleAll, packageSize, shippedJs } from "../bench/bundle.mjs";
import { measureStartup } from "../bench/startup.mjs";
import { machine, render, summarizePerCall, summarizeStartup, writeResults } from "../bench/report.mjs";

const QUICK = process.env.FD_BENCH_QUICK === "1";
// The same for every contender. Many short batches rather than a few long ones: the other work on a
// shared machine comes and goes within seconds, and short turns spread it over all contenders. A
// batch still lasts long enough to read with Chromium's 100 µs timer steps: about 5 ms for raw
// fetch on the stub, 20 round trips of a few ms each over loopback.
const SETTINGS = QUICK
  ? { stub: { n: 100, rounds: 3 }, loopback: { n: 10, rounds: 3 }, burst: 500, startupSamples: 1 }
  : { stub: { n: 200, rounds: 100 }, loopback: { n: 20, rounds: 100 }, burst: 10_000, startupSamples: 5 };
const OUT = process.env.FD_BENCH_OUT ?? (QUICK ? await mkdtemp(join(tmpdir(), "fd-bench-")) : join(ROOT, "bench", "results"));
// Precise (not bucketed) heap sizes, and a GC the page can force before reading them.
const CHROMIUM_MEMORY_ARGS = ["--enable-precise-memory-info", "--js-flags=--expose-gc"];

const step = (what) => console.error(`[bench] ${what}`);

if (QUICK) {
  const missing = shippedJs().filter((f) => !existsSync(join(PKG, f)));
  if (missing.length) throw new Error(`pkg/ is not built (no ${missing.join(", ")}): run \`npm run build\` first`);
} else {
  step("building pkg/ (npm run build)");
  build({ quiet: true });
}
step("bundling each library with esbuild into bench/.work/");
const size = { package: packageSize(), bundles: await bundleAll() };

const server = await startServer({ staticDir: ROOT });
const browser = await launchBrowser({ args: CHROMIUM_MEMORY_ARGS });
// Both taken now: the run's date, and the load average before the bench adds its own.
const date = new Date().toISOString();
const host = machine(browser);
try {
  const { page } = await newPage(browser);
  await page.goto(`${server.origin}/bench/index.html`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 }).catch((e) => {
    throw new Error(`the bench page did not load: ${e.message}${explain(page)}`);
  });
  const inPage = (what, fn, arg) =>
    page.evaluate(fn, arg).catch((e) => {
      throw new Error(`${what}: ${e.message}${explain(page)}`);
    });

  const perCall = {};
  for (const transport of ["stub", "loopback"]) {
    const { n, rounds } = SETTINGS[transport];
    step(`per call, ${transport}: ${rounds} rounds × ${n} calls × 5 contenders`);
    const samples = await inPage(`per call (${transport})`, ([t, s]) => window.bench.perCall(t, s), [transport, SETTINGS[transport]]);
    perCall[transport] = summarizePerCall(samples);
  }

  const burst = {};
  for (const name of ["baseline", "fd-fetch"]) {
    step(`burst of ${SETTINGS.burst}: ${name}`);
    burst[name] = await inPage(`burst (${name})`, ([n, s]) => window.bench.burst(n, s), [name, SETTINGS.burst]);
  }

  step("behaviour rows");
  const behaviour = await inPage("behaviour", () => window.bench.behaviour());
  const memory = await inPage("memory info", () => window.bench.memoryInfo());

  step(`start-up: ${SETTINGS.startupSamples} cold and warm samples per library`);
  const startup = summarizeStartup(await measureStartup(browser, server.origin, SETTINGS.startupSamples));

  const result = {
    date,
    quick: QUICK,
    machine: host,
    settings: SETTINGS,
    memory,
    perCall,
    burst,
    startup,
    size,
    behaviour,
  };
  console.log(`\n${render(result)}`);
  const [dated, latest] = await writeResults(OUT, result);
  step(`wrote ${dated} and ${latest}`);
} finally {
  await browser.close();
  await server.close();
}
