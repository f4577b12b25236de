// Type test of the package's public API, as the contract (CONTRACT.md) states it. Checked with
// `tsc -p types-test` (strict); never run. Every `// @ts-expect-error` line must be an error: an
// unused one fails the check too, so loosened types are caught as well as wrong ones.
import {
  completeMfa,
  configure,
  ensureFresh,
  fd,
  fdResponse,
  FdError,
  getSession,
  onSessionChange,
  setSession,
  signIn,
  signOut,
  createClient,
  onRefresh,
  startAutoRefresh,
  stopAutoRefresh,
  attachAxios,
  type AutoRefreshOptions,
  type FdClient,
  type RefreshEvent,
  type SignInCredentials,
  type FdErrorCode,
  type FdOptions,
  type FdSession,
  type FdSessionInput,
  type SignInOptions,
  type SignInResult,
} from "fd-fetch";

// ---- helpers: exact type equality --------------------------------------------------------------
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectTrue<T extends true>(_: T): void {}

// ---- exact signatures -------------------------------------------------------------------------
type PublicSession = { accessToken: string; expiresAt: number; partnerId: string };
type AllCodes =
  | "bad_config"
  | "not_configured"
  | "not_signed_in"
  | "bad_path"
  | "session_expired"
  | "refresh_failed"
  | "sign_in_failed"
  | "mfa_failed"
  | "http"
  | "network"
  | "bad_response"
  | "bad_request"
  | "unsupported";

// A mismatch below reads "Type 'false' does not satisfy the constraint 'true'"; the line names the export.
expectTrue<Equal<FdErrorCode, AllCodes>>(true);
expectTrue<Equal<ReturnType<typeof configure>, Promise<void>>>(true);
expectTrue<Equal<Parameters<typeof configure>, [options: FdOptions]>>(true);
expectTrue<Equal<ReturnType<typeof signIn>, Promise<SignInResult>>>(true);
expectTrue<Equal<ReturnType<typeof completeMfa>, Promise<SignInResult>>>(true);
expectTrue<Equal<ReturnType<typeof ensureFresh>, Promise<{ accessToken: string; partnerId: string }>>>(true);
expectTrue<Equal<ReturnType<typeof fdResponse>, Promise<Response>>>(true);
expectTrue<Equal<ReturnType<typeof getSession>, FdSession | null>>(true);
expectTrue<Equal<ReturnType<typeof setSession>, void>>(true);
expectTrue<Equal<ReturnType<typeof signOut>, void>>(true);
expectTrue<Equal<ReturnType<typeof onSessionChange>, () => void>>(true);
expectTrue<Equal<FdSession, PublicSession>>(true);
expectTrue<Equal<SignInOptions, { partnerId: string }>>(true);
expectTrue<Equal<SignInResult["status"], "signed_in" | "mfa_required">>(true);
expectTrue<Equal<FdSessionInput, { accessToken: string; refreshToken?: string; expiresAt?: number; partnerId: string }>>(
  true,
);

type Me = { user: string; partner: string };

