// createClient: two independent clients side by side, in one Node process and in one Chromium
// page, each with its own session on its own API (two fd-proxy mocks, each behind a recording
// front server): alice for partner acme-eu on A, bob (with MFA) for builders-uk on B. Headers never
// cross, one client's sign-out or 401 leaves the other signed in, each client's listeners hear only
// their own, a storageKey is one open client's, and close() stops a client's timers.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { inNode, inPage, startRecorder } from "./harness.mjs";
import { PAGE_HELPERS, PKG, launchBrowser, startFdProxy } from "./lib.mjs";

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>fd-fetch instances</title>
<script type="module">
  import * as lib from "/pkg/index.js";
  ${PAGE_HELPERS}
  window.scenarioEnv = { lib };
  window.ready = true;
</script></head><body><h1>two clients</h1></body></html>`;
const LOGIN = `<!doctype html><html><head><meta charset="utf-8"><title>login</title></head><body>login</body></html>`;

let mockA;
let mockB;
let recA; // the page's origin, and API A
let recB; // API B, another origin
let browser;
let lib;

before(async () => {
  [mockA, mockB] = await Promise.all([
    startFdProxy(["--mock-api", "--no-proxy"]),
    startFdProxy(["--mock-api", "--no-proxy"]),
  ]);
  recA = await startRecorder({
    upstream: mockA.origin,
    statics: { "/pkg/": PKG },
    pages: { "/instances.html": PAGE, "/login": LOGIN },
  });
  recB = await startRecorder({ upstream: mockB.origin });
  lib = await import(pathToFileURL(join(PKG, "index.js")).href);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await recA?.close();
  await recB?.close();
  await mockA?.stop();
  await mockB?.stop();
});

let keys = 0;
function args() {
  keys += 1;
  return { keyA: `inst-a-${keys}`, keyB: `inst-b-${keys}`, apiA: recA.api, apiB: recB.api };
}
const RUNTIMES = {
  node: (scenario) => inNode(scenario, { lib }, args()),
  chromium: (scenario) => inPage(browser, `${recA.origin}/instances.html`, scenario, args()),
};

// ---------------------------------------------------------------------------------------------
// Scenarios (see harness.mjs), given { lib, describe, sleep, keyA, keyB, apiA, apiB }.

async function sideBySide({ lib, describe, sleep, keyA, keyB, apiA, apiB }) {
  const heard = { changesA: [], changesB: [], refreshA: [], refreshB: [], expiredA: 0, expiredB: 0 };
  const tokensA = new Set();
  const tokensB = new Set();
  const steps = {};
  const note = (client, set) => {
    const s = client.getSession();
    if (s) set.add(s.accessToken);
    return s && { partnerId: s.partnerId };
  };
  const call = (client, path, init) =>
    client.fd(path, init).then(
      (v) => ({ ok: v }),
      (e) => ({ error: describe(e) }),
    );
  const storage = () =>
    typeof localStorage === "undefined" ? null : { a: localStorage.getItem(keyA), b: localStorage.getItem(keyB) };

  // A refreshes on its next call a second after each sign-in or refresh (tokens live an hour); B
  // keeps the default threshold and never does here.
  const a = await lib.createClient({
    baseUrl: apiA,
    storageKey: keyA,
    refreshThresholdMs: 3_599_000,
    onSessionExpired: () => (heard.expiredA += 1),
  });
  const b = await lib.createClient({ baseUrl: apiB, storageKey: keyB, onSessionExpired: () => (heard.expiredB += 1) });
  a.onSessionChange((s) => heard.changesA.push(s && s.partnerId));
  b.onSessionChange((s) => heard.changesB.push(s && s.partnerId));
  a.onRefresh((e) => heard.refreshA.push(e.outcome));
  b.onRefresh((e) => heard.refreshB.push(e.outcome));

  steps.signInA = (await a.signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-eu" })).status;
  steps.signInB = (await b.signIn({ username: "bob", password: "builder" }, { partnerId: "builders-uk" })).status;
  steps.signedInAWhileBChallenged = note(a, tokensA);
  steps.mfaB = (await b.completeMfa({ code: "123456" })).status;
  note(a, tokensA);
  note(b, tokensB);
  steps.storageAfterSignIn = storage();

  // Interleaved calls of both.
  steps.interleaved = await Promise.all([call(a, "/me"), call(b, "/me"), call(a, "/orders"), call(b, "/orders")]);

  // A crosses its threshold and refreshes; B does not.
  while (a.getSession().expiresAt - Date.now() >= 3_599_000 - 100) await sleep(100);
  steps.afterThreshold = await Promise.all([call(a, "/me"), call(b, "/me")]);
  note(a, tokensA);
  note(b, tokensB);

  // B signs out: A stays signed in and keeps working.
  b.signOut();
  steps.afterSignOutB = {
    a: note(a, tokensA),
    b: b.getSession(),
    aCall: await call(a, "/me"),
    bCall: await call(b, "/me"),
  };
  steps.storageAfterSignOutB = storage();

  // B signs in again; then A's session is revoked at its API and its next call sees a 401.
  await b.signIn({ username: "bob", password: "builder" }, { partnerId: "builders-uk" });
  await b.completeMfa({ code: "123456" });
  note(b, tokensB);
  steps.revokeA = await call(a, "/session/revoke", { method: "POST" });
  steps.after401A = {
    aCall: await call(a, "/me"),
    a: a.getSession(),
    b: note(b, tokensB),
    bCall: await call(b, "/me"),
  };
  steps.storageAfter401A = storage();

  a.close();
  b.close();
  return { steps, heard, tokensA: [...tokensA], tokensB: [...tokensB] };
}

async function storageKeys({ lib, describe, keyA, apiA, apiB }) {
  const attempt = (f) =>
    f().then(
      (v) => ({ ok: true, closeable: typeof v?.close === "function", client: v }),
      (e) => ({ ok: false, error: describe(e) }),
    );
  const first = await attempt(() => lib.createClient({ baseUrl: apiA, storageKey: keyA }));
  const same = await attempt(() => lib.createClient({ baseUrl: apiB, storageKey: keyA }));
  // The default client may not move onto it either.
  const defaultOnIt = await lib.configure({ baseUrl: apiB, storageKey: keyA }).then(
    () => ({ ok: true }),
    (e) => ({ ok: false, error: describe(e) }),
  );
  first.client?.close();
  const afterClose = await attempt(() => lib.createClient({ baseUrl: apiB, storageKey: keyA }));
  afterClose.client?.close();
  const strip = ({ client, ...rest }) => rest;
  return { first: strip(first), same: strip(same), defaultOnIt, afterClose: strip(afterClose) };
}

async function closeStopsTimers({ lib, describe, sleep, keyA, keyB, apiA, apiB }) {
  // The mock's tokens live an hour; with this threshold a token is due 100 ms after it came, so
  // ticks refresh about every 100 ms. Each client counts its own onRefresh events; the test then
  // compares them with the refreshes each API saw.
  const heard = { a: 0, b: 0 };
  const a = await lib.createClient({ baseUrl: apiA, storageKey: keyA });
  const b = await lib.createClient({ baseUrl: apiB, storageKey: keyB });
  a.onRefresh(() => (heard.a += 1));
  b.onRefresh(() => (heard.b += 1));
  await a.signIn({ username: "alice", password: "wonderland" }, { partnerId: "acme-eu" });
  await b.signIn({ username: "bob", password: "builder" }, { partnerId: "builders-uk" });
  await b.completeMfa({ code: "123456" });
  const tick = { intervalMs: 40, thresholdMs: 3_599_900 };
  a.startAutoRefresh(tick);
  b.startAutoRefresh(tick);
  const waitFor = async (what) => {
    for (let i = 0; i < 300 && !what(); i++) await sleep(50);
    return what();
  };
  const bothRan = await waitFor(() => heard.a >= 2 && heard.b >= 2);
  a.close();
  const aAtClose = heard.a;
  const bAtClose = heard.b;
  // B keeps ticking: three more of its refreshes while A is closed.
  const bRanOn = await waitFor(() => heard.b >= bAtClose + 3);
  const aAfter = heard.a;
  const closedCall = await a.fd("/me").then(
    (v) => ({ ok: v }),
    (e) => ({ error: describe(e) }),
  );
  b.stopAutoRefresh();
  await sleep(300); // a tick in flight settles
  const bAtStop = heard.b;
  await sleep(400); // ten intervals
  const bAfterStop = heard.b;
  b.close();
  return { bothRan, aAtClose, aAfter, bAtClose, bRanOn, closedCall, bAtStop, bAfterStop };
}

// ---------------------------------------------------------------------------------------------

const authsOf = (rec) =>
  rec.withCredentials().map((q) => ({ path: q.path, auth: q.authorization, partner: q.partner, status: q.status }));

for (const [where, runIn] of Object.entries(RUNTIMES)) {
  test(`${where}: two clients, two sessions, two APIs: nothing crosses, one ending leaves the other`, async () => {
    recA.clear();
    recB.clear();
    const { steps, heard, tokensA, tokensB } = await runIn(sideBySide);
    assert.equal(steps.signInA, "signed_in");
    assert.equal(steps.signInB, "mfa_required");
    assert.deepEqual(steps.signedInAWhileBChallenged, { partnerId: "acme-eu" }, "B's challenge left A alone");
    assert.equal(steps.mfaB, "signed_in");

    const [meA, meB, ordersA, ordersB] = steps.interleaved;
    assert.deepEqual([meA.ok?.user, meA.ok?.partnerId], ["alice", "acme-eu"], JSON.stringify(meA));
    assert.deepEqual([meB.ok?.user, meB.ok?.partnerId], ["bob", "builders-uk"], JSON.stringify(meB));
    assert.equal(ordersA.ok?.partnerId, "acme-eu");
    assert.equal(ordersB.ok?.partnerId, "builders-uk");

    // Headers never cross: every request with a token at A carried one of A's tokens and A's
    // partner, likewise at B, and no token went to both.
    assert.ok(tokensA.length >= 2 && tokensB.length >= 2, "each client had its tokens");
    assert.deepEqual(
      tokensA.filter((t) => tokensB.includes(t)),
      [],
      "two distinct sessions",
    );
    for (const q of authsOf(recA)) {
      assert.ok(
        tokensA.some((t) => q.auth === `Bearer ${t}`),
        `A got only A's tokens: ${JSON.stringify(q)}`,
      );
      assert.equal(q.partner, "acme-eu");
    }
    for (const q of authsOf(recB)) {
      assert.ok(
        tokensB.some((t) => q.auth === `Bearer ${t}`),
        `B got only B's tokens: ${JSON.stringify(q)}`,
      );
      assert.equal(q.partner, "builders-uk");
    }

    // A refreshed, B did not, and each listener heard only its own client's refreshes. (A may
    // refresh again on a slow machine: its tokens are under its threshold a second after each.)
    assert.ok(
      steps.afterThreshold.every((r) => r.ok),
      JSON.stringify(steps.afterThreshold),
    );
    const refreshesA = recA.to("POST /api/auth/refresh_token");
    assert.ok(refreshesA.length >= 1, "A refreshed");
    assert.equal(heard.refreshA.length, refreshesA.length, "A's onRefresh heard each of A's refreshes");
    assert.ok(
      heard.refreshA.every((o) => o === "fresh") || heard.refreshA.at(-1) === "dead",
      JSON.stringify(heard.refreshA),
    );
    assert.equal(recB.to("POST /api/auth/refresh_token").length, 0, "B did not refresh");
    assert.deepEqual(heard.refreshB, [], "B's onRefresh heard nothing");

    // B's sign-out: A signed in and working; B's call is not_signed_in and sends nothing.
    assert.deepEqual(steps.afterSignOutB.a, { partnerId: "acme-eu" });
    assert.equal(steps.afterSignOutB.b, null);
    assert.equal(steps.afterSignOutB.aCall.ok?.user, "alice");
    assert.equal(steps.afterSignOutB.bCall.error?.code, "not_signed_in");

    // A's 401: A ends (its onSessionExpired once), B signed in and working.
    assert.equal(steps.revokeA.ok, null, "the revoke (204) went through A");
    assert.equal(steps.after401A.aCall.error?.code, "session_expired");
    assert.equal(steps.after401A.a, null);
    assert.deepEqual(steps.after401A.b, { partnerId: "builders-uk" });
    assert.equal(steps.after401A.bCall.ok?.user, "bob");
    assert.equal(heard.expiredA, 1);
    assert.equal(heard.expiredB, 0, "B's onSessionExpired never called");

    // Each onSessionChange heard only its own client: A's sign-in, refresh and end; B's sign-in,
    // sign-out and sign-in again.
    const changesA = JSON.stringify(heard.changesA);
    assert.equal(heard.changesA.at(-1), null, `A's changes end with its end: ${changesA}`);
    assert.ok(heard.changesA.length >= 3, `A's sign-in, refresh(es) and end: ${changesA}`);
    assert.ok(
      heard.changesA.slice(0, -1).every((p) => p === "acme-eu"),
      `A heard only A's sessions: ${changesA}`,
    );
    assert.deepEqual(
      heard.changesB,
      ["builders-uk", null, "builders-uk"],
      `B's changes: ${JSON.stringify(heard.changesB)}`,
    );

    if (where === "chromium") {
      // One page, two storage keys, each holding its own client's session only.
      const { a, b } = steps.storageAfterSignIn;
      assert.ok(a?.includes("acme-eu") && !a.includes("builders-uk"), `A's entry: ${a}`);
      assert.ok(b?.includes("builders-uk") && !b.includes("acme-eu"), `B's entry: ${b}`);
      assert.ok(tokensA.some((t) => a.includes(t)) && !tokensB.some((t) => a.includes(t)));
      assert.ok(tokensB.some((t) => b.includes(t)) && !tokensA.some((t) => b.includes(t)));
      assert.equal(steps.storageAfterSignOutB.b, null, "B's sign-out removed B's entry");
      assert.ok(steps.storageAfterSignOutB.a?.includes("acme-eu"), "and left A's");
      assert.equal(steps.storageAfter401A.a, null, "A's 401 removed A's entry");
      assert.ok(steps.storageAfter401A.b?.includes("builders-uk"), "and left B's");
    }
  });

  test(`${where}: two open clients may not share a storageKey (bad_config)`, async () => {
    const r = await runIn(storageKeys);
    assert.deepEqual(r.first, { ok: true, closeable: true });
    assert.equal(r.same.ok, false, "a second client on the same key is refused");
    assert.equal(r.same.error.code, "bad_config");
    assert.equal(r.same.error.isFdError, true);
    assert.match(r.same.error.message, /storageKey/, "the message names storageKey");
    assert.equal(r.defaultOnIt.ok, false, "configure may not move the default client onto it");
    assert.equal(r.defaultOnIt.error.code, "bad_config");
    assert.deepEqual(r.afterClose, { ok: true, closeable: true }, "once closed, its key is free");
  });

  test(`${where}: close() stops that client's timers and no other's`, async () => {
    recA.clear();
    recB.clear();
    const r = await runIn(closeStopsTimers);
    assert.equal(r.bothRan, true, `both timers refreshed: ${JSON.stringify(r)}`);
    assert.equal(r.bRanOn, true, `B kept refreshing after A closed: ${JSON.stringify(r)}`);
    assert.equal(r.aAfter, r.aAtClose, "A heard no refresh after close()");
    assert.equal(r.bAfterStop, r.bAtStop, "B's timer stopped with stopAutoRefresh()");
    assert.equal(
      r.closedCall.error?.isFdError,
      true,
      `a closed client's call rejects: ${JSON.stringify(r.closedCall)}`,
    );
    // The APIs' side agrees: while B refreshed three more times, A's API saw at most the one
    // refresh that may have been in flight when A closed.
    const refreshesA = recA.to("POST /api/auth/refresh_token").length;
    const refreshesB = recB.to("POST /api/auth/refresh_token").length;
    assert.ok(
      refreshesA >= r.aAtClose && refreshesA <= r.aAtClose + 1,
      `A's API: ${refreshesA} refreshes, A heard ${r.aAtClose}`,
    );
    assert.equal(refreshesB, r.bAfterStop, "B's API saw as many refreshes as B heard");
    assert.equal(recA.to("GET /api/me").length, 0, "the closed client sent nothing");
  });
}
