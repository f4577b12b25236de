// The network card: the last requests the tracing fetch saw (never their headers or bodies).
import { byId, clock, h } from "./dom";
import { onTrace, traced, type TraceEntry } from "./trace";

const SHOWN = 10;
const body = byId("log-body");
let scheduled = false;

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
  const rows = all
    .slice(-SHOWN)
    .reverse()
    .map((e) =>
      h(
        "tr",
        { class: e.refresh ? "is-refresh" : undefined },
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
    rows.push(h("tr", {}, h("td", { colspan: "4", class: "muted small" }, `and ${all.length - SHOWN} earlier`)));
  }
  body.replaceChildren(...rows);
}
