// The baseline or fd-fetch on a fresh in-page fake API, with a session that has `left` ms to live:
// what the burst and the behaviour rows start from.
import * as fdlib from "/pkg/index.js";
import * as base from "/bench/baseline.js";
import { jwt } from "/tests/common/fake_api.js";

export const API = `${location.origin}/api`;

/** `name` ("baseline" or "fd-fetch") talking to `api` (a FakeApi or SoakApi): `{fd, signOut, signedIn}`. */
export async function arena(name, api, left) {
  window.fetch = api.fetch; // the baseline calls the global fetch
  const session = { accessToken: jwt(3600), refreshToken: "refresh-SECRET-1", expiresAt: Date.now() + left, partnerId: "p-1" };
  if (name === "fd-fetch") {
    // A new storage key each time: the default client is reconfigured, never left holding the last session.
    await fdlib.configure({ baseUrl: API, fetch: api.fetch, storageKey: `bench.${Math.random()}`, onSessionExpired() {} });
    fdlib.setSession(session);
    return { fd: fdlib.fd, signOut: fdlib.signOut, signedIn: () => fdlib.getSession() !== null };
  }
  base.configureBaseline(API);
  base.setBaselineSession(session);
  return { fd: base.fd, signOut: base.clearSession, signedIn: () => base.getBaselineSession() !== null };
}
