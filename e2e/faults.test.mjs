// The fault matrix (issue 8, item 3): each row injects one fault in real headless Chromium, through
// a node:http server that plays the partner API on the page's origin (faults-lib.mjs) or through the
// injected `fetch` of `configure`, and compares what happens with the outcome written down in the
// row beforehand, from CONTRACT.md. After each fault a health check drives every export against the
// healthy routes, and every error the row and the check caught (message, JSON, String) and every
// console line are searched for every token the row used or the server issued. One table is
// printed; the test fails on any mismatch.
//
// Vocabulary of the cells: a call is `ok:old` (went out with the session's token from before the
// fault), `ok:new` (with the token the session holds now, e.g. a refreshed one), or `err:<code>`; a
// session (getSession) or saved entry (localStorage) is `kept`, `new` or `none`; `expired` counts
// onSessionExpired calls; `…Sent` counts requests that reached a server.
//
// The package under test is `$FD_PKG` (default `pkg`), served as shipped.
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, SHIPPED, launchBrowser, newPage } from "./lib.mjs";
import { Tokens, fmt, printTable, startOtherServer, startPageServer, subOf } from "./faults-lib.mjs";

const REFRESH = "POST /api/auth/refresh_token";
const AUTH = "POST /api/auth";
const MFA = "PUT /api/auth/challenge/mfa-token";
const ME = "GET /api/me";
/** Always expected, after the row's own cells. */
const INVARIANTS = { health: "ok", tokensInErrors: 0, notFdError: 0 };
/** What a wasm panic or a JS exception unwinding through wasm looks like on the page. */
const PANIC = /panicked|unreachable|RuntimeError|recursive use of an object|already (mutably )?borrowed/i;

let browser;
let srv;
let other;
const tokens = new Tokens();

const timing = (what, since) => process.env.FAULTS_TIMING && console.log(`${String(Date.now() - since).padStart(6)} ms  ${what}`);

before(async () => {
  const t0 = Date.now();
  srv = await startPageServer({ pkgDir: resolve(ROOT, process.env.FD_PKG ?? "pkg"), tokens });
  other = await startOtherServer({ tokens });
  browser = await launchBrowser();
  timing("servers and browser started", t0);
});

after(async () => {
  const t0 = Date.now();
  await browser?.close();
  await Promise.all([srv?.close(), other?.close()]);
  timing("browser and servers closed", t0);
});

// ---------------------------------------------------------------------------------------------
// Rows

const rows = [];
/** A fault, the outcome the contract asks for (written before it runs), and how to provoke it. */
const row = (fault, expected, run, options = {}) => rows.push({ fault, expected, run, ...options });

/** `page.evaluate`, or `"still pending"` when it has not settled after `ms` (a hang is an outcome). */
async function settle(page, fn, arg, ms = 12_000) {
  let timer;
  const guard = new Promise((r) => (timer = setTimeout(() => r("still pending"), ms)));
  try {
    return await Promise.race([page.evaluate(fn, arg), guard]);
  } finally {
    clearTimeout(timer); // a guard left running would keep the process alive after the last row
  }
}

const pending = (v) => v === "still pending";

/** Sets `window.rowOptions` (more configure options) to what page code `make` returns: for functions, which Node cannot send. */
async function makeRowOptions(page, make) {
  if (make) await page.evaluate(`window.rowOptions = (${make})()`);
}

/** Configures the page (`extra`, then `inPage` options) and sets alice's session, `leftMs` to live; returns its token. */
async function signedIn(page, { extra = {}, leftMs = 60_000, inPage, rt = tokens.refresh() } = {}) {
  const old = tokens.jwt("alice");
  await makeRowOptions(page, inPage);
  const failed = await settle(page, ([old, rt, leftMs, extra]) => startSession(old, rt, leftMs, extra), [old, rt, leftMs, extra]);
  if (failed) throw new Error(`no session: ${pending(failed) ? failed : fmt(failed)}`);
  return old;
}

/** The common shape: configure and a session as `signedIn` sets them (due for a refresh by default), then `fd("/me")`. */
async function dueCall(page, { extra = {}, leftMs = 60_000, inPage } = {}) {
  const old = tokens.jwt("alice");
  const rt = tokens.refresh();
  await makeRowOptions(page, inPage);
  const out = await settle(
    page,
    async ([old, rt, leftMs, extra]) => {
      const failed = await startSession(old, rt, leftMs, extra);
      if (failed) return failed;
      const r = await tryA(() => lib.fd("/me"));
      return { call: callView(r, old), session: sessionView(old), saved: savedView(old), expired: window.expired };
    },
    [old, rt, leftMs, extra],
  );
  return pending(out) ? { call: out } : out;
}

/** Moves the page's clock `ms` forward (back, if negative). */
async function advanceClock(page, ms) {
  const now = await page.evaluate(() => Date.now());
  await page.clock.setSystemTime(now + ms);
}

/** Holds the refresh, gives the page a due session and runs `start` there; once the refresh is seen, `{ old, refresh }`. */
async function whileRefreshHeld(page, start) {
  const refresh = srv.hold(REFRESH);
  const old = await signedIn(page);
  await page.evaluate(start);
  assert.ok(await refresh.seen(), "the refresh reached the server");
  return { old, refresh };
}

/** Makes `route` answer 307 to the same path on the other origin. */
function redirectToOther(route) {
  srv.on(route, ({ res, url }) => {
    res.writeHead(307, { location: `${other.origin}${url.pathname}` });
    res.end();
  });
}

/** Requests that reached the other origin, counted once a followed redirect would have landed (200 ms). */
async function otherOriginHits() {
  await sleep(200);
  return other.hits();
}

/** "yes" once a logout request has reached the server (waiting up to 2 s), else "no". */
async function logoutSent() {
  for (let i = 0; i < 40 && srv.count("POST /api/auth/logout") === 0; i++) await sleep(50);
  return srv.count("POST /api/auth/logout") > 0 ? "yes" : "no";
}