export async function usage(): Promise<void> {
  // ---- configure: every option of the contract ----
  const options: FdOptions = {
    baseUrl: "https://api.example.com/v2",
    authUrl: "https://example.com/auth-proxy",
    refreshTokenIn: "cookie",
    refreshThresholdMs: 300_000,
    loginUrl: "/login",
    onSessionExpired: () => {},
    storageKey: "fd.session",
    refreshTimeoutMs: 10_000,
    fetch: globalThis.fetch,
  };
  await configure(options);
  await configure({ baseUrl: "https://api.example.com", refreshTokenIn: "memory" });
  await configure({ baseUrl: "https://api.example.com", fetch: (input) => fetch(input) });
  const configured: Promise<void> = configure({ baseUrl: "https://api.example.com" });
  await configured.then((v) => {
    expectTrue<Equal<typeof v, void>>(true);
  });

  // @ts-expect-error baseUrl is required
  await configure({});
  // @ts-expect-error refreshTokenIn is "memory" or "cookie"
  await configure({ baseUrl: "https://api.example.com", refreshTokenIn: "localStorage" });
  // @ts-expect-error refreshThresholdMs is a number
  await configure({ baseUrl: "https://api.example.com", refreshThresholdMs: "5m" });
  // @ts-expect-error unknown options are caught
  await configure({ baseUrl: "https://api.example.com", baseURL: "typo" });

  // ---- signIn / completeMfa: narrowing on status ----
  const result = await signIn({ username: "alice", password: "wonderland" }, { partnerId: "p-1" });
  if (result.status === "signed_in") {
    const s: FdSession = result.session;
    const token: string = s.accessToken;
    void token;
    // @ts-expect-error no challenge once signed in
    void result.challenge;
  } else {
    expectTrue<Equal<typeof result.status, "mfa_required">>(true);
    const challenge: string = result.challenge;
    void challenge;
    // @ts-expect-error no session while a challenge is pending
    void result.session;
    const after = await completeMfa({ code: "123456" });
    if (after.status === "signed_in") {
      const expiresAt: number = after.session.expiresAt;
      void expiresAt;
    }
  }
  // completeMfa resolves with the SignInResult itself (not a promise of one).
  await completeMfa({ code: "123456" }).then((r) => {
    const status: "signed_in" | "mfa_required" = r.status;
    void status;
  });
  await signIn({ username: "alice", password: "wonderland" }, { partnerId: "p-1" }).then((r) => {
    expectTrue<Equal<typeof r, SignInResult>>(true);
  });

  // @ts-expect-error the partner id is required
  await signIn({ username: "alice", password: "wonderland" });
  // @ts-expect-error the options need partnerId
  await signIn({ username: "alice", password: "wonderland" }, {});
  // @ts-expect-error partnerId is a string
  await signIn({ username: "alice", password: "wonderland" }, { partnerId: 42 });

  // ---- fd: generic result, init passed through ----
  const me = await fd<Me>("/me");
  expectTrue<Equal<typeof me, Me>>(true);
  const user: string = me.user;
  void user;
  const anything = await fd("/me");
  expectTrue<Equal<typeof anything, unknown>>(true);
  // @ts-expect-error fd's default result is unknown, not any
  void anything.user;
  // @ts-expect-error the result is typed as T
  const wrong: number = await fd<Me>("/me");
  void wrong;
  // @ts-expect-error path is a string
  await fd(42);

  const controller = new AbortController();
  await fd<null>("/orders", {
    method: "POST",
    body: JSON.stringify({ id: 1 }),
    headers: { "Content-Type": "application/json" },
    signal: controller.signal,
    credentials: "include",
  });
  await fd("/upload", { method: "PUT", body: new FormData(), headers: new Headers({ "X-Trace": "1" }) });
  await fd("/upload", { method: "PUT", body: new Blob(["x"]), headers: [["X-Trace", "1"]] });
  await fd("/q", { signal: AbortSignal.timeout(1000), cache: "no-store" });

  const res = await fdResponse("/files/1", { method: "GET" });
  const blob: Blob = await res.blob();
  const stream: ReadableStream<Uint8Array> | null = (await fdResponse("/files/2")).body;
  void blob;
  void stream;

  // ---- FdError: instanceof narrowing, code union ----
  try {
    await fd("/orders");
  } catch (e) {
    if (e instanceof FdError) {
      const err: Error = e;
      const code: FdErrorCode = e.code;
      const message: string = e.message;
      const name: string = e.name;
      const status: number | undefined = e.status;
      const body: unknown = e.body;
      void [err, code, message, name, status, body];
      if (e.code === "http" && e.status === 409) {
        /* conflict */
      }
      // @ts-expect-error "unauthorized" is not one of the contract's codes
      if (e.code === "unauthorized") {
        /* never */
      }
      // @ts-expect-error status is possibly undefined
      const sure: number = e.status;
      void sure;
      switch (e.code) {
        case "bad_config":
        case "not_configured":
        case "not_signed_in":
        case "bad_path":
        case "session_expired":
        case "refresh_failed":
        case "sign_in_failed":
        case "mfa_failed":
        case "http":
        case "network":
        case "bad_response":
        case "bad_request":
        case "unsupported":
          break;
        default: {
          const exhaustive: never = e.code;
          void exhaustive;
        }
      }
    }
  }

  // ---- sessions ----
  const session = getSession();
  // @ts-expect-error getSession() may be null
  void session.accessToken;
  if (session !== null) {
    const s: PublicSession = session;
    void s;
    // @ts-expect-error the public session never has a refresh token
    void session.refreshToken;
  }

  setSession({ accessToken: "a.b.c", partnerId: "p-1" });
  setSession({ accessToken: "a.b.c", refreshToken: "r", expiresAt: Date.now() + 3_600_000, partnerId: "p-1" });
  // @ts-expect-error partnerId is required
  setSession({ accessToken: "a.b.c" });
  // @ts-expect-error expiresAt is ms since the epoch, a number
  setSession({ accessToken: "a.b.c", partnerId: "p-1", expiresAt: new Date() });

  const unsubscribe = onSessionChange((s) => {
    expectTrue<Equal<typeof s, FdSession | null>>(true);
    if (s) {
      const partner: string = s.partnerId;
      void partner;
    }
  });
  unsubscribe();
  // @ts-expect-error the listener takes the session, not a string
  onSessionChange((s: string) => void s);

  const fresh = await ensureFresh();
  const auth: string = `Bearer ${fresh.accessToken}`;
  const partnerId: string = fresh.partnerId;
  void [auth, partnerId];

  signOut();
  // @ts-expect-error signOut returns nothing to await on
  await signOut().then(() => {});

  const opts: SignInOptions = { partnerId: "p-2" };
  await signIn({ username: "bob", password: "x" }, opts);
}

