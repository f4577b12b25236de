// Start-up samples, from the Node side: each library's start-up page (bench/startup.html) opened
// in a fresh browser context (cold: empty HTTP cache and storage, nothing compiled), then again in
// the same context (warm: a returning visitor, its cache and code cache filled). Libraries are
// interleaved within each sample, as the per-call rounds are.
import { newPage, explain } from "../e2e/lib.mjs";

export const STARTUP_LIBS = ["fd-fetch", "baseline", "axios", "ky"];

async function sample(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => window.startup !== undefined, null, { timeout: 30_000 });
  const r = await page.evaluate(() => window.startup);
  if (r.error) throw new Error(`start-up page ${url}: ${r.error}${explain(page)}`);
  return r.ms;
}

/** `{lib: {cold: [ms…], warm: [ms…]}}`, `samples` of each. */
export async function measureStartup(browser, origin, samples) {
  const out = Object.fromEntries(STARTUP_LIBS.map((lib) => [lib, { cold: [], warm: [] }]));
  for (let i = 0; i < samples; i++) {
    for (const lib of STARTUP_LIBS) {
      const url = `${origin}/bench/startup.html?lib=${encodeURIComponent(lib)}`;
      const { context, page } = await newPage(browser);
      try {
        out[lib].cold.push(await sample(page, url));
        out[lib].warm.push(await sample(page, url));
      } finally {
        await context.close();
      }
    }
  }
  return out;
}
