// What fd-proxy's mock partner API saw, for the issue-9 tests (Node service, axios, instances,
// worker): `[{ method, path, status }]`, oldest first. Read from the mock's request log
// (`GET /api/_mock/requests`) where the mock has one, else from fd-proxy's per-request log lines
// on stderr (`request{method=GET path="/api/me"}: … status=200`), which hold no token.
import { setTimeout as sleep } from "node:timers/promises";

const LINE = /request\{method=(\w+) path="([^"]*)"\}[^\n]*?\bstatus=(\d+)/g;

/** Every request the mock of `proxy` (from `startFdProxy`) answered so far, except log reads. */
export async function mockRequests(proxy) {
  const r = await fetch(`${proxy.api}/_mock/requests`).catch(() => null);
  if (r?.ok && (r.headers.get("content-type") ?? "").includes("json")) {
    const log = await r.json();
    return log.map(({ method, path, status, partner, token, user }) => ({
      method,
      path: path.startsWith("/api") ? path : `/api${path}`,
      status,
      partner,
      token,
      user,
    }));
  }
  await r?.arrayBuffer();
  // The log line is written once the answer is ready, a moment after the client has it.
  await sleep(100);
  return [...proxy.output().matchAll(LINE)]
    .map(([, method, path, status]) => ({ method, path, status: Number(status) }))
    .filter((q) => !q.path.startsWith("/api/_mock/"));
}

/** The requests of `proxy`'s mock to `METHOD /api/path`. */
export async function mockRequestsTo(proxy, route) {
  return (await mockRequests(proxy)).filter((q) => `${q.method} ${q.path}` === route);
}