/** A refresh fault that is transient: the still-valid token is used, the session kept. */
const TRANSIENT = { call: "ok:old", session: "kept", saved: "kept", expired: 0 };
/** A refresh fault that says the refresh token is dead: the session ends. */
const DEAD = { call: "err:session_expired", session: "none", saved: "none", expired: 1, meSent: 0 };

/** A row whose refresh fault, `handler` on the server, must be TRANSIENT. */
function transientRow(fault, handler, extra = {}) {
  row(fault, TRANSIENT, async ({ page }) => {
    srv.on(REFRESH, handler);
    return dueCall(page, { extra });
  });
}

/** A row whose refresh fault, `answer(req, init)` (page code) in the injected fetch, must be TRANSIENT. */
function transientFetchRow(fault, answer) {
  row(fault, TRANSIENT, async ({ page }) => dueCall(page, { inPage: `() => ({ fetch: refreshThrough(${answer}) })` }));
}

// --- the refresh endpoint ---------------------------------------------------------------------

row("refresh hangs (refreshTimeoutMs 300)", { ...TRANSIENT, refreshSent: 1 }, async ({ page }) => {
  srv.on(REFRESH, srv.hang());
  return { ...(await dueCall(page, { extra: { refreshTimeoutMs: 300 } })), refreshSent: srv.count(REFRESH) };
});

row(
  "refresh hangs, access token already expired (refreshTimeoutMs 300)",
  { call: "err:refresh_failed", session: "kept", expired: 0, meSent: 0 },
  async ({ page }) => {
    srv.on(REFRESH, srv.hang());
    const r = await dueCall(page, { extra: { refreshTimeoutMs: 300 }, leftMs: -1000 });
    return { call: r.call, session: r.session, expired: r.expired, meSent: srv.count(ME) };
  },
);

transientRow("refresh answers 200 with an HTML page", ({ res }) => {
  res.writeHead(200, { "content-type": "text/html" });
  res.end("<!doctype html><title>Gateway</title><h1>Welcome</h1>");
});

transientRow("refresh answers 200 with a 5 MB body (application/json, not JSON)", ({ res }) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end("x".repeat(5 * 1024 * 1024));
});

transientRow("refresh: the server closes the connection (socket destroyed)", ({ req }) => req.socket.destroy());

transientRow("refresh answers 429 with Retry-After: 120", ({ json }) =>
  json(429, { message: "slow down" }, { "retry-after": "120" }),
);

transientRow(
  "refresh: 200 whose body trickles (10 B / 100 ms, valid JSON after ~2 s) past refreshTimeoutMs 300",
  ({ res, issue }) => {
    const body = JSON.stringify({ AccessToken: issue("alice").AccessToken, TokenType: "Bearer" });
    res.writeHead(200, { "content-type": "application/json" });
    let at = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      res.write(body.slice(at, at + 10));
      at += 10;
      if (at >= body.length) {
        clearInterval(timer);
        res.end();
      }
    }, 100);
    srv.cleanup(() => clearInterval(timer));
  },
  { refreshTimeoutMs: 300 },
);

transientRow("refresh answers 500", ({ json }) => json(500, { message: "internal" }));

row(
  "refresh answers 307 to another origin (must not be followed)",
  { ...TRANSIENT, otherOriginHits: 0 },
  async ({ page }) => {
    redirectToOther(REFRESH);
    const r = await dueCall(page);
    return { ...r, otherOriginHits: await otherOriginHits() };
  },
);

for (const status of [400, 401, 403]) {
  row(`refresh answers ${status} (refresh token dead)`, DEAD, async ({ page }) => {
    srv.on(REFRESH, ({ json }) => json(status, { error: "invalid_grant", message: "Refresh Token has been revoked" }));
    const r = await dueCall(page, { leftMs: 60_000 });
    return { ...r, meSent: srv.count(ME) };
  });
}

row(
  "20 concurrent calls while the refresh answers 503",
  { calls: "20×ok:old", refreshSent: 1, session: "kept" },
  async ({ page }) => {
    srv.on(REFRESH, ({ json }) => json(503, { message: "unavailable" }));
    const old = await signedIn(page);
    const out = await settle(
      page,
      async (old) => {
        const rs = await Promise.all(Array.from({ length: 20 }, () => tryA(() => lib.fd("/me"))));
        return { calls: tally(rs.map((r) => callView(r, old))), session: sessionView(old) };
      },
      old,
    );
    return pending(out) ? { calls: out } : { calls: out.calls, refreshSent: srv.count(REFRESH), session: out.session };
  },
);

transientRow('refresh answer: AccessToken is a number (42)', ({ json }) => json(200, { AccessToken: 42, TokenType: "Bearer" }));
transientRow('refresh answer: AccessToken is ""', ({ json }) => json(200, { AccessToken: "", TokenType: "Bearer" }));
transientRow("refresh answer: AccessToken is a 1 MB string", ({ json }) =>
  json(200, { AccessToken: tokens.add(`${"A".repeat(1024 * 1024 - 8)}TKN${"b".repeat(5)}`), TokenType: "Bearer" }),
);

/** The expiry of the session now, in words: ≈1h, ≈2min, or seconds. */
const expiryView = (leftMs) =>
  leftMs > 3_500_000 && leftMs <= 3_600_000 ? "≈1h" : leftMs > 100_000 && leftMs <= 120_000 ? "≈2min" : `${Math.round(leftMs / 1000)}s`;

for (const [label, expiresIn] of [
  ["negative (-300)", -300],
  ["huge (1e308)", 1e308],
  ['a string ("120")', "120"],
]) {
  row(
    `refresh answer: ExpiresIn ${label}, opaque AccessToken (ignored: default 1 h)`,
    { call: "ok:new", session: "new", expiresIn: "≈1h" },
    async ({ page }) => {
      srv.on(REFRESH, ({ json }) => json(200, { AccessToken: tokens.opaque(), ExpiresIn: expiresIn, TokenType: "Bearer" }));
      const r = await dueCall(page);
      const left = await page.evaluate(() => (lib.getSession()?.expiresAt ?? NaN) - Date.now());
      return { call: r.call, session: r.session, expiresIn: expiryView(left) };
    },
  );
}

