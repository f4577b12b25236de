// Small DOM and formatting helpers shared by the views.
import { FdError } from "fd-fetch";

/** The element with this id; the page's markup is static, so a missing one is a bug. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

type Child = Node | string | null | undefined | false;

/** `h("span", { class: "pill" }, "text")`: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined) el.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

/** `m:ss` of a duration (rounded up, so a countdown reaches 0:00 when it is due). */
export function mmss(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

/** `14:03:27` in local time. */
export function clock(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString([], { hour12: false });
}

/**
 * A short, stable fingerprint of a token (FNV-1a, 32 bits, hex). Shows that a token changed
 * without putting any of it on screen: a JWT's first characters are the same for every token.
 */
export function fingerprint(token: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) {
    hash ^= token.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0") + "…";
}

/**
 * The `sub` claim of a JWT access token (who it is for), or null if the token is not a JWT with one.
 * Read to tell a refresh from another user's sign-in; nothing of it is shown.
 */
export function tokenSubject(token: string): string | null {
  const payload = token.split(".")[1];
  if (payload === undefined) return null;
  try {
    const text = atob(payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "="));
    const claims: unknown = JSON.parse(text);
    const sub = claims !== null && typeof claims === "object" ? (claims as Record<string, unknown>)["sub"] : undefined;
    return typeof sub === "string" ? sub : null;
  } catch {
    return null;
  }
}

export interface ErrorInfo {
  /** `session_expired`, or the error's name for a non-FdError. */
  code: string;
  status: number | undefined;
  /** The server's `message` if it sent one, else the error's own. */
  message: string;
  /** Whether `message` came from the server. */
  fromServer: boolean;
  /** The server's own error code (`{ error }` of the body), if it sent one. */
  serverError: string | undefined;
  body: unknown;
}

const stringField = (body: unknown, name: string): string | undefined => {
  if (body === null || typeof body !== "object" || !(name in body)) return undefined;
  const value: unknown = (body as Record<string, unknown>)[name];
  return typeof value === "string" ? value : undefined;
};

/** Plain data of anything a call rejected with. The server's own `message` wins if it sent one. */
export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof FdError) {
    const { body } = e;
    const server = stringField(body, "message");
    const message = server ?? e.message;
    return { code: e.code, status: e.status, message, fromServer: server !== undefined, serverError: stringField(body, "error"), body };
  }
  const none = { status: undefined, fromServer: false, serverError: undefined, body: undefined };
  if (e instanceof Error) return { code: e.name, message: e.message, ...none };
  return { code: "error", message: String(e), ...none };
}

export const json = (value: unknown): string => JSON.stringify(value, null, 2);
