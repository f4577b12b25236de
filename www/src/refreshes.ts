// The Refreshes card: one row per new access token of the signed-in session, saying which tab
// refreshed it. fd-fetch shares one session among an origin's tabs and only one of them sends each
// refresh; the others adopt the new token from it. A row is "sent by this tab" when this tab's own
// refresh request brought the token (see `refreshSentHere`), else "adopted from another tab".
import { getSession, onSessionChange, type FdSession } from "fd-fetch";
import { byId, clock, fingerprint, h, tokenSubject } from "./dom";
import { refreshSentHere } from "./trace";

type Source = "this-tab" | "other-tab";

interface Row {
  /** Date.now() when the new token arrived. */
  at: number;
  source: Source;
  fingerprint: string;
}

const LABEL: Record<Source, string> = {
  "this-tab": "sent by this tab",
  "other-tab": "adopted from another tab",
};
const SHOWN = 8;

const list = byId("refresh-log");
const tally = byId("refresh-tally");
const rows: Row[] = [];
let previous: FdSession | null = null;

/** Follows the session from now on. Call once, after configure(). */
export function startRefreshLog(): void {
  previous = getSession();
  onSessionChange((session) => {
    const before = previous;
    previous = session;
    // null → a session is a sign-in (here or in another tab): a new session starts a new list.
    if (session === null || before === null || !sameUser(before, session)) {
      if (rows.length > 0) {
        rows.length = 0;
        render();
      }
      return;
    }
    if (session.accessToken === before.accessToken) return;
    rows.push({
      at: Date.now(),
      source: refreshSentHere() ? "this-tab" : "other-tab",
      fingerprint: fingerprint(session.accessToken),
    });
    render();
  });
  render();
}

/** Whether `b` continues `a`'s session: same partner, and the same user when the tokens say so. */
function sameUser(a: FdSession, b: FdSession): boolean {
  if (a.partnerId !== b.partnerId) return false;
  const [x, y] = [tokenSubject(a.accessToken), tokenSubject(b.accessToken)];
  return x === null || y === null || x === y;
}

function render(): void {
  const sent = rows.filter((r) => r.source === "this-tab").length;
  tally.replaceChildren(
    "sent ",
    h("strong", {}, String(sent)),
    " · adopted ",
    h("strong", {}, String(rows.length - sent)),
  );
  if (rows.length === 0) {
    list.replaceChildren(
      h("li", { class: "refresh-empty" }, "None yet in this session. Each new access token shows here, with the tab that fetched it."),
    );
    return;
  }
  const items = rows
    .slice(-SHOWN)
    .reverse()
    .map((r) =>
      h(
        "li",
        { "data-source": r.source },
        h("span", { class: "refresh-time" }, clock(r.at)),
        h("span", { class: `pill ${r.source}` }, LABEL[r.source]),
        h("span", { class: "refresh-token muted small" }, "token ", h("code", {}, r.fingerprint)),
      ),
    );
  if (rows.length > SHOWN) {
    items.push(h("li", { class: "refresh-more muted small" }, `and ${rows.length - SHOWN} earlier`));
  }
  list.replaceChildren(...items);
}
