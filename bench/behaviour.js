// The behaviour rows: races and failures the provider's baseline gets wrong, run against fd-fetch
// on the same in-page fake API. Cheap, and they tell a reader why the per-call figures are not the
// whole story.
import { FakeApi } from "/tests/common/fake_api.js";
import { arena } from "./arena.js";

const tick = () => new Promise((r) => setTimeout(r, 0));

const scenarios = {
  /** Sign-out while the refresh is in flight. */
  async signOutRace(name) {
    const api = new FakeApi();
    const a = await arena(name, api, 60_000);
    api.hold("/api/auth/refresh_token");
    const calls = Promise.allSettled(Array.from({ length: 5 }, () => a.fd("/me")));
    await tick();
    a.signOut();
    api.release("/api/auth/refresh_token");
    await calls;
    await tick();
    return {
      "signed in again after sign-out during refresh": a.signedIn() ? "yes (revived)" : "no",
      "requests sent after sign-out": api.count("/api/me"),
    };
  },

  /** The refresh endpoint is down (503) while the token still has 60 s to live. */
  async refreshDown(name) {
    const api = new FakeApi();
    const a = await arena(name, api, 60_000);
    api.reply("POST", "/api/auth/refresh_token", 503, "down", "text/plain");
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => a.fd("/me")));
    return { "calls that succeed while the refresh is down (of 10)": results.filter((r) => r.status === "fulfilled").length };
  },

  /** Ten concurrent requests all get 401: how often is the stored session removed? */
  async unauthorized(name) {
    const api = new FakeApi();
    const a = await arena(name, api, 3_000_000);
    api.reply("GET", "/api/me", 401, "", "");
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
    await arena(name, new FakeApi(), 3_000_000);
    const all = Object.keys(localStorage).map((k) => localStorage.getItem(k)).join("\n");
    return { "refresh token readable in localStorage": all.includes("refresh-SECRET") ? "yes" : "no" };
  },
};

/** `{measure: {baseline, "fd-fetch"}}`. */
export async function behaviour() {
  const out = {};
  for (const run of Object.values(scenarios)) {
    for (const name of ["baseline", "fd-fetch"]) {
      localStorage.clear();
      for (const [measure, value] of Object.entries(await run(name))) (out[measure] ??= {})[name] = value;
    }
  }
  return out;
}
