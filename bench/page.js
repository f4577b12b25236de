// The benchmark's in-page half: the same scenarios, on the same in-page fake API, for fd-fetch and
// for the provider's baseline. `window.runBench()` returns the figures; scripts/bench.mjs prints them.
import * as fdlib from "/pkg/index.js";
import * as base from "/bench/baseline.js";
import { FakeApi, jwt } from "/tests/common/fake_api.js";

const BASE = `${location.origin}/api`;
const tick = () => new Promise((r) => setTimeout(r, 0));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A fresh fake API that both implementations talk to, and an adapter per implementation. */
async function arena(name, left, fetch) {
  const api = new FakeApi();
  if (fetch) api.fetch = fetch;
  window.fetch = api.fetch; // the baseline calls the global fetch
  const session = { accessToken: jwt(3600), refreshToken: "refresh-SECRET-1", expiresAt: Date.now() + left, partnerId: "p-1" };
  if (name === "fd-fetch") {
    await fdlib.configure({ baseUrl: BASE, fetch: api.fetch, storageKey: `bench.${Math.random()}`, onSessionExpired() {} });
    fdlib.setSession(session);
    return { api, fd: fdlib.fd, signOut: fdlib.signOut, signedIn: () => fdlib.getSession() !== null };
  }
  base.configureBaseline(BASE);
  base.setBaselineSession(session);
  return { api, fd: base.fd, signOut: base.clearSession, signedIn: () => base.getBaselineSession() !== null };
}

const scenarios = {
  /** Sequential calls with a fresh token to a fetch that answers at once: what the wrapper costs. */
  async overhead(name) {
    const rounds = [];
    // Like a real fetch, it first makes a Request of its arguments (the spec's first step), so that
    // each side pays for what fetch would do with what it is given; then it answers at once.
    const bare = (input, init) => {
      new Request(input, init);
      return Promise.resolve(new Response('{"ok":true}', { headers: { "content-type": "application/json" } }));
    };
    for (let round = 0; round < 5; round++) {
      const a = await arena(name, 3_000_000, bare);
      const n = 400;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await a.fd("/me");
      rounds.push(((performance.now() - t0) * 1000) / n);
    }
    return { "µs per call (median of 5×400)": median(rounds).toFixed(1) };
  },

  /** 50 concurrent calls past the threshold; the refresh answers after 20 ms. */
  async burst(name) {
    const a = await arena(name, 60_000);
    a.api.hold("/api/auth/refresh_token");
    setTimeout(() => a.api.release("/api/auth/refresh_token"), 20);
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => a.fd("/me")));
    const ms = performance.now() - t0;
    return {
      "refresh requests for 50 concurrent calls": a.api.count("/api/auth/refresh_token"),
      "calls that succeeded": results.filter((r) => r.status === "fulfilled").length,
      "ms for the burst": ms.toFixed(1),
    };
  },

  /** Sign-out while the refresh is in flight. */
  async signOutRace(name) {
    const a = await arena(name, 60_000);
    a.api.hold("/api/auth/refresh_token");
    const calls = Promise.allSettled(Array.from({ length: 5 }, () => a.fd("/me")));
    await tick();
    a.signOut();
    a.api.release("/api/auth/refresh_token");
    await calls;
    await tick();
    return {
      "signed in again after sign-out during refresh": a.signedIn() ? "yes (revived)" : "no",
      "requests sent after sign-out": a.api.count("/api/me"),
    };
  },

  /** The refresh endpoint is down (503) while the token still has 60 s to live. */
  async refreshDown(name) {
    const a = await arena(name, 60_000);
    a.api.reply("POST", "/api/auth/refresh_token", 503, "down", "text/plain");
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => a.fd("/me")));
    return { "calls that succeed while the refresh is down (of 10)": results.filter((r) => r.status === "fulfilled").length };
  },

  /** Ten concurrent requests all get 401: how often is the stored session removed? */
  async unauthorized(name) {
    const a = await arena(name, 3_000_000);
    a.api.reply("GET", "/api/me", 401, "", "");
    let removals = 0;
    const removeItem = Storage.prototype.removeItem;
    Storage.prototype.removeItem = function (key) {
      removals += 1;
      return removeItem.call(this, key);
    };
    try {
      await Promise.allSettled(Array.from({ length: 10 }, () => a.fd("/me")));
    } finally {
      Storage.prototype.removeItem = removeItem;
    }
    return { "session cleared, for 10 concurrent 401s": `${removals}×` };
  },

  /** Where the refresh token ended up. */
  async storage(name) {
    await arena(name, 3_000_000);
    const all = Object.keys(localStorage).map((k) => localStorage.getItem(k)).join("\n");
    return { "refresh token readable in localStorage": all.includes("refresh-SECRET") ? "yes" : "no" };
  },
};

window.runBench = async () => {
  // fd-fetch's one-off start-up: decompress and instantiate the wasm, check options.
  const t0 = performance.now();
  await fdlib.configure({ baseUrl: BASE });
  const out = { "first configure(), ms (wasm load)": { baseline: "0", "fd-fetch": (performance.now() - t0).toFixed(1) } };
  for (const [scenario, run] of Object.entries(scenarios)) {
    for (const name of ["baseline", "fd-fetch"]) {
      localStorage.clear();
      for (const [measure, value] of Object.entries(await run(name))) {
        (out[measure] ??= {})[name] = value;
      }
    }
  }
  return out;
};
window.benchReady = true;
