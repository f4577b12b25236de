// fd-fetch's example page. Boots once: demo settings → configure() → first route.
import "./style.css";
import { getSession, onSessionChange } from "fd-fetch";
import { app, markSessionEnded, signOutByUser } from "./app";
import { applyMode, loadDemoConfig, refreshThresholdMs, saveMode, savedMode, type Mode } from "./config";
import { clearResult, initDashboard } from "./dashboard";
import { byId, errorInfo, h, mmss } from "./dom";
import { startLog } from "./log";
import { enterLogin, initLogin, resetLogin } from "./login";
import { startRefreshLog } from "./refreshes";
import { currentRoute, navigate, startRouter, type Route } from "./router";
import { renderSession, startSessionCard, stopSessionCard } from "./session";

const loginView = byId("login-view");
const dashboard = byId("dashboard");
const modeButtons: Record<Mode, HTMLButtonElement> = {
  memory: byId<HTMLButtonElement>("mode-memory"),
  cookie: byId<HTMLButtonElement>("mode-cookie"),
};

/** The red line under the mode switch, for what stops the demo from working as it should. */
function banner(message: string): void {
  const el = byId("boot-error");
  el.textContent = message;
  el.hidden = false;
}

function render(route: Route): void {
  const session = getSession();
  if (route === "/" && !session) return navigate("/login", { replace: true });
  if (route === "/login" && session) return navigate("/", { replace: true });
  const onDashboard = route === "/";
  loginView.hidden = onDashboard;
  dashboard.hidden = !onDashboard;
  document.title = onDashboard ? "Dashboard — fd-fetch demo" : "Sign in — fd-fetch demo";
  if (onDashboard) {
    startSessionCard();
  } else {
    stopSessionCard();
    enterLogin();
  }
}

function renderDemoNote(): void {
  const { tokenLifetimeSec } = app.demo;
  const note = byId("demo-note");
  const threshold = Math.round(app.thresholdMs / 1000);
  if (tokenLifetimeSec < 600) {
    note.replaceChildren(
      h("strong", {}, `Demo tokens live ${tokenLifetimeSec} s`),
      " (from ",
      h("code", {}, "/api/demo-config"),
      `) and are refreshed when under ${threshold} s remain — so a refresh falls due ${mmss(tokenLifetimeSec * 1000 - app.thresholdMs)} after each new token. `,
      "In production tokens live 1 h and refresh under 5 min.",
    );
  } else {
    note.replaceChildren(
      h("strong", {}, `Tokens live ${Math.round(tokenLifetimeSec / 60)} min`),
      ` and are refreshed when under ${Math.round(threshold / 60)} min remain, as in production.`,
    );
  }
}

function renderMode(): void {
  for (const [mode, button] of Object.entries(modeButtons) as [Mode, HTMLButtonElement][]) {
    button.setAttribute("aria-pressed", String(mode === app.mode));
  }
  if (app.demo.proxy === null) {
    modeButtons.cookie.disabled = true;
    byId("mode-cookie-desc").textContent = "Unavailable: this server runs without the refresh-token proxy.";
  }
}

async function switchMode(mode: Mode): Promise<void> {
  if (mode === app.mode) return;
  signOutByUser(); // under the old options: in cookie mode this posts /auth/logout to the proxy
  app.mode = mode;
  saveMode(mode);
  renderMode();
  await applyMode(mode, app.demo);
  clearResult();
  resetLogin();
  navigate("/login");
}

async function boot(): Promise<void> {
  try {
    app.demo = await loadDemoConfig();
  } catch (e) {
    banner(`Could not read /api/demo-config (${errorInfo(e).message}); using production settings without the proxy.`);
  }
  app.thresholdMs = refreshThresholdMs(app.demo);
  app.mode = savedMode(app.demo);
  renderDemoNote();
  renderMode();

  await applyMode(app.mode, app.demo);
  // A session restored from storage, in memory mode: this tab has no refresh token of its own (it did
  // not survive a reload, and a tab opened after the sign-in never had one); another tab that holds
  // one refreshes for it. In cookie mode the proxy's cookie, shared by every tab, refreshes it.
  app.holdsRefreshToken = false;

  onSessionChange((session) => {
    if (session) {
      renderSession(session);
      return;
    }
    app.holdsRefreshToken = false;
    if (!app.signingOut) markSessionEnded(); // a 401, a dead refresh token, or another tab
    if (currentRoute() === "/") navigate("/login", { replace: true });
  });

  for (const [mode, button] of Object.entries(modeButtons) as [Mode, HTMLButtonElement][]) {
    button.addEventListener("click", () =>
      switchMode(mode).catch((e: unknown) => banner(`Could not switch modes: ${errorInfo(e).message}`)),
    );
  }
  initLogin(() => navigate("/"));
  initDashboard();
  startLog();
  startRefreshLog();
  startRouter(render);
  render(currentRoute());
  document.body.dataset["ready"] = "1";
}

void boot().catch((e: unknown) => banner(`The demo could not start: ${errorInfo(e).message}`));
