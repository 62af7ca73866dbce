// How this browser proves who it is: an API key kept for this tab (sessionStorage), or the
// session cookie that single sign-on sets. With the cookie, every state-changing request
// carries X-CSRF-Token, copied from the readable ragserve_csrf cookie (another site cannot
// read it). A 401 opens the sign-in screen: the SSO button when the server has it, and a key.
import { h } from "./dom.js";
import { t } from "./i18n.js";

const STORE = "ragserve.apiKey";
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let asking = null;
let config = null;
// A refused single sign-on comes back as ?signin_error=...: shown once on the sign-in screen.
let failure = new URLSearchParams(location.search).get("signin_error");
if (failure) history.replaceState(null, "", location.pathname + location.hash);

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

export function usingKey() {
  return sessionStorage.getItem(STORE) !== null;
}

/** Headers for a request: the key, or in session mode the CSRF token on state changes. */
export function authHeaders(method = "GET") {
  const key = sessionStorage.getItem(STORE);
  if (key) return { Authorization: `Bearer ${key}` };
  const csrf = cookie("ragserve_csrf");
  return csrf && STATE_CHANGING.has(method.toUpperCase()) ? { "X-CSRF-Token": csrf } : {};
}

/** How this server lets people sign in ({oidc, login_url, key_login}); asked once. */
export async function authConfig() {
  if (config === null) {
    try {
      const response = await fetch("/api/auth/config");
      config = response.ok ? await response.json() : { oidc: false, login_url: null, key_login: true };
    } catch {
      return { oidc: false, login_url: null, key_login: true };
    }
  }
  return config;
}

/** After a 401: the sign-in screen (one for all requests waiting); true when a key was given. */
export function askForKey() {
  const hadKey = usingKey();
  sessionStorage.removeItem(STORE);
  if (!asking) {
    asking = authConfig()
      .then((cfg) => showSignIn(hadKey, cfg))
      .finally(() => {
        asking = null;
      });
  }
  return asking;
}

/** Sign out: the session ends at the server (and at the provider when it offers that). */
export async function signOut() {
  if (usingKey()) {
    sessionStorage.removeItem(STORE);
    location.reload();
    return;
  }
  let next = null;
  try {
    const response = await fetch("/auth/logout", { method: "POST", headers: authHeaders("POST") });
    if (response.ok) next = (await response.json()).logout_url;
  } catch {
    next = null;
  }
  if (next) location.assign(next);
  else location.reload();
}

function showSignIn(wrong, cfg) {
  return new Promise((resolve) => {
    const input = h("input", { type: "password", id: "api-key", autocomplete: "off", required: true });
    const back = location.pathname + location.hash;
    const sso = cfg.oidc
      ? h(
          "div",
          { class: "stack sso" },
          h("a", { class: "button primary wide", id: "sso-login", href: `${cfg.login_url}?return_to=${encodeURIComponent(back)}` }, t("auth.sso")),
          h("p", { class: "or small muted" }, t("auth.or")),
        )
      : null;
    const dialog = h(
      "dialog",
      { class: "modal signin", "aria-labelledby": "auth-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "auth-title" }, t("auth.signIn")),
        failure ? h("p", { class: "error", id: "signin-error" }, t("auth.failed", { message: failure })) : null,
        wrong ? h("p", { class: "error" }, t("auth.wrong")) : h("p", {}, t(cfg.oidc ? "auth.textSso" : "auth.text")),
        sso,
        h("div", { class: "field" }, h("label", { for: "api-key" }, t("auth.useKey")), input),
        h(
          "div",
          { class: "row end" },
          h("button", { type: "button", value: "cancel", onclick: () => dialog.close("cancel") }, t("common.cancel")),
          h("button", { class: cfg.oidc ? "" : "primary", value: "ok" }, t("auth.submit")),
        ),
      ),
    );
    failure = null;
    dialog.addEventListener("close", () => {
      const key = input.value.trim();
      dialog.remove();
      if (dialog.returnValue === "ok" && key) {
        sessionStorage.setItem(STORE, key);
        resolve(true);
      } else {
        resolve(false);
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    (cfg.oidc ? dialog.querySelector("#sso-login") : input).focus();
  });
}
