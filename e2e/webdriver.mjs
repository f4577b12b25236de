// A small W3C WebDriver client over `fetch`, for the engines Playwright cannot drive here (its own
// Firefox and WebKit builds cannot be downloaded): Firefox ESR through geckodriver, WebKitGTK's
// MiniBrowser through WebKitWebDriver (under Xvfb, which `startXvfb` starts on a free display).
// Used by the engine suites (e2e/engines.test.mjs, e2e/engines-tabs.test.mjs) and by
// scripts/test.mjs (the Xvfb display of the wasm-bindgen-test step in WebKitGTK).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { freePort, startChild } from "./lib.mjs";

/**
 * The engines besides Chromium. `driver()` is the WebDriver binary (an env var overrides it),
 * `missing()` names what is not installed (null when all is there), `capabilities` the session's.
 */
export const ENGINES = {
  firefox: {
    name: "Firefox ESR",
    driver: () => process.env.GECKODRIVER ?? join(homedir(), ".cargo", "bin", "geckodriver"),
    browser: "/usr/bin/firefox-esr",
    needsDisplay: false,
    args: (port) => ["--host", "127.0.0.1", "--port", String(port)],
    capabilities: {
      browserName: "firefox",
      "moz:firefoxOptions": { binary: "/usr/bin/firefox-esr", args: ["-headless"], prefs: { "dom.disable_open_during_load": false } },
    },
  },
  webkit: {
    name: "WebKitGTK",
    driver: () => process.env.SAFARIDRIVER ?? "/usr/bin/WebKitWebDriver",
    browser: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
    needsDisplay: true,
    args: (port) => ["--host=127.0.0.1", `--port=${port}`],
    capabilities: {
      "webkitgtk:browserOptions": {
        binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
        args: ["--automation"],
      },
    },
  },
};

/** What engine `id` lacks on this machine ("geckodriver at …"), or null when it can run. */
export function missing(id) {
  const e = ENGINES[id];
  const lacks = [];
  if (!existsSync(e.driver())) lacks.push(`its driver ${e.driver()}`);
  if (!existsSync(e.browser)) lacks.push(`the browser ${e.browser}`);
  if (e.needsDisplay && !existsSync("/usr/bin/Xvfb") && !process.env.DISPLAY) lacks.push("Xvfb (/usr/bin/Xvfb)");
  return lacks.length ? `${e.name} needs ${lacks.join(" and ")} (scripts/setup.sh --test installs them)` : null;
}

/** Why engine `id`'s tests are skipped, or false when they run: missing engines fail them instead
 * under FD_REQUIRE_ENGINES=1 (npm test sets it, after setup.sh installed them). */
export function skipReason(id) {
  const lacks = missing(id);
  if (!lacks) return false;
  return process.env.FD_REQUIRE_ENGINES === "1" ? false : lacks;
}

// ---------------------------------------------------------------------------------------------
// Pages

/**
 * A classic script for the test pages, to put before their module: WebDriver has no fake clock,
 * so `Date.now()` (which the package reads) runs `window.skewMs` ahead of the real clock;
 * `window.pageErrors` records the page's errors and unhandled rejections, for failure messages;
 * and, as WebDriver cannot watch the network, `window.authSeen` records what the page sent to and
 * got back from the sign-in and refresh routes (`{path, sent, answer}`, parsed JSON bodies), for
 * tests that compare stored tokens with the ones the browser received. The page's `fetch` is
 * wrapped for that, and otherwise unchanged.
 */
export const PAGE_PRELUDE = `<script>
  (() => {
    const realNow = Date.now;
    window.skewMs = 0;
    Date.now = () => realNow.call(Date) + window.skewMs;
    window.pageErrors = [];
    addEventListener("error", (e) => pageErrors.push("error: " + e.message));
    addEventListener("unhandledrejection", (e) => pageErrors.push("unhandled rejection: " + (e.reason && e.reason.stack || e.reason)));
    const realFetch = window.fetch;
    window.authSeen = [];
    const json = async (read) => {
      try { return JSON.parse(await read()); } catch (e) { return null; }
    };
    window.fetch = async function (input, init) {
      const isRequest = typeof Request === "function" && input instanceof Request;
      const path = new URL(isRequest ? input.url : String(input), location.href).pathname;
      if (!/\\/auth(\\/refresh_token)?$/.test(path)) return realFetch.call(window, input, init);
      const copy = isRequest ? input.clone() : null;
      const response = await realFetch.call(window, input, init);
      const sent = await json(async () => (init && init.body !== undefined ? String(init.body) : copy ? copy.text() : "null"));
      authSeen.push({ path, sent, answer: await json(() => response.clone().text()) });
      return response;
    };
  })();
</script>`;

// ---------------------------------------------------------------------------------------------
// Xvfb

/**
 * Starts `Xvfb` on a display it picks itself (`-displayfd`: no race for a number with other
 * servers). Resolves with `{ display: ":N", stop() }`.
 */
