// What the bench prints and writes: medians and p95 from the page's raw samples, the machine it
// ran on, the plain-text tables (also pasted into README "## Benchmark") and the JSON files.
import { cpus, loadavg, release, totalmem, type } from "node:os";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const CONTENDERS = ["raw fetch", "fd-fetch", "baseline", "axios", "ky"];

/** Median (mean of the middle two for an even count) and nearest-rank 95th percentile. */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, p95: s[Math.ceil(0.95 * s.length) - 1] };
}

/** Per-call samples (µs per call, one per round) -> `{contender: {medianUs, p95Us, xBaseline, xRawFetch, samplesUs}}`. */
export function summarizePerCall(samples) {
  const med = Object.fromEntries(CONTENDERS.map((c) => [c, stats(samples[c]).median]));
  return Object.fromEntries(
    CONTENDERS.map((c) => {
      const { median, p95 } = stats(samples[c]);
      return [c, { medianUs: median, p95Us: p95, xBaseline: median / med.baseline, xRawFetch: median / med["raw fetch"], samplesUs: samples[c] }];
    }),
  );
}

/** Start-up samples -> `{lib: {coldMs, warmMs, coldSamplesMs, warmSamplesMs}}` (medians). */
export function summarizeStartup(samples) {
  return Object.fromEntries(
    Object.entries(samples).map(([lib, { cold, warm }]) => [
      lib,
      { coldMs: stats(cold).median, warmMs: stats(warm).median, coldSamplesMs: cold, warmSamplesMs: warm },
    ]),
  );
}

/** The machine, as far as it explains the figures (the load average: these machines are shared). */
export function machine(browser) {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    os: `${type()} ${release()}`,
    node: process.version,
    chromium: browser.version(),
    loadAverageAtStart: loadavg().map((x) => +x.toFixed(2)),
  };
}

// ---------------------------------------------------------------------------------------------
// Tables

const us = (x) => x.toFixed(x < 100 ? 1 : 0); // a loopback batch mean is good to 1 µs at best
const ratio = (x) => `${x.toFixed(2)}×`;
const ms = (x) => x.toFixed(1);
const mib = (x) => (x === null ? "n/a" : (x / 2 ** 20).toFixed(2));
const kb = (x) => `${(x / 1024).toFixed(1)} KB`;
const count = (x) => x.toLocaleString("en-US");

/**
 * Aligned plain text: `rows` are `[label, ...cells]`, or a string for a section heading. The
 * first column is left-aligned, the others right-aligned under `head`.
 */
function table(head, rows) {
  const cells = rows.filter((r) => typeof r !== "string").map((r) => r.map(String));
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join("  ").trimEnd();
  const out = [line(head), line(width.map((w) => "-".repeat(w)))];
  for (const r of rows) out.push(typeof r === "string" ? r : line(r.map(String)));
  return out.join("\n");
}

/** The per-call, burst and start-up rows: one column per contender. */
function mainTable(r) {
  const each = (f) => CONTENDERS.map(f);
  const perCall = (mode, goalBaseline, goalRaw) => {
    const p = r.perCall[mode];
    const { n, rounds } = r.settings[mode];
    return [
      `per call, ${mode === "stub" ? "stub fetch (library cost alone)" : "loopback HTTP to the mock API"}: µs, ${rounds} rounds × ${count(n)} calls`,
      ["  median", ...each((c) => us(p[c].medianUs))],
      ["  p95", ...each((c) => us(p[c].p95Us))],
      [`  median ÷ baseline${goalBaseline}`, ...each((c) => ratio(p[c].xBaseline))],
      [`  median ÷ raw fetch${goalRaw}`, ...each((c) => ratio(p[c].xRawFetch))],
    ];
  };
  const burst = (f) => each((c) => (r.burst[c] ? f(r.burst[c]) : "—"));
  const startup = (f) => each((c) => (r.startup[c] ? ms(f(r.startup[c])) : "—"));
  return table(
    ["", ...CONTENDERS],
    [
      ...perCall("stub", " (goal ≤ 1.3×)", ""),
      ...perCall("loopback", "", " (goal ≤ 1.05×)"),
      `burst: ${count(r.settings.burst)} concurrent fd() calls, the session inside the refresh threshold`,
      ["  refresh requests", ...burst((b) => b.refreshRequests)],
      ["  calls fulfilled", ...burst((b) => count(b.fulfilled))],
      ["  ms to settle", ...burst((b) => ms(b.ms))],
      ["  JS heap before → after, MiB", ...burst((b) => `${mib(b.jsHeapBefore)} → ${mib(b.jsHeapAfter)}`)],
      ["  wasm memory before → after, MiB", ...burst((b) => (b.wasmBefore === null ? "—" : `${mib(b.wasmBefore)} → ${mib(b.wasmAfter)}`))],
      `start-up: import → ready (fd-fetch: configure() resolved), ms, median of ${r.settings.startupSamples}`,
      ["  cold (fresh browser context)", ...startup((s) => s.coldMs)],
      ["  warm (same context, second visit)", ...startup((s) => s.warmMs)],
    ],
  );
}

function sizeTable(r) {
  const rows = Object.entries(r.size.bundles).map(([name, s]) => [
    `${name} (${s.imports === "*" ? "all its exports" : s.imports})`,
    kb(s.bytes),
    kb(s.gzip),
  ]);
  return table(
    ["size: esbuild --bundle --minify (esm)", "minified", "gzip -9"],
    [["fd-fetch as shipped (the package's JS files)", kb(r.size.package.bytes), kb(r.size.package.gzip)], ...rows],
  );
}

function behaviourTable(r) {
  return table(
    ["behaviour (in-page fake API)", "baseline", "fd-fetch"],
    Object.entries(r.behaviour).map(([measure, v]) => [measure, v.baseline, v["fd-fetch"]]),
  );
}

export function machineLine(m) {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}; Chromium ${m.chromium}; load average at start ${m.loadAverageAtStart.join(" ")}`;
}

/** Everything printed, as one string. */
export function render(r) {
  return [
    `fd-fetch benchmark${r.quick ? " (QUICK MODE: too few samples to read)" : ""}, ${r.date}`,
    `machine: ${machineLine(r.machine)}`,
    "",
    mainTable(r),
    "",
    sizeTable(r),
    "",
    behaviourTable(r),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Files

/** Writes `<dir>/<date>.json` and `<dir>/latest.json`; returns their paths. */
export async function writeResults(dir, r) {
  await mkdir(dir, { recursive: true });
  // Three decimals are more than the timers give (100 µs steps) and keep the files readable.
  const json = `${JSON.stringify(r, (_, v) => (typeof v === "number" && !Number.isInteger(v) ? +v.toFixed(3) : v), 2)}\n`;
  const dated = join(dir, `${r.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}.json`); // no ':' in a file name
  const latest = join(dir, "latest.json");
  await writeFile(dated, json);
  await writeFile(latest, json);
  return [dated, latest];
}
