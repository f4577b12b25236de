// The example Node.js service (examples/node-service) against fd-proxy's mock with 6-second tokens,
// for longer than two token lifetimes: every call goes out with a live token, the background
// refresh (startAutoRefresh) keeps it so, the mock sees the refreshes, no token reaches the log,
// and the process ends by itself, at the end of its duration and on SIGTERM. Then: a running auto
// refresh on its own does not keep Node alive.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { PKG, ROOT, USER, mockLog, run, startChild, startFdProxy, tokenDigest } from "./lib.mjs";

const SERVICE = join(ROOT, "examples", "node-service", "service.mjs");
const LIFETIME_S = 6;
// Calls every 500 ms; the background check every 500 ms refreshes under 3 s left; a call itself
// would refresh only under 1 s left, so a call that finds more than that was kept fresh by the
// background refresh, not by its own.
const SETTINGS = {
  FD_INTERVAL_MS: "500",
  FD_CHECK_MS: "500",
  FD_REFRESH_BEFORE_MS: "3000",
  FD_THRESHOLD_MS: "1000",
  FD_PARTNER: "acme-eu",
};

let proxy;
let log; // proxy's mock request log
before(async () => {
  proxy = await startFdProxy(["--mock-api", "--no-proxy", "--token-lifetime", String(LIFETIME_S)]);
  log = mockLog(proxy.api);
});
after(async () => {
  await proxy?.stop();
});

/** Lines of the service's output, parsed: calls and refreshes. */
function parse(out) {
  const calls = [...out.matchAll(/ call (\d+) GET \/orders (ok|failed)([^\n]*)token_left_ms=(-?\d+|none)/g)].map(
    ([, n, result, detail, left]) => ({ n: Number(n), result, detail: detail.trim(), leftMs: Number(left) }),
  );
  const refreshes = [...out.matchAll(/ refresh outcome=(\w+) source=(\w+)/g)].map(([, outcome, source]) => ({
    outcome,
    source,
  }));
  return { calls, refreshes };
}

/** Anything token-shaped: a JWT (the mock's access and id tokens) or the mock's refresh token. */
const TOKENISH = /eyJ[\w-]{8,}\.[\w-]{8,}|rt\.[\w-]{16,}/;

