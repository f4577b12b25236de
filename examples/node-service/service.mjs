#!/usr/bin/env node
// fd-fetch in a Node.js 20+ service: signs in once as a service user (or is handed tokens through
// `setSession`), keeps its access token fresh in the background with `startAutoRefresh`, and calls
// the partner API every few seconds. One log line per call and per refresh; never a token.
//
// It ends on its own when its duration is over, and on SIGINT/SIGTERM: it stops the auto refresh,
// closes the client and lets Node's event loop drain (no process.exit), which shows that fd-fetch's
// timers do not keep a process alive.
//
//   FD_BASE_URL=http://127.0.0.1:8080/api node examples/node-service/service.mjs
//
// Settings (environment, or the same names as --flags, e.g. --interval-ms=2000):
//   FD_BASE_URL           the partner API (fd-proxy --mock-api serves one at http://HOST:PORT/api)
//   FD_PATH               the route to call                          [/orders]
//   FD_PARTNER            X-Preferred-Partner-Id                     [acme-eu]
//   FD_USERNAME/PASSWORD  the service user                           [alice / wonderland, the mock's]
//   FD_ACCESS_TOKEN, FD_REFRESH_TOKEN
//                         instead of signing in: a session obtained elsewhere, given to setSession
//   FD_INTERVAL_MS        time between two calls                     [5000]
//   FD_DURATION_MS        how long to run; 0 runs until a signal     [0]
//   FD_CHECK_MS           startAutoRefresh intervalMs                [60000]
//   FD_REFRESH_BEFORE_MS  startAutoRefresh thresholdMs               [600000]
//   FD_THRESHOLD_MS       configure refreshThresholdMs (on-demand refresh by a call) [300000]
import { setTimeout as sleep } from "node:timers/promises";
import { FdError, createClient } from "fd-fetch";

function settings() {
  const flags = {};
  for (const arg of process.argv.slice(2)) {
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg} (expected --name=value)`);
    flags[`FD_${m[1].replaceAll("-", "_").toUpperCase()}`] = m[2];
  }
  const get = (name, fallback) => flags[name] ?? process.env[name] ?? fallback;
  const ms = (name, fallback) => {
    const n = Number(get(name, fallback));
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number of milliseconds`);
    return n;
  };
  const baseUrl = get("FD_BASE_URL");
  if (!baseUrl) throw new Error("set FD_BASE_URL (or --base-url=) to the partner API, e.g. http://127.0.0.1:8080/api");
  return {
    baseUrl,
    path: get("FD_PATH", "/orders"),
    partnerId: get("FD_PARTNER", "acme-eu"),
    username: get("FD_USERNAME", "alice"),
    password: get("FD_PASSWORD", "wonderland"),
    accessToken: get("FD_ACCESS_TOKEN"),
    refreshToken: get("FD_REFRESH_TOKEN"),
    intervalMs: ms("FD_INTERVAL_MS", 5000),
    durationMs: ms("FD_DURATION_MS", 0),
    checkMs: ms("FD_CHECK_MS", 60_000),
    refreshBeforeMs: ms("FD_REFRESH_BEFORE_MS", 600_000),
    thresholdMs: ms("FD_THRESHOLD_MS", 300_000),
  };
}

const log = (line) => console.log(`${new Date().toISOString()} ${line}`);
/** An error as one line: an FdError's code and status, never its body (which is the API's). */
const describe = (e) =>
  e instanceof FdError ? `${e.code}${e.status ? ` status=${e.status}` : ""}` : `${e?.name}: ${e?.message}`;

async function main() {
  const s = settings();
  const stop = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      log(`stopping: ${signal}`);
      stop.abort();
    });
  }
  if (s.durationMs > 0) {
    // Unref'd: the duration alone never keeps the process running.
    setTimeout(() => stop.abort(), s.durationMs).unref();
  }

  const client = await createClient({
    baseUrl: s.baseUrl,
    refreshThresholdMs: s.thresholdMs,
    // No page to send to /login: a dead session stops the service.
    onSessionExpired: () => {
      log("session expired: stopping");
      stop.abort();
    },
  });
  client.onRefresh(({ outcome, source, durationMs }) => {
    const left = client.getSession()?.expiresAt;
    log(
      `refresh outcome=${outcome} source=${source} duration_ms=${Math.round(durationMs)}${left ? ` token_left_ms=${left - Date.now()}` : ""}`,
    );
  });

  if (s.accessToken && s.refreshToken) {
    client.setSession({ accessToken: s.accessToken, refreshToken: s.refreshToken, partnerId: s.partnerId });
    log(`session given partner=${s.partnerId}`);
  } else {
    const r = await client.signIn({ username: s.username, password: s.password }, { partnerId: s.partnerId });
    if (r.status !== "signed_in") throw new Error(`sign-in needs ${r.challenge}: use a service user without MFA`);
    log(`signed in user=${s.username} partner=${s.partnerId}`);
  }
  client.startAutoRefresh({ intervalMs: s.checkMs, thresholdMs: s.refreshBeforeMs });

  let calls = 0;
  let failures = 0;
  while (!stop.signal.aborted) {
    calls += 1;
    // How long the token that this call is about to use has left (no token is logged).
    const before = client.getSession()?.expiresAt;
    const leftMs = before === undefined ? "none" : String(before - Date.now());
    try {
      const body = await client.fd(s.path, { signal: stop.signal });
      const items = Array.isArray(body?.orders) ? ` orders=${body.orders.length}` : "";
      log(`call ${calls} GET ${s.path} ok token_left_ms=${leftMs}${items}`);
    } catch (e) {
      if (stop.signal.aborted && e?.name === "AbortError") break;
      failures += 1;
      log(`call ${calls} GET ${s.path} failed ${describe(e)} token_left_ms=${leftMs}`);
    }
    await sleep(s.intervalMs, undefined, { signal: stop.signal }).catch(() => {});
  }

  client.stopAutoRefresh();
  client.close();
  log(`done calls=${calls} failures=${failures}`);
  process.exitCode = failures > 0 ? 1 : 0;
}

main().catch((e) => {
  log(`fatal: ${describe(e)}`);
  process.exitCode = 2;
});