transientFetchRow("refresh: injected fetch throws synchronously", () => {
  throw new Error("fetch exploded");
});

row(
  "report 8: injected fetch ignores the signal and never settles (refreshTimeoutMs 300)",
  { valid: "ok:old", expiredToken: "err:refresh_failed", session: "kept", expired: 0 },
  async ({ page }) => {
    const [old, old2, rt] = [tokens.jwt("alice"), tokens.jwt("alice"), tokens.refresh()];
    await page.evaluate(() => cfg({ fetch: refreshThrough(() => new Promise(() => {})), refreshTimeoutMs: 300 }));
    const valid = await settle(page, async ([old, rt]) => (put(old, rt, 60_000), fdMe(old)), [old, rt]);
    const expiredToken = await settle(page, async ([old2, rt]) => (put(old2, rt, -1000), fdMe(old2)), [old2, rt]);
    const rest = await page.evaluate((old2) => ({ session: sessionView(old2), expired: window.expired }), old2);
    return { valid, expiredToken, ...rest };
  },
);

transientFetchRow("refresh: injected fetch resolves with a Response whose getters throw", () => {
  const r = new Response("{}", { headers: { "content-type": "application/json" } });
  for (const prop of ["status", "ok", "headers"]) {
    Object.defineProperty(r, prop, { get() { throw new Error(`${prop} says no`); } });
  }
  return Promise.resolve(r);
});

row(
  "globalThis.fetch replaced after configure (no fetch option)",
  { call: "ok:new", refreshSent: 1, refreshesThroughReplacement: 0 },
  async ({ page }) => {
    const old = await signedIn(page);
    const out = await page.evaluate(async (old) => {
      const original = window.fetch;
      window.replaced = 0;
      window.fetch = (req, init) => {
        if (new URL(req.url ?? req, location.href).pathname.includes("/auth/")) window.replaced++;
        return original(req, init);
      };
      try {
        return { call: await fdMe(old), refreshesThroughReplacement: window.replaced };
      } finally {
        window.fetch = original;
      }
    }, old);
    return { call: out.call, refreshSent: srv.count(REFRESH), refreshesThroughReplacement: out.refreshesThroughReplacement };
  },
);

row(
  "a caller aborts while the shared refresh is held",
  { aborted: "err:AbortError", other: "ok:new", refreshSent: 1, session: "new" },
  async ({ page }) => {
    const { old, refresh } = await whileRefreshHeld(page, () => {
      const ac = new AbortController();
      window.abortIt = () => ac.abort();
      window.aborted = tryA(() => lib.fd("/me", { signal: ac.signal }));
      window.other = tryA(() => lib.fd("/me"));
    });
    const aborted = await settle(page, async (old) => (abortIt(), callView(await window.aborted, old)), old);
    await refresh.release();
    const other = await settle(page, async (old) => callView(await window.other, old), old);
    return { aborted, other, refreshSent: srv.count(REFRESH), session: await page.evaluate((old) => sessionView(old), old) };
  },
);

// --- the API ----------------------------------------------------------------------------------

/** `handler` answers /me; then `dueCall` with a session an hour from expiry (no refresh due). */
async function meFault(page, handler, options = {}) {
  srv.on(ME, handler);
  return dueCall(page, { leftMs: 3_600_000, ...options });
}

row(
  "/me answers 401",
  { call: "err:session_expired", session: "none", saved: "none", expired: 1 },
  async ({ page }) => meFault(page, ({ json }) => json(401, { message: "token revoked" })),
);

row("/me answers 500", { call: "err:http/500", session: "kept", expired: 0 }, async ({ page }) => {
  srv.on(ME, ({ json }) => json(500, { message: "boom" }));
  const old = await signedIn(page, { leftMs: 3_600_000 });
  return page.evaluate(async (old) => {
    const r = await tryA(() => lib.fd("/me"));
    return { call: callView(r, old) + (r.ok ? "" : "/" + r.error.status), session: sessionView(old), expired: window.expired };
  }, old);
});

row(
  "/me: the server closes the connection",
  { call: "err:network", session: "kept", expired: 0 },
  async ({ page }) => {
    const r = await meFault(page, ({ req }) => req.socket.destroy());
    return { call: r.call, session: r.session, expired: r.expired };
  },
);

row(
  "/me answers 200 application/json that does not parse",
  { call: "err:bad_response", session: "kept" },
  async ({ page }) => {
    const r = await meFault(page, ({ res }) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"auth": ');
    });
    return { call: r.call, session: r.session };
  },
);

row(
  "/me answers 401 and onSessionExpired throws",
  { call: "err:session_expired", session: "none", saved: "none", expired: 1 },
  async ({ page }) => {
    const onSessionExpired = () => {
      window.expired++;
      throw new Error("the app's handler says no");
    };
    const revoked = ({ json }) => json(401, { message: "token revoked" });
    return meFault(page, revoked, { inPage: `() => ({ onSessionExpired: ${onSessionExpired} })` });
  },
);

row(
  "injected fetch resolves /me with a Response whose status getter throws",
  { call: "err:bad_response", session: "kept", later: "ok:old" },
  async ({ page }) => {
    const hostileFetch = (req, init) => {
      if (!window.hostile) return fetch(req, init);
      const r = new Response("{}", { headers: { "content-type": "application/json" } });
      return Object.defineProperty(r, "status", { get() { throw new Error("status says no"); } });
    };
    await page.evaluate(() => (window.hostile = true));
    const old = await signedIn(page, { leftMs: 3_600_000, inPage: `() => ({ fetch: ${hostileFetch} })` });
    const out = await settle(
      page,
      async (old) => {
        const call = await fdMe(old);
        window.hostile = false;
        return { call, session: sessionView(old), later: await fdMe(old) };
      },
      old,
    );
    return pending(out) ? { call: out } : out;
  },
);

