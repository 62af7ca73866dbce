// My keys: the caller's own API keys — create one (scope, optional expiry; the secret is shown
// once, with a copy button), see when each was last used, revoke.
import { whoAmI } from "../account.js";
import { api } from "../api.js";
import { confirmDialog } from "../dialogs.js";
import { h, replace } from "../dom.js";
import { formatDate, t } from "../i18n.js";

// What each choice in the scope list grants (ingest includes read; admin, everything).
const SCOPES = {
  read: ["read"],
  ingest: ["read", "ingest"],
  admin: ["read", "ingest", "admin"],
};

function scopesOf(key) {
  const list = key.scopes || (key.scope ? [key.scope] : []);
  return list.join(", ");
}

export async function mount(main) {
  const who = await whoAmI();
  const message = h("p", { role: "status", class: "small" });
  const secret = h("div", { id: "new-key", hidden: true });
  const list = h("div", { class: "table-wrap" });
  const name = h("input", { id: "key-name", required: true, maxlength: 100, autocomplete: "off" });
  const scope = h(
    "select",
    { id: "key-scope" },
    Object.keys(SCOPES)
      .filter((s) => s !== "admin" || (who && who.admin))
      .map((s) => h("option", { value: s }, t(`keys.scope.${s}`))),
  );
  const expires = h("input", { id: "key-expires", type: "date", "aria-describedby": "key-expires-help" });

  const form = h(
    "form",
    {
      class: "card stack key-form",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = { name: name.value.trim(), scopes: SCOPES[scope.value] };
        // The end of the chosen day, in the user's time zone.
        if (expires.value) body.expires_at = new Date(`${expires.value}T23:59:59`).toISOString();
        try {
          const made = await api("POST", "/api/keys", { json: body });
          showSecret(made.key, body.name);
          name.value = "";
          expires.value = "";
          message.textContent = "";
          await refresh();
        } catch (err) {
          message.textContent = err.message;
          message.className = "error small";
        }
      },
    },
    h("h2", {}, t("keys.create")),
    h("div", { class: "field" }, h("label", { for: "key-name" }, t("keys.name")), name),
    h("div", { class: "field" }, h("label", { for: "key-scope" }, t("keys.scope")), scope),
    h(
      "div",
      { class: "field" },
      h("label", { for: "key-expires" }, t("keys.expires")),
      expires,
      h("p", { id: "key-expires-help", class: "small muted" }, t("keys.expiresHelp")),
    ),
    h("button", { class: "primary" }, t("keys.create")),
    message,
  );

  function showSecret(value, label) {
    const copied = h("span", { role: "status", class: "small" });
    replace(
      secret,
      h(
        "div",
        { class: "card notice stack" },
        h("p", {}, h("strong", {}, t("keys.once", { name: label }))),
        h("code", { class: "mono secret", id: "new-key-value" }, value),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            {
              type: "button",
              class: "small",
              id: "copy-key",
              onclick: async () => {
                try {
                  await navigator.clipboard.writeText(value);
                  copied.textContent = t("chat.copied");
                } catch {
                  copied.textContent = t("keys.copyFailed");
                }
              },
            },
            t("chat.copy"),
          ),
          copied,
        ),
      ),
    );
    secret.hidden = false;
  }

  async function refresh() {
    let keys;
    try {
      keys = await api("GET", "/api/keys");
    } catch (err) {
      replace(list, h("p", { class: "error" }, err.message));
      return;
    }
    if (!keys.length) {
      replace(list, h("p", { class: "muted" }, t("keys.none")));
      return;
    }
    const cell = (key, value) => h("td", { dataset: { label: t(key) } }, value || "–");
    const columns = ["keys.name", "keys.scope", "keys.prefix", "keys.created", "keys.expires", "keys.lastUsed", "docs.actions"];
    replace(
      list,
      h(
        "table",
        { id: "key-list" },
        h("caption", { class: "sr-only" }, t("keys.title")),
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(c))))),
        h(
          "tbody",
          {},
          keys.map((k) =>
            h(
              "tr",
              { dataset: { id: String(k.id) }, class: k.revoked ? "revoked" : null },
              h("th", { scope: "row" }, k.name || "–"),
              cell("keys.scope", scopesOf(k)),
              cell("keys.prefix", k.prefix ? `${k.prefix}…` : null),
              cell("keys.created", formatDate(k.created_at)),
              cell("keys.expires", k.expires_at ? formatDate(k.expires_at) : t("keys.never")),
              cell("keys.lastUsed", k.last_used_at ? formatDate(k.last_used_at) : t("keys.unused")),
              h(
                "td",
                { class: "actions" },
                k.revoked
                  ? h("span", { class: "badge revoked" }, t("keys.revoked"))
                  : h(
                  "button",
                  {
                    type: "button",
                    class: "danger small",
                    "aria-label": `${t("keys.revoke")}: ${k.name}`,
                    onclick: async () => {
                      if (!(await confirmDialog(t("keys.revokeConfirm", { name: k.name }), { okLabel: t("keys.revoke") }))) return;
                      try {
                        await api("DELETE", `/api/keys/${encodeURIComponent(k.id)}`);
                      } catch (err) {
                        message.textContent = err.message;
                        message.className = "error small";
                      }
                      refresh();
                    },
                  },
                  t("keys.revoke"),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  replace(main, h("h1", {}, t("keys.title")), h("p", { class: "muted" }, t("keys.intro")), secret, form, list);
  await refresh();
  return null;
}
