// npm start's example page, as a person would use it: sign in, call the API, watch a refresh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ROOT, freePort, startChild, waitForUrl, launchBrowser, newPage, explain } from "./lib.mjs";

test("npm start serves the example page, which signs in, calls the API and refreshes", async (t) => {
  const port = await freePort();
  const child = startChild("node", ["scripts/start.mjs"], { cwd: ROOT, env: { PORT: String(port) } });
  t.after(() => child.stop());
  const origin = `http://127.0.0.1:${port}`;
  await waitForUrl(`${origin}/`, { timeoutMs: 180_000, child });

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page } = await newPage(browser, { clock: true });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.fdReady === true, null, { timeout: 20_000 });
  await page.click("#signin-form button");
  await page.waitForSelector("#dashboard:not([hidden])");
  assert.equal(await page.textContent("#partner"), "partner-42", explain(page));

  await page.click("#me");
  await page.waitForFunction(() => document.querySelector("#log").textContent.includes('"user":"alice"'));

  // 70 s later the 120 s token has under 60 s left: the burst shares one refresh.
  await page.clock.fastForward(70_000);
  await page.click("#burst");
  await page.waitForFunction(() => document.querySelector("#log").textContent.includes("20 ok"), null, { timeout: 10_000 });
  assert.equal(await page.textContent("#refreshes"), "1", explain(page));

  await page.click("#revoked");
  await page.waitForURL(`${origin}/login`);
  assert.equal(await page.evaluate(() => localStorage.getItem("fd.session")), null);
});