row(
  "fd init whose method getter throws",
  { call: "err:bad_request", meSent: 0, later: "ok:old" },
  async ({ page }) => {
    const old = await signedIn(page, { leftMs: 3_600_000 });
    const call = await settle(
      page,
      async (old) => {
        const init = { get method() { throw new Error("method says no"); } };
        return callView(await tryA(() => lib.fd("/me", init)), old);
      },
      old,
    );
    if (pending(call)) return { call };
    const meSent = srv.count(ME);
    const later = await settle(page, (old) => fdMe(old), old);
    return { call, meSent, later };
  },
);

row(
  "a 401 from the API while a refresh is in flight",
  { first: "err:session_expired", waiting: "err:not_signed_in", session: "none", saved: "none", expired: 1, meSent: 0 },
  async ({ page }) => {
    const slow = srv.hold("GET /api/slow");
    const refresh = srv.hold(REFRESH);
    // Fresh for 400 s (threshold 300 s): the first call goes out without a refresh.
    const old = await signedIn(page, { leftMs: 400_000 });
    await page.evaluate(() => {
      window.first = tryA(() => lib.fd("/slow"));
    });
    assert.ok(await slow.seen(), "the first call reached the server");
    // 120 s later (page clock) the token is under the threshold: the next call refreshes.
    await advanceClock(page, 120_000);
    await page.evaluate(() => {
      window.waiting = tryA(() => lib.fd("/me"));
    });
    assert.ok(await refresh.seen(), "the refresh reached the server");
    await slow.release(({ json }) => json(401, { message: "token revoked" }));
    const first = await settle(page, async (old) => callView(await window.first, old), old);
    await refresh.release();
    const waiting = await settle(page, async (old) => callView(await window.waiting, old), old);
    const state = await page.evaluate((old) => ({ session: sessionView(old), saved: savedView(old), expired: window.expired }), old);
    return { first, waiting, ...state, meSent: srv.count(ME) };
  },
  { clock: true },
);

// --- storage ----------------------------------------------------------------------------------

row(
  "storage full: setItem throws QuotaExceededError",
  { signIn: "signed_in", call: "ok:old", refreshed: "ok:new", saved: "none" },
  async ({ page }) =>
    page.evaluate(async ([due, rt]) => {
      const setItem = Storage.prototype.setItem;
      Storage.prototype.setItem = () => {
        throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
      };
      try {
        await cfg();
        const s = await signInAs("alice");
        const old = lib.getSession()?.accessToken;
        const call = await fdMe(old);
        // Under the threshold: the refresh's token is kept in memory.
        put(due, rt, 60_000);
        const refreshed = await fdMe(due);
        return { signIn: outcome(s), call, refreshed, saved: savedView(old) };
      } finally {
        Storage.prototype.setItem = setItem;
      }
    }, [tokens.jwt("alice"), tokens.refresh()]),
);

row(
  "storage blocked: the localStorage getter throws",
  { configure: "ok", signIn: "signed_in", call: "ok:old", session: "kept" },
  async ({ page }) =>
    page.evaluate(async () => {
      const own = Object.getOwnPropertyDescriptor(window, "localStorage");
      Object.defineProperty(window, "localStorage", {
        configurable: true,
        get() {
          throw new DOMException("access denied", "SecurityError");
        },
      });
      try {
        const c = await cfg();
        const s = await signInAs("alice");
        const old = lib.getSession()?.accessToken;
        return { configure: outcome(c), signIn: outcome(s), call: await fdMe(old), session: sessionView(old) };
      } finally {
        delete window.localStorage;
        if (own) Object.defineProperty(window, "localStorage", own);
      }
    }),
);

// --- the clock --------------------------------------------------------------------------------

/** Signs alice in, moves the page clock by `ms`, calls /me. */
async function clockJump(page, ms) {
  const old = await page.evaluate(async () => {
    await cfg();
    await signInAs("alice");
    return lib.getSession()?.accessToken;
  });
  await advanceClock(page, ms);
  const out = await settle(page, async (old) => ({ call: await fdMe(old), session: sessionView(old), expired: window.expired }), old);
  return pending(out) ? { call: out } : { ...out, refreshSent: srv.count(REFRESH) };
}

row(
  "the clock jumps one hour forward (token expired in the page's view)",
  { call: "ok:new", session: "new", expired: 0, refreshSent: 1 },
  async ({ page }) => clockJump(page, 3_600_000 + 60_000),
  { clock: true },
);

row(
  "the clock jumps ten minutes back",
  { call: "ok:old", session: "kept", expired: 0, refreshSent: 0 },
  async ({ page }) => clockJump(page, -600_000),
  { clock: true },
);

// --- races with sign-out and sign-in ------------------------------------------------------------

row(
  "a refresh that lands after signOut()",
  { call: "err:not_signed_in", session: "none", saved: "none", later: "none", meSent: 0, expired: 0 },
  async ({ page }) => {
    const { old, refresh } = await whileRefreshHeld(page, () => {
      window.call = tryA(() => lib.fd("/me"));
    });
    await page.evaluate(() => lib.signOut());
    await refresh.release();
    const call = await settle(page, async (old) => callView(await window.call, old), old);
    const state = await page.evaluate((old) => ({ session: sessionView(old), saved: savedView(old) }), old);
    await sleep(500); // nothing may bring it back later
    const later = await page.evaluate((old) => sessionView(old), old);
    return { call, ...state, later, meSent: srv.count(ME), expired: await page.evaluate(() => window.expired) };
  },
);

