// The dashboard's buttons and the response panel.
import { fd } from "fd-fetch";
import { signOutByUser } from "./app";
import { byId, errorInfo, h, json } from "./dom";
import { navigate } from "./router";
import { showUser } from "./session";
import { runBurst } from "./timeline";
import { lastRequest } from "./trace";

const result = byId("result");
const buttons = ["call-me", "call-orders", "burst", "revoke"].map((id) => byId<HTMLButtonElement>(id));

export function initDashboard(): void {
  byId("call-me").addEventListener("click", () => void call("GET", "/me", showUser));
  byId("call-orders").addEventListener("click", () => void call("GET", "/orders"));
  byId("burst").addEventListener("click", () => void burst());
  byId("revoke").addEventListener("click", () => void revoke());
  byId("sign-out").addEventListener("click", () => {
    signOutByUser();
    clearResult();
    navigate("/login");
  });
}

export function clearResult(): void {
  result.replaceChildren(h("p", { class: "result-empty" }, "Responses appear here."));
}

/** One fd() call, its answer (or error) in the panel. Resolves false if it failed. */
async function call(method: string, path: string, onValue?: (value: unknown) => void): Promise<boolean> {
  const since = performance.now();
  setBusy(true);
  try {
    const value = await fd(path, { method });
    onValue?.(value);
    const seen = lastRequest(`/api${path}`, since);
    showOk(method, path, seen?.status ?? null, seen?.end != null ? seen.end - seen.start : null, value);
    return true;
  } catch (e) {
    showError(method, path, e);
    return false;
  } finally {
    setBusy(false);
  }
}

async function burst(): Promise<void> {
  setBusy(true);
  result.replaceChildren(head("GET", "/orders", null, null, "20 at once…"));
  try {
    const s = await runBurst();
    const summary = {
      calls: s.calls,
      ok: s.ok,
      failed: s.failed,
      refreshRequests: s.refreshes,
      totalMs: Math.round(s.totalMs),
      ...(s.errors.length ? { errors: s.errors } : {}),
    };
    result.replaceChildren(
      head("GET", "/orders", s.failed ? null : 200, s.totalMs, `× ${s.calls}`),
      h("pre", {}, json(summary)),
    );
  } finally {
    setBusy(false);
  }
}

/** Revokes the session server-side, then calls GET /me: its 401 sends fd-fetch's user to /login. */
async function revoke(): Promise<void> {
  if (await call("POST", "/session/revoke")) {
    await call("GET", "/me", showUser);
  }
}

function setBusy(busy: boolean): void {
  for (const b of buttons) b.disabled = busy;
}

function head(method: string, path: string, status: number | null, ms: number | null, note?: string): HTMLElement {
  return h(
    "div",
    { class: "result-head" },
    h("span", { class: "verb" }, method),
    h("code", {}, `/api${path}`),
    note ? h("span", { class: "muted" }, note) : null,
    status !== null ? h("span", { class: `status ${status < 300 ? "s-ok" : "s-err"}` }, String(status)) : null,
    ms !== null ? h("span", { class: "muted" }, `${Math.round(ms)} ms`) : null,
  );
}

function showOk(method: string, path: string, status: number | null, ms: number | null, value: unknown): void {
  result.replaceChildren(
    head(method, path, status, ms),
    value === null ? h("p", { class: "muted" }, "No content (fd resolved with null).") : h("pre", {}, json(value)),
  );
}

function showError(method: string, path: string, e: unknown): void {
  const info = errorInfo(e);
  result.replaceChildren(
    head(method, path, info.status ?? null, null),
    h(
      "div",
      { class: "result-error" },
      h("span", { class: "error-label" }, "FdError"),
      h("code", {}, info.code),
      info.status !== undefined ? h("span", {}, `HTTP ${info.status}`) : null,
    ),
    h("p", { class: "result-message" }, info.message),
  );
  if (info.body !== undefined && info.body !== null && info.body !== "") result.append(h("pre", {}, json(info.body)));
  if (info.code === "session_expired") {
    result.append(h("p", { class: "small muted" }, "fd-fetch cleared the session and is sending you to /login…"));
  }
}
