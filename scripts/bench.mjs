// npm run bench: fd-fetch against the provider's baseline interceptor (bench/baseline.js), in the
// same headless Chromium page and the same run, on the same in-page fake API. Prints one table:
// per-call cost, the refresh under a burst, three races the baseline loses, storage and size.
// Timings are figures to compare side by side, never pass/fail: these machines are noisy.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { build } from "./build.mjs";
import { ROOT, startServer, launchBrowser, newPage } from "../e2e/lib.mjs";

const sizes = build({ quiet: true });
const server = await startServer({ staticDir: ROOT });
const browser = await launchBrowser();
try {
  const { page } = await newPage(browser);
  await page.goto(`${server.origin}/bench/index.html`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 });
  const table = await page.evaluate(() => window.runBench());

  const gz = (file) => gzipSync(readFileSync(join(ROOT, file)), { level: 9 }).length;
  const total = sizes.find((s) => s.file === "total shipped JS").gz;
  table["bundle, gzip -9"] = { baseline: `${(gz("bench/baseline.js") / 1024).toFixed(1)} KB`, "fd-fetch": `${(total / 1024).toFixed(1)} KB` };

  const rows = Object.entries(table);
  const w = Math.max(...rows.map(([m]) => m.length));
  console.log(`\nfd-fetch vs the provider's baseline (Chromium ${browser.version()}, same page, same fake API)\n`);
  console.log(`${"measure".padEnd(w)}  ${"baseline".padStart(26)}  ${"fd-fetch".padStart(12)}`);
  console.log(`${"-".repeat(w)}  ${"-".repeat(26)}  ${"-".repeat(12)}`);
  for (const [measure, v] of rows) {
    console.log(`${measure.padEnd(w)}  ${String(v.baseline).padStart(26)}  ${String(v["fd-fetch"]).padStart(12)}`);
  }
  console.log();
} finally {
  await browser.close();
  await server.close();
}