row(
  "a refresh that lands after another user signed in",
  { call: "ok", signIn: "signed_in", session: "bob", saved: "bob", later: "bob", expired: 0 },
  async ({ page }) => {
    const { refresh } = await whileRefreshHeld(page, () => {
      window.call = tryA(() => lib.fd("/me"));
    });
    await page.evaluate(() => {
      window.bob = signInAs("bob", "p-bob");
    });
    await sleep(200);
    await refresh.release();
    const out = await settle(page, async () => {
      const [c, b] = await Promise.all([window.call, window.bob]);
      return { call: outcome(c), signIn: outcome(b) };
    });
    if (pending(out)) return { call: out };
    const who = () => page.evaluate(() => [lib.getSession()?.accessToken ?? null, JSON.parse(localStorage.getItem(KEY) ?? "null")?.accessToken ?? null]);
    const [session, saved] = await who();
    await sleep(500);
    const [later] = await who();
    const sub = (t) => (t === null ? "none" : subOf(t));
    return { ...out, session: sub(session), saved: sub(saved), later: sub(later), expired: await page.evaluate(() => window.expired) };
  },
);

// --- sign-in and MFA ----------------------------------------------------------------------------

row("sign-in: /auth answers 200 with an HTML page", { signIn: "err:bad_response", session: "none" }, async ({ page }) => {
  srv.on(AUTH, ({ res }) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><h1>maintenance</h1>");
  });
  return page.evaluate(async () => {
    await cfg();
    return { signIn: outcome(await signInAs("alice")), session: sessionView(null) };
  });
});

row("sign-in: /auth answers 500", { signIn: "err:sign_in_failed/500", session: "none" }, async ({ page }) => {
  srv.on(AUTH, ({ json }) => json(500, { message: "down" }));
  return page.evaluate(async () => {
    await cfg();
    return { signIn: outcome(await signInAs("alice"), true), session: sessionView(null) };
  });
});

row("MFA: the code is refused (401)", { completeMfa: "err:mfa_failed/401", session: "none" }, async ({ page }) =>
  page.evaluate(async () => {
    await cfg();
    await signInAs("mfa");
    return { completeMfa: outcome(await tryA(() => lib.completeMfa({ code: "000000" })), true), session: sessionView(null) };
  }),
);

row(
  "report 1: /auth answers 307 to another origin (no re-POST)",
  { signIn: "err:network", session: "none", otherOriginHits: 0 },
  async ({ page }) => {
    redirectToOther(AUTH);
    const out = await page.evaluate(async () => {
      await cfg();
      const r = await tryA(() => lib.signIn({ username: "alice", password: "wonderland" }, { partnerId: "p-1" }));
      return { signIn: outcome(r), session: sessionView(null) };
    });
    return { ...out, otherOriginHits: await otherOriginHits() };
  },
);

row(
  "report 1: the MFA PUT answers 307 to another origin",
  { completeMfa: "err:network", otherOriginHits: 0 },
  async ({ page }) => {
    redirectToOther(MFA);
    const out = await page.evaluate(async () => {
      await cfg();
      await signInAs("mfa");
      return { completeMfa: outcome(await tryA(() => lib.completeMfa({ code: "123456" }))) };
    });
    return { ...out, otherOriginHits: await otherOriginHits() };
  },
);

row(
  "report 2: Object.prototype.authUrl and .fetch polluted before configure({ baseUrl })",
  { configure: "ok", signIn: "signed_in", authSent: 1, refreshSent: 1, pollutedFetchCalls: 0, otherOriginHits: 0 },
  async ({ page }) => {
    const old = tokens.jwt("alice");
    const out = await page.evaluate(
      async ([otherApi, old, rt]) => {
        window.pollutedCalls = 0;
        Object.prototype.authUrl = otherApi;
        Object.prototype.fetch = (req, init) => {
          window.pollutedCalls++;
          return fetch(req, init);
        };
        try {
          const c = await cfg();
          const s = await signInAs("alice");
          put(old, rt, 60_000);
          await tryA(() => lib.fd("/me"));
          return { configure: outcome(c), signIn: outcome(s) };
        } finally {
          delete Object.prototype.authUrl;
          delete Object.prototype.fetch;
        }
      },
      [`${other.origin}/api`, old, tokens.refresh()],
    );
    await sleep(200);
    return {
      ...out,
      authSent: srv.count(AUTH),
      refreshSent: srv.count(REFRESH),
      pollutedFetchCalls: await page.evaluate(() => window.pollutedCalls),
      otherOriginHits: other.hits(),
    };
  },
);

row(
  "report 3: completeMfa body with a throwing getter, then 5,000 more",
  { first: "err:bad_config", all: "5000×bad_config", mfaSent: 0 },
  async ({ page }) => {
    await page.evaluate(async () => {
      await cfg();
      await signInAs("mfa");
      window.badBody = () => ({
        get code() {
          throw new Error("getter says no");
        },
      });
    });
    const first = await settle(page, async () => {
      const r = await tryA(() => lib.completeMfa(badBody()));
      return r.ok ? "ok" : "err:" + r.error.code;
    }, undefined, 4000);
    if (pending(first)) return { first, all: "(not run: the first never settled)", mfaSent: srv.count(MFA) };
    const all = await settle(
      page,
      async () => {
        const codes = [];
        let kept = 0;
        for (let batch = 0; batch < 10; batch++) {
          const rs = await Promise.all(
            Array.from({ length: 500 }, async () => {
              try {
                await lib.completeMfa(badBody());
                return "ok";
              } catch (e) {
                if (kept++ < 20) tryA(() => Promise.reject(e)); // a sample for the token check
                return e instanceof lib.FdError ? e.code : "not an FdError: " + e;
              }
            }),
          );
          codes.push(...rs);
        }
        return tally(codes);
      },
      undefined,
      30_000,
    );
    return { first, all, mfaSent: srv.count(MFA) };
  },
);

row(
  "signIn credentials whose toJSON throws",
  { signIn: "err:bad_config", authSent: 0 },
  async ({ page }) => {
    const out = await page.evaluate(async () => {
      await cfg();
      const creds = {
        username: "alice",
        password: "x",
        toJSON() {
          throw new Error("toJSON says no");
        },
      };
      return { signIn: outcome(await tryA(() => lib.signIn(creds, { partnerId: "p-1" }))) };
    });
    return { ...out, authSent: srv.count(AUTH) };
  },
);

