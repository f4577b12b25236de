// State shared by the views: the demo settings, the mode, and what the page knows about the session.
import { signOut, type FdSession } from "fd-fetch";
import type { DemoConfig, Mode } from "./config";

export const app = {
  demo: { tokenLifetimeSec: 3600, refreshDelayMs: 0, proxy: null } as DemoConfig,
  mode: "memory" as Mode,
  thresholdMs: 300_000,
  /**
   * Whether fd-fetch can refresh this session. In memory mode the refresh token lives in wasm memory
   * and is gone after a reload; the page learns it has one from a sign-in (or a refresh) in this tab.
   */
  canRefresh: false,
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
  app.canRefresh = false;
  clearSessionEnded();
}
