// "20 concurrent requests": fires 20 fd() calls at once and draws when each one waited (on the
// shared refresh) and when its request ran, under one row for the refresh request itself.
import { fd, getSession } from "fd-fetch";
import { app, refreshDueInMs } from "./app";
import { byId, errorInfo, h, mmss } from "./dom";
import { traced, type TraceEntry } from "./trace";

const CALLS = 20;

const timeline = byId("timeline");
const caption = byId("timeline-caption");
const foot = byId("timeline-foot");

interface Call {
  i: number;
  delayMs: number;
  /** performance.now() when fd() was called and when it settled. */
  called: number;
  settled: number;
  error: string | null;
  request: TraceEntry | undefined;
}

export interface BurstSummary {
  calls: number;
  ok: number;
  failed: number;
  refreshes: number;
  totalMs: number;
  errors: string[];
}

export async function runBurst(): Promise<BurstSummary> {
  const session = getSession();
  const dueInMs = session ? refreshDueInMs(session) : 0;
  const tokenBefore = session?.accessToken;
  const t0 = performance.now();

  const pending = Array.from({ length: CALLS }, async (_, k): Promise<Call> => {
    const i = k + 1;
    const delayMs = 150 + Math.floor(Math.random() * 451);
    const called = performance.now();
    let error: string | null = null;
    try {
      await fd(`/orders?delay_ms=${delayMs}`, { headers: { "X-Demo-Call": String(i) } });
    } catch (e) {
      error = errorInfo(e).code;
    }
    return { i, delayMs, called, settled: performance.now(), error, request: undefined };
  });
  const calls = await Promise.all(pending);

  const seen = traced().filter((e) => e.start >= t0);
  for (const call of calls) call.request = seen.find((e) => e.demoCall === String(call.i));
  const lastSettled = Math.max(...calls.map((c) => c.settled));
  const refreshes = seen.filter((e) => e.refresh && e.start <= lastSettled);

  draw(t0, calls, refreshes);
  const errors = [...new Set(calls.flatMap((c) => (c.error ? [c.error] : [])))];
  const failed = calls.filter((c) => c.error !== null).length;
  const totalMs = lastSettled - t0;
  const adopted = refreshes.length === 0 && tokenBefore !== undefined && getSession()?.accessToken !== tokenBefore;
  caption.replaceChildren(...captionText(calls.length, refreshes, calls, dueInMs, adopted, failed, errors, totalMs));
  caption.hidden = false;
  foot.hidden = false;
  return { calls: calls.length, ok: calls.length - failed, failed, refreshes: refreshes.length, totalMs, errors };
}

function captionText(
  n: number,
  refreshes: TraceEntry[],
  calls: Call[],
  dueInMs: number,
  /** No refresh from this tab, yet a new token: another tab refreshed and this one adopted it. */
  adopted: boolean,
  failed: number,
  errors: string[],
  totalMs: number,
): (string | Node)[] {
  const parts: (string | Node)[] = [];
  if (refreshes.length === 1) {
    const [refresh] = refreshes;
    const waited = calls.filter((c) => c.request && refresh?.end != null && c.request.start >= refresh.end - 1).length;
    parts.push(h("strong", {}, `${n} requests, 1 refresh shared by all`));
    parts.push(
      ` — ${waited === n ? "every call" : `${waited} calls`} waited for it, then went out with the new token.`,
    );
  } else if (refreshes.length === 0) {
    if (adopted) {
      parts.push(h("strong", {}, "Refreshed by another tab"));
      parts.push(" — this tab sent no refresh request and adopted the new token from the shared session.");
    } else {
      if (dueInMs > 0) {
        parts.push(h("strong", {}, `No refresh was due (next due in ${mmss(dueInMs)})`));
      } else if (app.mode === "memory" && !app.holdsRefreshToken) {
        parts.push(h("strong", {}, "No refresh token in this tab, and no other tab refreshed for it"));
      } else {
        parts.push(h("strong", {}, "No refresh was made"));
      }
      parts.push(` — ${n} requests went straight out.`);
    }
  } else {
    parts.push(h("strong", {}, `${n} requests, ${refreshes.length} refreshes`));
  }
  parts.push(` All done in ${Math.round(totalMs)} ms.`);
  if (failed > 0) parts.push(" ", h("span", { class: "bad" }, `${failed} failed (${errors.join(", ")}).`));
  return parts;
}