// ---- issue 9: instances, watching refreshes, background refresh, axios, typed credentials ----
expectTrue<Equal<ReturnType<typeof createClient>, Promise<FdClient>>>(true);
expectTrue<Equal<Parameters<typeof createClient>, [options: FdOptions]>>(true);
expectTrue<Equal<ReturnType<typeof onRefresh>, () => void>>(true);
expectTrue<Equal<ReturnType<typeof startAutoRefresh>, void>>(true);
expectTrue<Equal<ReturnType<typeof stopAutoRefresh>, void>>(true);
expectTrue<Equal<ReturnType<typeof attachAxios>, () => void>>(true);
expectTrue<Equal<AutoRefreshOptions, { intervalMs?: number; thresholdMs?: number }>>(true);
expectTrue<Equal<RefreshEvent["outcome"], "fresh" | "transient_failure" | "dead">>(true);
expectTrue<Equal<RefreshEvent["source"], "this_tab" | "other_tab">>(true);
expectTrue<Equal<RefreshEvent["durationMs"], number>>(true);
expectTrue<Equal<SignInCredentials, { username: string; password: string } & Record<string, unknown>>>(true);
// Every module-level export is a method of a client, with the same type, plus close().
expectTrue<Equal<FdClient["fd"], typeof fd>>(true);
expectTrue<Equal<FdClient["signIn"], typeof signIn>>(true);
expectTrue<Equal<ReturnType<FdClient["close"]>, void>>(true);

export async function usageOfClients(): Promise<void> {
  const eu = await createClient({ baseUrl: "https://eu.api.example.com", storageKey: "fd.eu" });
  const us = await createClient({ baseUrl: "https://us.api.example.com", storageKey: "fd.us" });
  await eu.signIn({ username: "alice", password: "wonderland" }, { partnerId: "p-1" });
  await eu.signIn({ username: "alice", password: "wonderland", deviceKey: "d-1" }, { partnerId: "p-1" });
  // @ts-expect-error credentials need a password
  await us.signIn({ username: "bob" }, { partnerId: "p-2" });
  // @ts-expect-error username is a string
  await signIn({ username: 1, password: "x" }, { partnerId: "p-2" });
  const { fd: euFd } = eu; // methods are bound: destructuring works
  const orders = await euFd<{ id: number }[]>("/orders");
  expectTrue<Equal<typeof orders, { id: number }[]>>(true);

  const stop = eu.onRefresh((e) => {
    expectTrue<Equal<typeof e, RefreshEvent>>(true);
    if (e.outcome === "transient_failure") console.warn(`refresh failed after ${e.durationMs} ms`);
  });
  stop();
  // @ts-expect-error "failed" is not an outcome
  onRefresh((e) => e.outcome === "failed");

  eu.startAutoRefresh();
  eu.startAutoRefresh({ intervalMs: 30_000 });
  startAutoRefresh({ intervalMs: 60_000, thresholdMs: 600_000 });
  // @ts-expect-error intervalMs is a number
  startAutoRefresh({ intervalMs: "1m" });
  // @ts-expect-error unknown options are caught
  startAutoRefresh({ everyMs: 1000 });
  stopAutoRefresh();

  // An axios instance, typed structurally (axios is not a dependency of the package).
  const axiosLike = {
    interceptors: {
      request: { use: (_f?: (c: any) => any, _r?: (e: any) => any) => 0, eject: (_id: number) => {} },
      response: { use: (_f?: (c: any) => any, _r?: (e: any) => any) => 1, eject: (_id: number) => {} },
    },
  };
  const detach = us.attachAxios(axiosLike);
  detach();
  // @ts-expect-error not an axios instance
  attachAxios({});
  eu.close();
  us.close();
}
