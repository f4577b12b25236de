// The demo's settings (from /api/demo-config), the mode switch, and the one configure() call.
import { configure, type FdOptions } from "fd-fetch";
import { tracingFetch } from "./trace";

export type Mode = "memory" | "cookie";

export interface DemoConfig {
  tokenLifetimeSec: number;
  refreshDelayMs: number;
  /** Path of the refresh-token proxy on this origin, or null when the server runs without it. */
  proxy: string | null;
}

/** The package's default, and what production uses: refresh when under 5 minutes remain. */
const PRODUCTION_THRESHOLD_MS = 300_000;
const MODE_KEY = "fd-demo.mode";

export async function loadDemoConfig(): Promise<DemoConfig> {
  const response = await fetch("/api/demo-config", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`/api/demo-config answered ${response.status}`);
  const raw: unknown = await response.json();
  const obj = (raw ?? {}) as Record<string, unknown>;
  const lifetime = obj["tokenLifetimeSec"];
  const delay = obj["refreshDelayMs"];
  const proxy = obj["proxy"];
  if (typeof lifetime !== "number" || lifetime <= 0) throw new Error("/api/demo-config: no tokenLifetimeSec");
  return {
    tokenLifetimeSec: lifetime,
    refreshDelayMs: typeof delay === "number" ? delay : 0,
    proxy: typeof proxy === "string" && proxy.startsWith("/") ? proxy : null,
  };
}

/**
 * Short demo tokens get a refresh due 30 s after each new token (half-way through, for tokens under
 * a minute), so that it can be watched; real-length tokens (10 minutes and more) use the production
 * threshold.
 */
export function refreshThresholdMs(demo: DemoConfig): number {
  const lifetime = demo.tokenLifetimeSec;
  return lifetime < 600 ? Math.round(Math.max(lifetime - 30, lifetime / 2) * 1000) : PRODUCTION_THRESHOLD_MS;
}

export function savedMode(demo: DemoConfig): Mode {
  let saved: string | null = null;
  try {
    saved = localStorage.getItem(MODE_KEY);
  } catch {
    /* storage blocked: default */
  }
  return saved === "cookie" && demo.proxy !== null ? "cookie" : "memory";
}

export function saveMode(mode: Mode): void {
  try {
    localStorage.setItem(MODE_KEY, mode);
  } catch {
    /* storage blocked: the choice lasts until reload */
  }
}

/** configure() for a mode. Expired sessions go to /login (the default `loginUrl`, no `onSessionExpired`). */
export function applyMode(mode: Mode, demo: DemoConfig): Promise<void> {
  const api = `${location.origin}/api`;
  const options: FdOptions = {
    baseUrl: api,
    refreshThresholdMs: refreshThresholdMs(demo),
    fetch: tracingFetch,
  };
  if (mode === "cookie" && demo.proxy !== null) {
    options.authUrl = location.origin + demo.proxy;
    options.refreshTokenIn = "cookie";
  }
  return configure(options);
}

export const MODE_LABEL: Record<Mode, string> = {
  memory: "Memory mode",
  cookie: "Cookie mode",
};
