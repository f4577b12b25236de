// Per-call cost: batches of `n` sequential calls, rounds interleaved (A B C D E A B C D E …) so
// that whatever else the machine does hits every contender alike. A batch, not a single call, is
// timed: outside a cross-origin-isolated page `performance.now()` moves in 100 µs steps, longer
// than a call to a stub.
import { contenders } from "./contenders.js";
import { jwt } from "/tests/common/fake_api.js";
import { API } from "./arena.js";

// Bound: ky calls its `fetch` option as a method of its options, which a bare window.fetch refuses.
const realFetch = window.fetch.bind(window);

/**
 * A fetch that answers at once, so that only the library's own cost is left. Like a real fetch it
 * first makes a Request of its arguments (the spec's first step), so that each contender pays for
 * what fetch would do with what it is given.
 */
function stubFetch(input, init) {
  new Request(input, init);
  return Promise.resolve(new Response('{"ok":true}', { headers: { "content-type": "application/json" } }));
}

/** A session of the mock partner API (fd-proxy/src/mock.rs): its demo user alice, partner acme-eu. */
async function signInToMock() {
  const response = await realFetch(`${API}/auth`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "alice", password: "wonderland" }),
  });
  if (!response.ok) throw new Error(`sign-in to the mock: HTTP ${response.status}`);
  return { accessToken: (await response.json()).AccessToken, partnerId: "acme-eu" };
}

const TRANSPORTS = {
  stub: async () => ({ fetch: stubFetch, session: { accessToken: jwt(3600), partnerId: "p-1" } }),
  loopback: async () => ({ fetch: realFetch, session: await signInToMock() }),
};

/** `{contender: [µs per call, one per round]}` over `transport` ("stub" or "loopback"). */
export async function perCall(transport, { n, rounds }) {
  const { fetch, session } = await TRANSPORTS[transport]();
  const calls = await contenders(fetch, session);
  // Every contender must get what raw fetch gets: one failing fast would look fast.
  const expected = JSON.stringify(await calls["raw fetch"]());
  for (const [name, call] of Object.entries(calls)) {
    const got = JSON.stringify(await call());
    if (got !== expected) throw new Error(`${name} answered ${got}, raw fetch ${expected}`);
  }
  const samples = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
  // Round 0 warms up (JIT tiers, the connection) and is not kept.
  for (let round = 0; round <= rounds; round++) {
    for (const [name, call] of Object.entries(calls)) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await call();
      if (round > 0) samples[name].push(((performance.now() - t0) * 1000) / n);
    }
  }
  return samples;
}
