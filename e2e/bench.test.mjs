// `npm run bench` in quick mode (FD_BENCH_QUICK=1), as a child process: the JSON it writes has
// every section and every contender, and fd-fetch's burst made exactly one refresh. Shape only:
// no timing is ever asserted (these machines are noisy). Needs `npm run build` first, as the other
// e2e suites do; quick mode does not build. Its JSON goes to a temporary directory, so a quick run
// never replaces the committed bench/results/latest.json.
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, exists, run } from "./lib.mjs";

const CONTENDERS = ["raw fetch", "fd-fetch", "baseline", "axios", "ky"];
const SIZE_ROWS = ["fd-fetch", "baseline", "axios", "ky", "oidc-client-ts", "@auth0/auth0-spa-js"];
const COMMITTED = join(ROOT, "bench", "results", "latest.json");

const isFigure = (x) => typeof x === "number" && Number.isFinite(x) && x >= 0;

test("npm run bench, quick mode: every section and contender in the JSON, one refresh for fd-fetch's burst", { timeout: 120_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), "fd-bench-test-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const committed = (await exists(COMMITTED)) ? await readFile(COMMITTED, "utf8") : null;

  const { out: printed } = await run(process.execPath, ["scripts/bench.mjs"], {
    env: { FD_BENCH_QUICK: "1", FD_BENCH_OUT: out },
    timeoutMs: 110_000,
  });

  const files = (await readdir(out)).sort();
  assert.equal(files.length, 2, `a dated file and latest.json: ${files}`);
  assert.match(files[0], /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.json$/);
  assert.equal(files[1], "latest.json");
  const text = await readFile(join(out, "latest.json"), "utf8");
  assert.equal(await readFile(join(out, files[0]), "utf8"), text, "the dated file is the same run");
  const r = JSON.parse(text);

  assert.equal(r.quick, true);
  for (const key of ["cpu", "cores", "memoryGiB", "os", "node", "chromium", "loadAverageAtStart"]) {
    assert.ok(r.machine[key] !== undefined && r.machine[key] !== "", `machine.${key}`);
  }
  assert.deepEqual(r.memory, { gcForced: true, jsHeapAvailable: true, wasmSeen: true }, "heap after a forced GC, fd-fetch's wasm memory found");

  for (const transport of ["stub", "loopback"]) {
    assert.deepEqual(Object.keys(r.perCall[transport]), CONTENDERS, `per call (${transport}): every contender, in order`);
    for (const c of CONTENDERS) {
      const p = r.perCall[transport][c];
      for (const key of ["medianUs", "p95Us", "xBaseline", "xRawFetch"]) assert.ok(isFigure(p[key]), `${transport} ${c} ${key}: ${p[key]}`);
      assert.equal(p.samplesUs.length, r.settings[transport].rounds, `${transport} ${c}: one sample per round`);
    }
  }

  for (const name of ["baseline", "fd-fetch"]) {
    const b = r.burst[name];
    assert.equal(b.size, r.settings.burst);
    assert.equal(b.fulfilled, b.size, `${name}: every call of the burst succeeded`);
    for (const key of ["ms", "jsHeapBefore", "jsHeapAfter"]) assert.ok(isFigure(b[key]), `${name} burst ${key}: ${b[key]}`);
  }
  assert.equal(r.burst["fd-fetch"].refreshRequests, 1, "fd-fetch: one refresh for the whole burst");
  assert.ok(isFigure(r.burst["fd-fetch"].wasmBefore) && isFigure(r.burst["fd-fetch"].wasmAfter), "fd-fetch's wasm memory");

  assert.deepEqual(Object.keys(r.startup), ["fd-fetch", "baseline", "axios", "ky"]);
  for (const [lib, s] of Object.entries(r.startup)) {
    assert.ok(isFigure(s.coldMs) && isFigure(s.warmMs), `start-up of ${lib}`);
  }

  assert.deepEqual(Object.keys(r.size.bundles), SIZE_ROWS);
  for (const [name, s] of Object.entries(r.size.bundles)) assert.ok(s.gzip > 0 && s.bytes > s.gzip, `size of ${name}`);
  assert.ok(r.size.package.gzip > 0 && r.size.package.files.includes("index.js"), "the package's own figure");

  assert.equal(Object.keys(r.behaviour).length, 5, "the behaviour rows");
  for (const [measure, v] of Object.entries(r.behaviour)) {
    assert.ok(v.baseline !== undefined && v["fd-fetch"] !== undefined, `behaviour: ${measure}`);
  }

  assert.match(printed, /per call, stub fetch/, "the tables were printed");
  const after = (await exists(COMMITTED)) ? await readFile(COMMITTED, "utf8") : null;
  assert.equal(after, committed, "a quick run leaves bench/results/latest.json alone");
});