/** Round step for the time axis: at most 6 intervals, so that the labels fit on a phone too. */
function tickStep(spanMs: number): number {
  for (const step of [25, 50, 100, 200, 250, 500, 1000, 2000, 5000]) if (spanMs / step <= 6) return step;
  return 10_000;
}

function draw(t0: number, calls: Call[], refreshes: TraceEntry[]): void {
  const ends = [...calls.map((c) => Math.max(c.settled, c.request?.end ?? 0)), ...refreshes.map((r) => r.end ?? 0)];
  const span = Math.max(50, Math.max(...ends) - t0);
  const step = tickStep(span);
  const axisMax = Math.ceil(span / step) * step;
  const pct = (t: number): number => (Math.max(0, t - t0) / axisMax) * 100;
  const seg = (cls: string, from: number, to: number, title: string): HTMLElement =>
    h("span", {
      class: `tl-seg ${cls}`,
      style: `left:${pct(from).toFixed(3)}%;width:${(pct(to) - pct(from)).toFixed(3)}%`,
      title,
    });
  /** A label beside a segment: after it, or before it when the segment reaches far right. */
  const note = (from: number, to: number, ...text: (string | Node)[]): HTMLElement =>
    h(
      "span",
      {
        class: "tl-note",
        style: pct(to) < 60 ? `left:calc(${pct(to).toFixed(3)}% + 8px)` : `right:calc(${(100 - pct(from)).toFixed(3)}% + 8px)`,
      },
      ...text,
    );
  const ms = (t: number): string => `${Math.round(t - t0)} ms`;

  const ticks = h("div", { class: "tl-ticks" });
  for (let t = 0; t <= axisMax; t += step) {
    ticks.append(h("span", { class: "tl-tick", style: `left:${((t / axisMax) * 100).toFixed(3)}%` }, String(t)));
  }
  const rows: HTMLElement[] = [h("div", { class: "tl-axis", "aria-hidden": "true" }, h("span", { class: "tl-label" }, "ms"), ticks)];

  for (const r of refreshes) {
    const end = r.end ?? r.start;
    const status = r.failed ? "failed" : String(r.status);
    rows.push(
      h(
        "div",
        { class: "tl-row tl-row-refresh", "data-row": "refresh" },
        h("span", { class: "tl-label" }, "refresh"),
        h(
          "div",
          { class: "tl-track" },
          seg(
            r.failed || (r.status ?? 0) >= 400 ? "seg-err" : "seg-refresh",
            r.start,
            end,
            `${r.method} ${r.path} → ${status}, ${ms(r.start)} → ${ms(end)}`,
          ),
          note(
            r.start,
            end,
            h("span", { class: "tl-note-path" }, `${r.method} ${r.path} · `),
            `${status} · ${Math.round(end - r.start)} ms`,
          ),
        ),
      ),
    );
  }

  for (const c of calls) {
    const track = h("div", { class: "tl-track" });
    const req = c.request;
    if (req) {
      const end = req.end ?? c.settled;
      const ok = !req.failed && req.status !== null && req.status < 300;
      if (req.start - c.called >= 0.5) {
        track.append(seg("seg-wait", c.called, req.start, `#${c.i} waited ${ms(c.called)} → ${ms(req.start)}`));
      }
      track.append(
        seg(
          ok ? "seg-ok" : "seg-err",
          req.start,
          end,
          `#${c.i} GET ${req.path} → ${req.failed ? "failed" : req.status}, ${ms(req.start)} → ${ms(end)}`,
        ),
      );
    } else {
      // Nothing was sent (e.g. not_signed_in): a red tick where the call gave up.
      track.append(seg("seg-err seg-none", c.called, c.settled, `#${c.i}: ${c.error ?? "no request"}`));
    }
    rows.push(
      h(
        "div",
        { class: "tl-row", "data-row": "call", "data-call": String(c.i) },
        h("span", { class: "tl-label" }, `#${c.i}`),
        track,
      ),
    );
  }

  timeline.style.setProperty("--grid", `${((step / axisMax) * 100).toFixed(4)}%`);
  timeline.classList.add("drawn");
  timeline.replaceChildren(...rows);
}
