// The session card: who, which partner, the token's fingerprint, and live countdowns to expiry and
// to the next refresh, ticking every second and on every onSessionChange.
import { fd, getSession, type FdSession } from "fd-fetch";
import { app, refreshDueInMs } from "./app";
import { MODE_LABEL } from "./config";
import { byId, clock, fingerprint, h, mmss } from "./dom";
import { refreshCount } from "./trace";

interface Me {
  user: string;
  name?: string;
  partnerId?: string;
  partners?: string[];
}

const el = {
  mode: byId("session-mode"),
  user: byId("session-user"),
  partner: byId("session-partner"),
  token: byId("session-token"),
  where: byId("session-refresh-where"),
  expiresAt: byId("session-expires-at"),
  expiresIn: byId("session-expires-in"),
  refreshIn: byId("session-refresh-in"),
  refreshes: byId("refresh-count"),
  fill: byId("lifebar-fill"),
  mark: byId("lifebar-mark"),
  legend: byId("lifebar-legend"),
};

let timer: ReturnType<typeof setInterval> | undefined;

/** Starts the card: reads the session now and every second, and asks the API who we are. */
export function startSessionCard(): void {
  el.user.textContent = "…";
  renderSession(getSession());
  clearInterval(timer);
  timer = setInterval(() => renderSession(getSession()), 1000);
  void loadUser();
}

export function stopSessionCard(): void {
  clearInterval(timer);
  timer = undefined;
}

/** Shows `me` as the user (also called with the answer of the GET /me button). */
export function showUser(me: unknown): void {
  if (me === null || typeof me !== "object" || !("user" in me)) return;
  const { user, name } = me as Me;
  el.user.replaceChildren(name ? `${name} ` : "", h("span", { class: "muted" }, name ? `(${user})` : user));
}

async function loadUser(): Promise<void> {
  try {
    showUser(await fd<Me>("/me"));
  } catch {
    el.user.textContent = "—";
  }
}

/** Redraws the card for `session` (null: leaves the last values; the router moves on). */
export function renderSession(session: FdSession | null): void {
  el.refreshes.textContent = String(refreshCount());
  if (!session) return;
  const now = Date.now();
  const lifetime = app.demo.tokenLifetimeSec * 1000;
  const left = session.expiresAt - now;
  const refreshIn = refreshDueInMs(session, now);

  el.mode.textContent = MODE_LABEL[app.mode];
  el.mode.className = `pill ${app.mode}`;
  el.partner.textContent = session.partnerId;
  el.token.textContent = fingerprint(session.accessToken);
  el.expiresAt.textContent = clock(session.expiresAt);
  el.expiresIn.textContent = left > 0 ? mmss(left) : "expired";
  el.expiresIn.classList.toggle("late", left <= 0);
  el.expiresIn.classList.toggle("word", left <= 0);

  if (app.mode === "cookie") {
    el.where.replaceChildren("HttpOnly cookie ", h("code", {}, "fd_refresh"), " on ", h("code", {}, "/proxy/auth"));
  } else if (app.holdsRefreshToken) {
    el.where.textContent = "In wasm memory, this tab only";
  } else {
    el.where.replaceChildren(
      "None in this tab",
      h(
        "span",
        { class: "muted" },
        " (opened after sign-in): another tab that holds one refreshes for it; with none open, the token is used until it expires",
      ),
    );
  }

  // Without a refresh token of its own, a tab still gets its refresh when due: through another tab.
  const due = refreshIn <= 0;
  const throughAnotherTab = app.mode === "memory" && !app.holdsRefreshToken;
  el.refreshIn.textContent = !due
    ? mmss(refreshIn)
    : throughAnotherTab
      ? "due now — the next call asks another tab"
      : "due now — the next call refreshes";
  el.refreshIn.classList.toggle("due", due);
  el.refreshIn.classList.toggle("word", due);

  // The token's life from issue (left) to expiry (right), with the point the refresh falls due.
  const elapsed = Math.min(1, Math.max(0, 1 - left / lifetime));
  const dueAt = Math.min(1, Math.max(0, 1 - app.thresholdMs / lifetime));
  el.fill.style.width = `${(elapsed * 100).toFixed(2)}%`;
  el.fill.classList.toggle("due", elapsed >= dueAt);
  el.mark.style.left = `${(dueAt * 100).toFixed(2)}%`;
  el.legend.textContent =
    `Token life: a refresh is due ${mmss(lifetime - app.thresholdMs)} after it is issued (marker), ` +
    `it expires after ${mmss(lifetime)}.`;
}
