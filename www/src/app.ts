// State shared by the views: the demo settings, the mode, and what the page knows about the session.
import { signOut, type FdSession } from "fd-fetch";
import type { DemoConfig, Mode } from "./config";

export const app = {
  demo: { tokenLifetimeSec: 3600, refreshDelayMs: 0, proxy: null } as DemoConfig,
  mode: "memory" as Mode,
  thresholdMs: 300_000,
  /**
   * Memory mode: whether this tab's wasm memory holds the refresh token. Only a sign-in in this tab
   * puts one there; a reload, or a tab opened after the sign-in, has none. Such a tab still gets its
   * refreshes: another tab that holds one refreshes for it (with none open, its token is used until it
   * expires). Cookie mode does not read it: the proxy's cookie, shared by every tab, refreshes there.
   */
  holdsRefreshToken: false,
  /** Set while the page itself signs out, so that the listener does not call it "session ended". */
  signingOut: false,
};

/** How long until fd-fetch refreshes `session` on the next call; at or below 0 it is due now. */
export function refreshDueInMs(session: FdSession, now = Date.now()): number {
  return session.expiresAt - app.thresholdMs - now;
}

const ENDED_KEY = "fd-demo.session-ended";

/** Remembers (across fd-fetch's navigation to /login) that the session ended without a sign-out. */
export function markSessionEnded(): void {
  try {
    sessionStorage.setItem(ENDED_KEY, "1");
  } catch {
    /* storage blocked: no notice */
  }
}

export function sessionEnded(): boolean {
  try {
    return sessionStorage.getItem(ENDED_KEY) === "1";
  } catch {
    return false;
  }
}

export function clearSessionEnded(): void {
  try {
    sessionStorage.removeItem(ENDED_KEY);
  } catch {
    /* nothing to clear */
  }
}

/** signOut() on the user's behalf: no "session ended" notice afterwards. */
export function signOutByUser(): void {
  app.signingOut = true;
  try {
    signOut();
  } finally {
    app.signingOut = false;
  }
  app.holdsRefreshToken = false;
  clearSessionEnded();
}
