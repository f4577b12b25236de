// The /login view: username, password and partner id, then the MFA step for accounts that need it.
import { completeMfa, signIn, type SignInResult } from "fd-fetch";
import { app, clearSessionEnded, sessionEnded } from "./app";
import { byId, errorInfo, h } from "./dom";

interface DemoUser {
  password: string;
  partner: string;
}
const DEMO_USERS: Record<string, DemoUser> = {
  alice: { password: "wonderland", partner: "acme-eu" },
  bob: { password: "builder", partner: "builders-uk" },
};

const loginForm = byId<HTMLFormElement>("login-form");
const mfaForm = byId<HTMLFormElement>("mfa-form");
const loginSubmit = byId<HTMLButtonElement>("login-submit");
const mfaSubmit = byId<HTMLButtonElement>("mfa-submit");
const errorBox = byId("login-error");
const notice = byId("login-notice");
const title = byId("login-title");
const sub = byId("login-sub");

const field = (form: HTMLFormElement, name: string): HTMLInputElement => {
  const el = form.elements.namedItem(name);
  if (!(el instanceof HTMLInputElement)) throw new Error(`missing input ${name}`);
  return el;
};
const username = field(loginForm, "username");
const password = field(loginForm, "password");
const partner = field(loginForm, "partner");
const code = field(mfaForm, "code");

/** Whether the partner id was typed by hand (then the username no longer picks it). */
let partnerEdited = false;

export function initLogin(onSignedIn: () => void): void {
  const finish = (result: SignInResult): void => {
    if (result.status === "mfa_required") {
      showStep("mfa");
      return;
    }
    app.holdsRefreshToken = true;
    clearSessionEnded();
    password.value = "";
    code.value = "";
    showStep("password");
    onSignedIn();
  };

  username.addEventListener("input", () => {
    const user = DEMO_USERS[username.value.trim().toLowerCase()];
    if (user && !partnerEdited) partner.value = user.partner;
  });
  partner.addEventListener("input", () => {
    partnerEdited = partner.value.trim() !== "";
  });

  for (const button of document.querySelectorAll<HTMLButtonElement>("[data-fill]")) {
    button.addEventListener("click", () => {
      const name = button.dataset["fill"] ?? "";
      const user = DEMO_USERS[name];
      if (!user) return;
      showStep("password");
      username.value = name;
      password.value = user.password;
      partner.value = user.partner;
      partnerEdited = false;
      hideError();
      loginSubmit.focus();
    });
  }

  loginForm.addEventListener("submit", (event) => {
    event.preventDefault();
    // The user is signing in again: "your session ended" is old news from here on, whether this
    // attempt fails, asks for the MFA code, or signs in.
    dismissSessionEnded();
    void busy(loginSubmit, "Signing in…", async () => {
      const credentials = { username: username.value.trim(), password: password.value };
      finish(await signIn(credentials, { partnerId: partner.value.trim() }));
    });
  });

  mfaForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(mfaSubmit, "Verifying…", async () => {
      finish(await completeMfa({ code: code.value.trim() }));
    });
  });

  byId("mfa-back").addEventListener("click", () => {
    showStep("password");
    hideError();
  });
}

/** Hides the "session ended" notice for good (until a session ends again). */
function dismissSessionEnded(): void {
  clearSessionEnded();
  notice.hidden = true;
}

/** Shows the view as it should be on arrival: the notice if the session ended, the first step. */
export function enterLogin(): void {
  notice.hidden = !sessionEnded();
  if (mfaForm.hidden) hideError();
}

/** Back to the first step (after a mode switch, which drops a pending challenge). */
export function resetLogin(): void {
  showStep("password");
  hideError();
}

function showStep(step: "password" | "mfa"): void {
  const mfa = step === "mfa";
  if (mfa) dismissSessionEnded();
  loginForm.hidden = mfa;
  mfaForm.hidden = !mfa;
  title.textContent = mfa ? "Verify it's you" : "Sign in";
  sub.replaceChildren(
    ...(mfa
      ? ["Step 2 of 2: ", h("code", {}, "completeMfa({ code })"), " sends it with the challenge's session."]
      : ["to the partner API, with ", h("code", {}, "signIn()"), "."]),
  );
  if (mfa) {
    hideError();
    code.value = "";
    code.focus();
  }
}

async function busy(button: HTMLButtonElement, label: string, work: () => Promise<void>): Promise<void> {
  const idle = button.textContent ?? "";
  button.disabled = true;
  button.textContent = label;
  hideError();
  try {
    await work();
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
    button.textContent = idle;
  }
}

function showError(e: unknown): void {
  const info = errorInfo(e);
  const refused = info.code === "mfa_failed" || info.code === "sign_in_failed";
  const what = info.code === "mfa_failed" ? "That code was not accepted." : refused ? "Sign-in refused." : "Could not sign in.";
  errorBox.replaceChildren(
    h("strong", {}, what),
    info.fromServer || !refused ? ` ${info.message}` : "",
    h(
      "span",
      { class: "error-code" },
      h("code", {}, info.code),
      info.status !== undefined ? ` · HTTP ${info.status}` : "",
      info.serverError !== undefined ? ` · ${info.serverError}` : "",
    ),
  );
  errorBox.hidden = false;
}

function hideError(): void {
  errorBox.hidden = true;
  errorBox.replaceChildren();
}
