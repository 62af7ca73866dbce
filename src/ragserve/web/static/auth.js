// The one place that knows about the API key: asked for once, when a request answers 401,
// and kept in sessionStorage for this tab. Users, sign-on and per-collection access replace
// this module later; nothing else reads the key.
import { h } from "./dom.js";
import { t } from "./i18n.js";

const STORE = "ragserve.apiKey";
let asking = null;

export function authHeaders() {
  const key = sessionStorage.getItem(STORE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** After a 401: ask for a key (one dialog for all requests waiting); true when one was given. */
export function askForKey() {
  const hadKey = sessionStorage.getItem(STORE) !== null;
  sessionStorage.removeItem(STORE);
  if (!asking) {
    asking = showDialog(hadKey).finally(() => {
      asking = null;
    });
  }
  return asking;
}

function showDialog(wrong) {
  return new Promise((resolve) => {
    const input = h("input", { type: "password", id: "api-key", autocomplete: "off", required: true });
    const dialog = h(
      "dialog",
      { class: "modal", "aria-labelledby": "auth-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "auth-title" }, t("auth.title")),
        h("p", {}, t(wrong ? "auth.wrong" : "auth.text")),
        h("label", { for: "api-key" }, t("auth.label")),
        input,
        h(
          "div",
          { class: "row end" },
          h("button", { type: "button", value: "cancel", onclick: () => dialog.close("cancel") }, t("common.cancel")),
          h("button", { class: "primary", value: "ok" }, t("auth.submit")),
        ),
      ),
    );
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
    input.focus();
  });
}