row(
  "an onSessionChange listener that throws",
  { signIn: "signed_in", otherListener: "called", call: "ok:old" },
  async ({ page }) =>
    page.evaluate(async () => {
      await cfg();
      let called = 0;
      lib.onSessionChange(() => {
        throw new Error("listener says no");
      });
      lib.onSessionChange(() => called++);
      const s = await signInAs("alice");
      const old = lib.getSession()?.accessToken;
      return { signIn: outcome(s), otherListener: called > 0 ? "called" : "not called", call: await fdMe(old) };
    }),
);

function dropsRefreshToken(what) {
  row(
    `report 4: configure() again, same storageKey, different ${what}`,
    { dueCall: "ok:old", refreshSent: 0, otherOriginHits: 0, newFetchRefreshes: 0, afterExpiry: "err:session_expired", expired: 1 },
    async ({ page }) => {
      const old = await signedIn(page, { inPage: () => ({ fetch: (req, init) => fetch(req, init) }) });
      await page.evaluate(
        async ([what, otherApi]) => {
          window.newFetchRefreshes = 0;
          const counting = (req, init) => {
            if (isRefresh(req)) window.newFetchRefreshes++;
            return fetch(req, init);
          };
          await cfg(what === "fetch" ? { fetch: counting } : { fetch: counting, authUrl: otherApi });
        },
        [what, `${other.origin}/api`],
      );
      // Due (a minute left) but valid: with the refresh token dropped, the call goes with it.
      const dueCall = await settle(page, (old) => fdMe(old), old);
      await advanceClock(page, 120_000);
      const afterExpiry = await settle(page, (old) => fdMe(old), old);
      await sleep(200);
      return {
        dueCall,
        refreshSent: srv.count(REFRESH),
        otherOriginHits: other.hits(),
        newFetchRefreshes: await page.evaluate(() => window.newFetchRefreshes),
        afterExpiry,
        expired: await page.evaluate(() => window.expired),
      };
    },
    { clock: true },
  );
}
dropsRefreshToken("fetch");
dropsRefreshToken("authUrl (another origin)");

row(
  "report 5: a module of the package (its loaders included) hands back the live instance",
  { liveMemoryReachable: "none" },
  async ({ page }) => {
    const rt = tokens.refresh();
    const old = await signedIn(page, { leftMs: 3_600_000, rt });
    return page.evaluate(
      async ([old, rt, modules]) => {
        await tryA(() => lib.fd("/me"));
        const enc = new TextEncoder();
        const holds = (memory) => {
          const hay = new Uint8Array(memory.buffer);
          return [old, rt].some((t) => {
            const needle = enc.encode(t);
            for (let i = hay.indexOf(needle[0]); i !== -1; i = hay.indexOf(needle[0], i + 1)) {
              let j = 1;
              while (j < needle.length && hay[i + j] === needle[j]) j++;
              if (j === needle.length) return true;
            }
            return false;
          });
        };
        const found = [];
        const inspect = (label, v) => {
          if (v instanceof WebAssembly.Memory) found.push(label + (holds(v) ? " (holds the tokens)" : ""));
          if (v && (typeof v === "object" || typeof v === "function")) {
            for (const k of Object.getOwnPropertyNames(v)) {
              let x;
              try {
                x = v[k];
              } catch {
                continue;
              }
              if (x instanceof WebAssembly.Memory) found.push(`${label}.${k}` + (holds(x) ? " (holds the tokens)" : ""));
              if (x instanceof WebAssembly.Instance) inspect(`${label}.${k}.exports`, x.exports);
            }
          }
        };
        // Every module the package ships (one bundle today; the glue was once a module of its own
        // whose default export and initSync handed back the instance), and what its loaders return.
        for (const file of modules) {
          const mod = await import(`/fd-fetch/${file}`);
          inspect(file, mod);
          for (const loader of ["default", "initSync"]) {
            if (typeof mod[loader] !== "function") continue;
            let v;
            try {
              v = await mod[loader]();
            } catch (e) {
              v = e;
            }
            inspect(`${file} ${loader}()`, v);
          }
        }
        return { liveMemoryReachable: found.length ? found.join(", ") : "none" };
      },
      [old, rt, SHIPPED.filter((f) => f.endsWith(".js"))],
    );
  },
);

row(
  'report 6: <base href="<other>/"> and a 401 without onSessionExpired',
  { call: "err:session_expired", navigatedTo: "<page>/login", otherOriginHits: 0 },
  async ({ page }) => {
    const old = tokens.jwt("alice");
    await page.evaluate(
      async ([otherOrigin, old, rt]) => {
        const base = document.createElement("base");
        base.href = otherOrigin + "/";
        document.head.prepend(base);
        await tryA(() => lib.configure({ baseUrl: location.origin + "/api", storageKey: KEY }));
        put(old, rt, 3_600_000);
        window.call = tryA(() => lib.fd("/revoked")).then((r) => (window.callResult = callView(r, old)));
      },
      [other.origin, old, tokens.refresh()],
    );
    let call = "(page navigated before the call settled)";
    try {
      await page.waitForURL((u) => u.pathname !== "/", { timeout: 5000 });
    } catch {
      call = await page.evaluate(() => window.callResult ?? "still pending");
      return { call, navigatedTo: `(stayed at ${page.url()})`, otherOriginHits: other.hits() };
    }
    const to = page.url().replace(srv.origin, "<page>").replace(other.origin, "<other>");
    // The rejection happens before the page unloads; what it was is on the request log: one /revoked.
    call = srv.count("GET /api/revoked") === 1 ? "err:session_expired" : `(${srv.count("GET /api/revoked")} sent)`;
    return { call, navigatedTo: to, otherOriginHits: other.hits() };
  },
);

