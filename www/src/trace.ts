// The tracing fetch given to fd-fetch (`configure({ fetch })`), and the store of what it saw.
// It records when each request started and ended, its method, path, status and whether it was the
// refresh call. Never a header value or a body: no token reaches this store. The one header it
// reads is the demo's own X-Demo-Call, which ties a request to the burst call that made it.

export interface TraceEntry {
  id: number;
  /** performance.now() when fetch was called, and when it settled (headers in, or failed). */
  start: number;
  end: number | null;
  /** Date.now() at the start, for the log's clock column. */
  wall: number;
  method: string;
  /** Path and query, e.g. `/api/orders?delay_ms=240` or `/proxy/auth/refresh_token`. */
  path: string;
  status: number | null;
  failed: boolean;
  refresh: boolean;
  demoCall: string | null;
}

const KEEP = 300;
const entries: TraceEntry[] = [];
const listeners = new Set<() => void>();
let seq = 0;
let refreshes = 0;
/** This tab's latest refresh request, kept apart from `entries` so that a burst cannot push it out. */
let lastRefresh: TraceEntry | null = null;

/** How long after this tab's refresh answered a new access token still counts as that refresh's. */
const OWN_REFRESH_WINDOW_MS = 2000;

function changed(): void {
  for (const listener of listeners) listener();
}

/** The `fetch` option: wraps `globalThis.fetch` (looked up per call) and records the request. */
export async function tracingFetch(input: Request): Promise<Response> {
  const url = new URL(input.url, location.href);
  const entry: TraceEntry = {
    id: ++seq,
    start: performance.now(),
    end: null,
    wall: Date.now(),
    method: input.method,
    path: url.pathname + url.search,
    status: null,
    failed: false,
    refresh: url.pathname.endsWith("/auth/refresh_token"),
    demoCall: input.headers.get("X-Demo-Call"),
  };
  if (entry.refresh) {
    refreshes++;
    lastRefresh = entry;
  }
  entries.push(entry);
  if (entries.length > KEEP) entries.splice(0, entries.length - KEEP);
  changed();
  try {
    const response = await globalThis.fetch(input);
    entry.status = response.status;
    return response;
  } catch (e) {
    entry.failed = true;
    throw e;
  } finally {
    entry.end = performance.now();
    changed();
  }
}

/** Everything recorded (oldest first; the last few hundred). */
export const traced = (): readonly TraceEntry[] => entries;

/** Refresh requests made since the page loaded. */
export const refreshCount = (): number => refreshes;

/**
 * Whether a new access token seen now came from this tab's own refresh request: one is in flight, or
 * the last one answered 2xx within the last 2 s. Otherwise another tab refreshed and this one adopted
 * its session (fd-fetch shares one session across an origin's tabs, and one tab sends each refresh).
 */
export function refreshSentHere(now = performance.now()): boolean {
  const r = lastRefresh;
  if (r === null || r.failed) return false;
  if (r.end === null) return true;
  return r.status !== null && r.status >= 200 && r.status < 300 && now - r.end <= OWN_REFRESH_WINDOW_MS;
}

/** Called after every start and end of a request. Returns the unsubscribe function. */
export function onTrace(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The most recent non-refresh request to `pathPrefix` that started at or after `since`. */
export function lastRequest(pathPrefix: string, since: number): TraceEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e === undefined || e.start < since) break;
    if (!e.refresh && e.path.startsWith(pathPrefix)) return e;
  }
  return undefined;
}
