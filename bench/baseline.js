// The API provider's fetch interceptor (shared/reference), transcribed to JavaScript as the baseline
// fd-fetch must beat. Only what the note leaves undefined is filled in, as plainly as it suggests:
// BASE, loadSession, saveSession (the whole session, refresh token included, in localStorage) and
// clearSession.
export let BASE = "";
export const configureBaseline = (base) => (BASE = base);

const REFRESH_THRESHOLD_MS = 5 * 60 * 1000;
const KEY = "baseline.session";
const loadSession = () => JSON.parse(localStorage.getItem(KEY) ?? "null");
const saveSession = (s) => localStorage.setItem(KEY, JSON.stringify(s));
export const clearSession = () => {
  session = null;
  localStorage.removeItem(KEY);
};
export const setBaselineSession = (s) => {
  session = s;
  saveSession(s);
};
export const getBaselineSession = () => session;

let session = loadSession();
let refreshPromise = null;

async function ensureFresh() {
  if (!session) throw new Error("Not signed in");
  if (session.expiresAt - Date.now() > REFRESH_THRESHOLD_MS) return session;
  if (!refreshPromise) {
    refreshPromise = doRefresh(session.refreshToken)
      .then((next) => {
        session = next;
        saveSession(next);
        return next;
      })
      .finally(() => {
        refreshPromise = null;
      });
  }
  return refreshPromise;
}

async function doRefresh(refreshToken) {
  const resp = await fetch(`${BASE}/auth/refresh_token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: refreshToken }),
  });
  if (!resp.ok) throw new Error("refresh failed");
  const data = await resp.json();
  return {
    accessToken: data.AccessToken,
    refreshToken,
    expiresAt: Date.now() + (data.ExpiresIn ?? 3600) * 1000,
    partnerId: session.partnerId,
  };
}

export async function fd(path, init = {}) {
  const { accessToken, partnerId } = await ensureFresh();
  const resp = await fetch(`${BASE}${path}`, {
    ...init,
    headers: { ...init.headers, Authorization: `Bearer ${accessToken}`, "X-Preferred-Partner-Id": partnerId },
  });
  if (resp.status === 401) {
    clearSession();
    throw new Error("session_expired");
  }
  if (!resp.ok) throw new Error(`${resp.status}`);
  return resp.json();
}