/** Waits until `p`'s output matches `re` (or the process ends, or 30 s pass). */
async function waitForOutput(p, re) {
  for (let i = 0; i < 300; i++) {
    if (re.test(p.output())) return;
    if (p.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(p.output(), re, "the service's output");
}

test("the service signs in, stays fresh over two token lifetimes with the background refresh, and exits by itself", async (t) => {
  const durationMs = (2 * LIFETIME_S + 2) * 1000;
  const beforeOrders = (await log.requestsTo("GET /api/orders")).length;
  const beforeRefresh = (await log.requestsTo("POST /api/auth/refresh_token")).length;
  const service = startChild("node", [SERVICE], {
    env: { ...SETTINGS, FD_BASE_URL: proxy.api, FD_DURATION_MS: String(durationMs) },
  });
  // It must end on its own: nothing here signals it. 30 s past its duration it is killed, and fails.
  const killer = setTimeout(() => service.stop(), durationMs + 30_000);
  const { code, signal } = await service.exited;
  clearTimeout(killer);
  const out = service.output();
  assert.equal(signal, null, `the service ended on its own, not killed:\n${out}`);
  assert.equal(code, 0, `exit code 0:\n${out}`);
  assert.match(out, /signed in user=alice partner=acme-eu/);
  assert.match(out, /done calls=\d+ failures=0/);

  const { calls, refreshes } = parse(out);
  assert.ok(calls.length >= 2 * LIFETIME_S, `calls over ${durationMs} ms every 500 ms (got ${calls.length}):\n${out}`);
  assert.deepEqual(
    calls.filter((c) => c.result !== "ok"),
    [],
    `every call succeeded:\n${out}`,
  );
  for (const c of calls) {
    assert.ok(
      c.leftMs > 1000,
      `call ${c.n} went with a token the background refresh kept fresh (${c.leftMs} ms left):\n${out}`,
    );
  }
  assert.ok(refreshes.length >= 2, `onRefresh heard at least two refreshes (got ${refreshes.length}):\n${out}`);
  assert.deepEqual(
    refreshes.filter((r) => r.outcome !== "fresh"),
    [],
    "every refresh was fresh",
  );

  // The mock's side: every call answered 200 (none expired, none 401), at least two refreshes.
  const orders = (await log.requestsTo("GET /api/orders")).slice(beforeOrders);
  assert.equal(orders.length, calls.length, "the mock saw each call once");
  assert.deepEqual(
    orders.filter((q) => q.status !== 200),
    [],
    "the mock answered every call 200",
  );
  for (const q of orders) {
    assert.equal(q.user, "alice", "each call carried alice's token");
    assert.equal(q.partner, "acme-eu", "and the partner id");
  }
  const tokens = new Set(orders.map((q) => q.token));
  assert.ok(
    tokens.size >= 3,
    `the calls went with the sign-in's token and at least two refreshed ones (${tokens.size} tokens)`,
  );
  const refreshed = (await log.requestsTo("POST /api/auth/refresh_token")).slice(beforeRefresh);
  assert.ok(refreshed.length >= 2, `the mock saw at least two refreshes (saw ${refreshed.length})`);
  assert.deepEqual(
    refreshed.filter((q) => q.status !== 200),
    [],
    "every refresh succeeded",
  );
  assert.equal(refreshed.length, refreshes.length, "one onRefresh event per refresh the mock answered");

  assert.doesNotMatch(out, TOKENISH, "no token in the service's output");
  t.diagnostic(
    `${durationMs} ms, ${LIFETIME_S} s tokens: ${calls.length} calls all 200, ${refreshed.length} refreshes at the mock, ` +
      `${tokens.size} tokens used, least token time left at a call ${Math.min(...calls.map((c) => c.leftMs))} ms`,
  );
});

test("given tokens through setSession, the service refreshes them, and SIGTERM ends it cleanly", async () => {
  // Tokens obtained elsewhere (here: straight from the mock), handed over in the environment.
  const r = await fetch(`${proxy.api}/auth`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(USER),
  });
  const tokens = await r.json();
  assert.equal(r.status, 200);
  const beforeRefresh = (await log.requestsTo("POST /api/auth/refresh_token")).length;
  const service = startChild("node", [SERVICE, `--base-url=${proxy.api}`], {
    env: { ...SETTINGS, FD_ACCESS_TOKEN: tokens.AccessToken, FD_REFRESH_TOKEN: tokens.RefreshToken },
  });
  try {
    await waitForOutput(service, /session given partner=acme-eu/);
    // A refresh, then a call made with its token.
    await waitForOutput(service, / refresh outcome=fresh[^\n]*\n(?:[^\n]*\n)*?[^\n]* call \d+ GET \/orders ok/);
    process.kill(service.child.pid, "SIGTERM"); // the service itself, not its process group
    const killer = setTimeout(() => service.stop(), 15_000);
    const { code, signal } = await service.exited;
    clearTimeout(killer);
    const out = service.output();
    assert.equal(signal, null, `SIGTERM was handled, the process ended on its own:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /stopping: SIGTERM/);
    assert.match(out, /done calls=\d+ failures=0/);
    assert.ok(
      !out.includes(tokens.AccessToken) && !out.includes(tokens.RefreshToken) && !out.includes(tokens.IdToken),
      "no token in the output",
    );
    assert.doesNotMatch(out, TOKENISH, "nothing token-shaped in the output");
    const refreshed = (await log.requestsTo("POST /api/auth/refresh_token")).slice(beforeRefresh);
    assert.ok(refreshed.length >= 1 && refreshed.every((q) => q.status === 200), "the mock answered the refresh");
    const used = (await log.requestsTo("GET /api/orders")).filter(
      (q) => q.token === tokenDigest(tokens.AccessToken),
    );
    assert.ok(used.length >= 1, "the first calls went with the access token it was given");
  } finally {
    await service.stop();
  }
});

test("a running auto refresh does not keep Node alive, on the default client and on createClient's", async () => {
  // Ticks every 20 ms; the tokens (from an injected fetch) live 1 s and are due 100 ms after each
  // refresh, so both timers refresh several times. The script then just returns: Node must exit
  // by itself.
  const script = `
    import * as lib from ${JSON.stringify(pathToFileURL(join(PKG, "index.js")).href)};
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const jwt = (now = Math.floor(Date.now() / 1000)) => b64({ alg: "none" }) + "." + b64({ sub: "svc", iat: now, exp: now + 1 }) + ".sig";
    let refreshes = 0;
    const fetch = async (req) => {
      if (new URL(req.url).pathname.endsWith("/auth/refresh_token")) refreshes += 1;
      return Response.json({ AccessToken: jwt(), TokenType: "Bearer" });
    };
    const tick = { intervalMs: 20, thresholdMs: 900 };
    await lib.configure({ baseUrl: "https://api.test/api", fetch, storageKey: "a" });
    lib.setSession({ accessToken: jwt(), refreshToken: "r-a", partnerId: "p" });
    lib.startAutoRefresh(tick);
    const client = await lib.createClient({ baseUrl: "https://api.test/api", fetch, storageKey: "b" });
    client.setSession({ accessToken: jwt(), refreshToken: "r-b", partnerId: "p" });
    client.startAutoRefresh(tick);
    await new Promise((r) => setTimeout(r, 600));
    console.log("refreshes=" + refreshes);
  `;
  const { code, out } = await run("node", ["--input-type=module", "-e", script], {
    allowFail: true,
    timeoutMs: 20_000,
  });
  assert.equal(code, 0, `node exited by itself with 0 (null: killed after 20 s):\n${out}`);
  const refreshes = Number(/refreshes=(\d+)/.exec(out)?.[1]);
  assert.ok(refreshes >= 4, `both timers ran (refreshes: ${refreshes}):\n${out}`);
});