row(
  'report 7: partner id above U+00FF ("Ā") and outside ASCII ("ü")',
  { setSessionĀ: "err:bad_config", callAfter: "err:not_signed_in", signInü: "err:bad_config", authSent: 0, fdLater: "ok:old" },
  async ({ page }) => {
    const old = tokens.jwt("alice");
    const out = await page.evaluate(
      async ([old, rt]) => {
        await cfg();
        const a = trySync(() => lib.setSession({ accessToken: old, refreshToken: rt, expiresAt: Date.now() + 3_600_000, partnerId: "Ā" }));
        const callAfter = await fdMe(old);
        const b = await signInAs("alice", "ü");
        put(old, rt, 3_600_000, "p-ok");
        return { setSessionĀ: outcome(a), callAfter, signInü: outcome(b), fdLater: await fdMe(old) };
      },
      [old, tokens.refresh()],
    );
    return { ...out, authSent: srv.count(AUTH) };
  },
);

row('report 9: fd(path, { mode: "no-cors" })', { call: "err:bad_request", meSent: 0 }, async ({ page }) => {
  const old = await signedIn(page, { leftMs: 3_600_000 });
  const call = await page.evaluate(async (old) => callView(await tryA(() => lib.fd("/me", { mode: "no-cors" })), old), old);
  return { call, meSent: srv.count(ME) };
});

row(
  "report 10: a path of 8 KiB + 1, and one of exactly 8 KiB",
  { over: "err:bad_path", atLimit: "ok:old", meSent: 1 },
  async ({ page }) => {
    const old = await signedIn(page, { leftMs: 3_600_000 });
    const out = await settle(
      page,
      async (old) => {
        const pad = (n) => "/me?pad=" + "a".repeat(n - 8);
        const over = callView(await tryA(() => lib.fd(pad(8193))), old);
        const atLimit = callView(await tryA(() => lib.fd(pad(8192))), old);
        return { over, atLimit };
      },
      old,
    );
    return pending(out) ? { over: out } : { ...out, meSent: srv.count(ME) };
  },
);

row("report 10: a path of 100 MB", { call: "err:bad_path", meSent: 0 }, async ({ page }) => {
  const old = await signedIn(page, { leftMs: 3_600_000 });
  const call = await settle(page, async (old) => callView(await tryA(() => lib.fd("/me?pad=" + "a".repeat(100 * 1024 * 1024))), old), old, 6000);
  return { call, meSent: srv.count(ME) };
});