export function startXvfb() {
  return new Promise((resolve, reject) => {
    const child = spawn("Xvfb", ["-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "1280x1024x24"], {
      stdio: ["ignore", "ignore", "pipe", "pipe"],
      detached: true,
    });
    let err = "";
    let fd = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`Xvfb did not report a display within 10 s: ${err}`));
    }, 10_000);
    child.stderr.on("data", (d) => (err += d));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb did not start: ${e.message}`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code}) before reporting a display: ${err}`));
    });
    child.stdio[3].on("data", (d) => {
      fd += d;
      if (!fd.includes("\n")) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      const stop = () =>
        new Promise((res) => {
          if (child.exitCode !== null || child.signalCode !== null) return res();
          child.once("exit", () => res());
          child.kill("SIGTERM");
        });
      process.on("exit", () => child.kill("SIGKILL"));
      resolve({ display: `:${fd.trim()}`, stop });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Driver and session

/**
 * Starts engine `id`'s WebDriver server. An engine that needs a display (MiniBrowser has no
 * headless mode: without one it hangs) gets its own Xvfb, or without Xvfb uses $DISPLAY.
 * Resolves with `{ engine, url, newSession(extraCapabilities), stop() }`.
 */
export async function startDriver(id) {
  const engine = ENGINES[id];
  let xvfb = null;
  const env = {};
  if (engine.needsDisplay && existsSync("/usr/bin/Xvfb")) {
    xvfb = await startXvfb();
    env.DISPLAY = xvfb.display;
  }
  const port = await freePort();
  const child = startChild(engine.driver(), engine.args(port), { env });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline || child.child.exitCode !== null) {
      await child.stop();
      await xvfb?.stop();
      throw new Error(`${engine.name}'s WebDriver server did not start:\n${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    engine,
    url,
    output: child.output,
    newSession: (extra = {}) => newSession(url, { ...engine.capabilities, ...extra }),
    async stop() {
      await child.stop();
      await xvfb?.stop();
    },
  };
}

/** A WebDriver error answer, with its `error` code ("no such window", …). */
export class WebDriverError extends Error {
  constructor(what, value) {
    super(`${what}: ${value?.error ?? "?"}: ${value?.message ?? JSON.stringify(value)}`);
    this.error = value?.error;
  }
}

async function call(base, method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json; charset=utf-8" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${path}: HTTP ${r.status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (!r.ok || (json.value && typeof json.value === "object" && "error" in json.value && r.status >= 400)) {
    throw new WebDriverError(`${method} ${path}`, json.value);
  }
  return json.value;
}

/**
 * A new session with `alwaysMatch` capabilities. The session's methods follow the W3C WebDriver
 * commands; `evaluate(fn, ...args)` runs `fn` in the current window's page and resolves with its
 * (awaited, JSON-cloned) result, like Playwright's `page.evaluate`.
 */
export async function newSession(driverUrl, capabilities) {
  const created = await call(driverUrl, "POST", "/session", { capabilities: { alwaysMatch: capabilities } });
  const base = `${driverUrl}/session/${created.sessionId}`;
  const cmd = (method, path, body) => call(base, method, path, body);
  await cmd("POST", "/timeouts", { script: 60_000, pageLoad: 30_000 });
  const session = {
    id: created.sessionId,
    capabilities: created.capabilities,
    browser: `${created.capabilities.browserName} ${created.capabilities.browserVersion}`,
    goto: (url) => cmd("POST", "/url", { url }),
    url: () => cmd("GET", "/url"),
    refresh: () => cmd("POST", "/refresh", {}),
    title: () => cmd("GET", "/title"),
    /** Runs `fn(...args)` in the page; a returned promise is awaited (W3C "execute script"). */
    evaluate: (fn, ...args) => cmd("POST", "/execute/sync", { script: `return (${fn}).apply(null, arguments);`, args }),
    /** Every cookie of the current document's origin, HttpOnly ones included. */
    cookies: () => cmd("GET", "/cookie"),
    /** Opens a new tab (or `"window"`) and returns its handle; the current window does not change. */
    newWindow: async (type = "tab") => (await cmd("POST", "/window/new", { type })).handle,
    window: () => cmd("GET", "/window"),
    windows: () => cmd("GET", "/window/handles"),
    switchTo: (handle) => cmd("POST", "/window", { handle }),
    /** Closes the current window; resolves with the handles left. */
    closeWindow: () => cmd("DELETE", "/window"),
    /** Polls `fn(...args)` in the page until it is truthy; resolves with it, or null after `timeoutMs`. */
    async waitFor(fn, args = [], timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await session.evaluate(fn, ...args).catch(() => null);
        if (v) return v;
        if (Date.now() > deadline) return null;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    quit: () => cmd("DELETE", "").catch(() => {}),
  };
  return session;
}
