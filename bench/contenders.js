// The five contenders of the per-call rows. Each GETs `/api/me` with the same two headers
// (`Authorization: Bearer …`, `X-Preferred-Partner-Id`) over the same `fetch`, resolves with the
// parsed JSON and rejects on a non-2xx answer: they differ only in the library around the fetch.
import * as fdlib from "/pkg/index.js";
import * as base from "/bench/baseline.js";
import axios from "/bench/.work/axios.js";
import ky from "/bench/.work/ky.js";
import { API } from "./arena.js";

/** `{name: () => Promise<json>}`, in the table's order, all sending `session`'s token over `fetch`. */
export async function contenders(fetch, { accessToken, partnerId }) {
  const headers = { Authorization: `Bearer ${accessToken}`, "X-Preferred-Partner-Id": partnerId };

  await fdlib.configure({ baseUrl: API, fetch, storageKey: `bench.${Math.random()}`, onSessionExpired() {} });
  fdlib.setSession({ accessToken, partnerId }); // expiry read from the token, an hour away

  window.fetch = fetch; // the baseline calls the global fetch
  base.configureBaseline(API);
  base.setBaselineSession({ accessToken, refreshToken: "unused", expiresAt: Date.now() + 3_600_000, partnerId });

  // axios on its fetch adapter: its browser default (XHR) would not go through `fetch`, and so
  // neither through the stub nor the same network path as the others.
  const ax = axios.create({ baseURL: API, adapter: "fetch", env: { fetch } });
  ax.interceptors.request.use((config) => {
    config.headers.set(headers);
    return config;
  });

  // ky with its defaults otherwise (a timeout timer and retries armed per request).
  const kyApi = ky.create({
    prefixUrl: API,
    fetch,
    hooks: { beforeRequest: [(request) => Object.entries(headers).forEach(([k, v]) => request.headers.set(k, v))] },
  });

  return {
    "raw fetch": async () => {
      const response = await fetch(`${API}/me`, { headers });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    },
    "fd-fetch": () => fdlib.fd("/me"),
    baseline: () => base.fd("/me"),
    axios: async () => (await ax.get("/me")).data,
    ky: () => kyApi.get("me").json(),
  };
}