row(
  "report 11: page with Content-Security-Policy: script-src 'self'",
  { configure: "err:unsupported", namesWasmUnsafeEval: "yes", fdAfter: "err:not_configured" },
  async ({ page }) => {
    await page.goto(`${srv.origin}/csp.html`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
    const c = await settle(page, () => window.cspConfigure, undefined, 10_000);
    if (pending(c)) return { configure: c };
    const a = await settle(page, () => window.cspAfter(), undefined, 10_000);
    return {
      configure: c.ok ? "ok" : `err:${c.code ?? c.name}`,
      namesWasmUnsafeEval: !c.ok && c.message.includes("'wasm-unsafe-eval'") ? "yes" : "no",
      fdAfter: pending(a) ? a : a.ok ? "ok" : `err:${a.code ?? a.name}`,
    };
  },
  { page: "csp", health: false },
);

row(
  "cookie mode: the refresh answers 401 (session ends, cookie too)",
  { call: "err:session_expired", session: "none", expired: 1, logoutSent: "yes" },
  async ({ page }) => {
    srv.on(REFRESH, ({ json }) => json(401, { error: "refresh_rejected" }));
    const old = tokens.jwt("alice");
    const out = await page.evaluate(
      async (old) => {
        await cfg({ refreshTokenIn: "cookie" });
        put(old, undefined, 60_000);
        const r = await tryA(() => lib.fd("/me"));
        return { call: callView(r, old), session: sessionView(old), expired: window.expired };
      },
      old,
    );
    return { ...out, logoutSent: await logoutSent() };
  },
);

row(
  "cookie mode: /auth/logout closes the connection",
  { signOut: "returned", session: "none", logoutSent: "yes", signInAgain: "signed_in" },
  async ({ page }) => {
    srv.on("POST /api/auth/logout", ({ req }) => req.socket.destroy());
    const out = await page.evaluate(async () => {
      await cfg({ refreshTokenIn: "cookie" });
      await signInAs("alice");
      const so = trySync(() => lib.signOut());
      return { signOut: so.ok ? "returned" : "err:" + so.error.code, session: sessionView(null) };
    });
    const sent = await logoutSent();
    const again = await page.evaluate(async () => outcome(await signInAs("alice")));
    return { ...out, logoutSent: sent, signInAgain: again };
  },
);

// ---------------------------------------------------------------------------------------------
// Health and token checks

/** Every export, against the healthy routes, in the page as the fault left it. */
async function health(page, key) {
  if (new URL(page.url()).pathname !== "/") {
    await page.goto(`${srv.origin}/?key=${key}`); // a row that navigated (report 6)
    await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
  }
  const [access, refresh] = [tokens.jwt("health"), tokens.refresh()];
  const r = await settle(
    page,
    async ([access, refresh]) => {
      const fails = [];
      const must = (cond, what) => cond || fails.push(what);
      const c = await tryA(() =>
        lib.configure({ baseUrl: location.origin + "/api", storageKey: KEY + ".health", onSessionExpired: onExpired }),
      );
      must(c.ok, "configure");
      const s = trySync(() => lib.setSession({ accessToken: access, refreshToken: refresh, expiresAt: Date.now() + 3_600_000, partnerId: "health" }));
      must(s.ok, "setSession");
      const me = await tryA(() => lib.fd("/me"));
      must(me.ok && me.value.auth === "Bearer " + access && me.value.partner === "health", "fd:" + callView(me, access));
      const raw = await tryA(() => lib.fdResponse("/me"));
      must(raw.ok && raw.value instanceof Response && raw.value.status === 200, "fdResponse");
      const ef = await tryA(() => lib.ensureFresh());
      must(ef.ok && ef.value.accessToken === access && ef.value.partnerId === "health", "ensureFresh");
      const gs = trySync(() => lib.getSession());
      must(gs.ok && gs.value?.accessToken === access, "getSession");
      let changes = 0;
      const sub = trySync(() => lib.onSessionChange(() => changes++));
      must(sub.ok && typeof sub.value === "function", "onSessionChange");
      const so = trySync(() => lib.signOut());
      must(so.ok && lib.getSession() === null && changes >= 1, "signOut");
      if (sub.ok) sub.value();
      const ns = await tryA(() => lib.fd("/me"));
      must(!ns.ok && ns.error.code === "not_signed_in", "fd signed out:" + callView(ns, access));
      const si = await tryA(() => lib.signIn({ username: "alice", password: "x" }, { partnerId: "health" }));
      must(si.ok && si.value.status === "signed_in", "signIn");
      const me2 = await tryA(() => lib.fd("/me"));
      must(me2.ok && me2.value.partner === "health", "fd after signIn");
      const mf = await tryA(() => lib.completeMfa({ code: "1" }));
      must(!mf.ok && mf.error.code === "mfa_failed", "completeMfa");
      trySync(() => lib.signOut());
      return fails.length ? "fail:" + fails.join(",") : "ok";
    },
    [access, refresh],
  );
  const panics = page.logs.filter((l) => PANIC.test(l));
  return panics.length ? `fail:panic (${panics[0].slice(0, 120)})` : r;
}

/** Errors that show a token (message, JSON, String) and errors that are not FdErrors. */
async function tokenCheck(page) {
  const list = [...tokens.all];
  const inPage = await page
    .evaluate((list) => {
      let hits = 0;
      const notFd = [];
      for (const e of window.errs ?? []) {
        if (list.some((t) => e.message.includes(t) || e.json.includes(t) || e.str.includes(t))) hits++;
        if (!e.fd) notFd.push(e.what);
      }
      return { hits, notFd };
    }, list)
    .catch((e) => ({ hits: 0, notFd: [`(check failed: ${e.message.split("\n")[0]})`] }));
  const inLogs = page.logs.filter((l) => list.some((t) => l.includes(t))).length;
  return { tokensInErrors: inPage.hits + inLogs, notFdError: inPage.notFd.length, notFd: inPage.notFd };
}

/**
 * Rows run one after the other in one page of one context (a fresh document and storage key each:
 * a new context per row costs about a second here), except those that need their own: a fake clock,
 * the CSP page. A row that left something running (a call still pending) gets its page closed.
 */
let shared;

async function runRow(r, i) {
  const started = Date.now();
  srv.reset();
  other.reset();
  tokens.clear();
  const own = Boolean(r.clock) || r.page === "csp";
  if (!own && !shared) shared = await newPage(browser);
  const { context, page } = own ? await newPage(browser, { clock: Boolean(r.clock) }) : shared;
  page.logs.length = 0;
  const key = `fd.faults.${i}`;
  let observed;
  try {
    if (r.page !== "csp") {
      await page.goto(`${srv.origin}/?key=${key}`);
      await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
      await page.evaluate(() => localStorage.clear());
    }
    observed = await r.run({ page, context });
  } catch (e) {
    observed = { crash: String(e.message ?? e).split("\n")[0].slice(0, 200) };
  }
  srv.reset(); // hung requests end, routes heal
  const healthy = r.health === false ? "n/a" : await health(page, key).catch((e) => `fail:${e.message.split("\n")[0]}`);
  const check = await tokenCheck(page);
  const expected = { ...r.expected, ...INVARIANTS, ...(r.health === false ? { health: "n/a" } : {}) };
  const seen = { ...observed, health: healthy, tokensInErrors: check.tokensInErrors, notFdError: check.notFdError };
  const ok = Object.keys(expected).every((k) => String(seen[k]) === String(expected[k])) && !("crash" in seen);
  const extra = check.notFd.length ? ` notFd=[${[...new Set(check.notFd)].join(",")}]` : "";
  const log = ok ? "" : page.logs.slice(-8).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l)).join("\n    ");
  if (own || Object.values(seen).some(pending)) {
    await context.close();
    if (!own) shared = undefined;
  }
  return { fault: r.fault, expected: fmt(expected), observed: fmt(seen) + extra, ok, log, ms: Date.now() - started };
}

test("the matrix's own checks can fail: a planted token, a plain Error, a failing export", async () => {
  const { context, page } = await newPage(browser);
  try {
    tokens.clear();
    const planted = tokens.jwt("alice");
    await page.goto(`${srv.origin}/?key=fd.faults.selfcheck`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
    await page.evaluate((t) => tryA(() => Promise.reject(new Error(`token ${t}`))), planted);
    assert.deepEqual(await tokenCheck(page), { tokensInErrors: 1, notFdError: 1, notFd: ["Error:undefined"] });
    // A health check on a page whose `fd` is broken fails (the checks see the page's `window.lib`).
    await page.evaluate(() => {
      window.lib = { ...lib, fd: () => Promise.reject(new Error("broken")) };
    });
    assert.match(await health(page, "fd.faults.selfcheck"), /^fail:fd:/);
  } finally {
    await context.close();
  }
});

test(`fault matrix: ${rows.length} faults in Chromium, each with its expected outcome`, { timeout: 300_000 }, async () => {
  assert.ok(rows.length >= 25, `at least 25 faults (${rows.length})`);
  const results = [];
  for (const [i, r] of rows.entries()) results.push(await runRow(r, i));
  await shared?.context.close();
  printTable(results);
  if (process.env.FAULTS_TIMING) for (const r of results) console.log(`${String(r.ms).padStart(6)} ms  ${r.fault}`);
  const bad = results.filter((r) => !r.ok);
  assert.equal(
    bad.length,
    0,
    `${bad.length} of ${results.length} faults did not go as the contract says:\n` +
      bad.map((r) => `- ${r.fault}\n    expected ${r.expected}\n    observed ${r.observed}${r.log ? `\n    page log:\n    ${r.log}` : ""}`).join("\n"),
  );
});
