// The network card: the requests the tracing fetch saw (never their headers or bodies). The latest
// SHOWN first; a toggle under them shows every request the trace kept, newest first, and back.
import { byId, clock, h } from "./dom";
import { onTrace, traced, type TraceEntry } from "./trace";

const SHOWN = 10;
const body = byId("log-body");
let scheduled = false;
/** Whether every kept request is shown, not only the latest SHOWN. */
let expanded = false;

export function startLog(): void {
  onTrace(() => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      render();
    }, 60);
  });
  render();
}

function statusCell(e: TraceEntry): HTMLElement {
  if (e.failed) return h("span", { class: "status s-err" }, "failed");
  if (e.status === null) return h("span", { class: "status s-wait" }, "…");
  return h("span", { class: `status ${e.status < 300 ? "s-ok" : "s-err"}` }, String(e.status));
}

function render(): void {
  const all = traced();
  if (all.length === 0) return;
  const rows = (expanded ? all : all.slice(-SHOWN))
    .slice()
    .reverse()
    .map((e) =>
      h(
        "tr",
        { class: e.refresh ? "is-refresh" : undefined, "data-request": String(e.id) },
        h("td", { class: "muted nowrap" }, clock(e.wall)),
        h(
          "td",
          { class: "req" },
          h("span", { class: "verb" }, e.method),
          " ",
          h("code", {}, e.path),
          e.refresh ? h("span", { class: "pill refresh" }, "refresh") : null,
        ),
        h("td", {}, statusCell(e)),
        h("td", { class: "num muted" }, e.end === null ? "" : String(Math.round(e.end - e.start))),
      ),
    );
  if (all.length > SHOWN) {
    const toggle = h(
      "button",
      { type: "button", class: "btn link small", id: "log-toggle", "aria-expanded": String(expanded) },
      expanded ? `Show the latest ${SHOWN} only` : `Show all ${all.length} (${all.length - SHOWN} earlier)`,
    );
    toggle.addEventListener("click", () => {
      expanded = !expanded;
      render();
      byId("log-toggle").focus();
    });
    rows.push(h("tr", { class: "log-more" }, h("td", { colspan: "4" }, toggle)));
  }
  body.replaceChildren(...rows);
}
