// The sharing dialog of a collection (owners only): who has which role, add a user or a group
// with a role, change or remove one. Names for the picker come from /api/users and /api/groups.
import { api, collectionPath } from "./api.js";
import { h, replace, uid } from "./dom.js";
import { t } from "./i18n.js";

const ROLES = ["viewer", "editor", "owner"];

function roleSelect(id, value) {
  return h(
    "select",
    { id },
    ROLES.map((r) => h("option", { value: r, selected: r === value }, t(`share.role.${r}`))),
  );
}

async function names(path) {
  try {
    return (await api("GET", path)).map((x) => x.name);
  } catch {
    return []; // the picker still takes a typed name
  }
}

/** Opens the dialog; resolves when it closes. */
export function shareDialog(collection) {
  return new Promise((resolve) => {
    const members = h("ul", { class: "plain members", id: "share-members" });
    const message = h("p", { role: "status", class: "small" });
    const type = h(
      "select",
      { id: "share-type", onchange: () => fillPicker() },
      h("option", { value: "user" }, t("share.user")),
      h("option", { value: "group" }, t("share.group")),
    );
    const picker = h("datalist", { id: "share-names" });
    const name = h("input", { id: "share-name", list: "share-names", required: true, autocomplete: "off" });
    const role = roleSelect("share-role", "viewer");

    async function fillPicker() {
      const found = await names(type.value === "group" ? "/api/groups" : "/api/users");
      replace(picker, found.map((n) => h("option", { value: n })));
    }

    async function save(member, newRole) {
      await api("PUT", collectionPath(collection, "/members"), { json: { type: member.type, name: member.name, role: newRole } });
    }

    async function refresh() {
      let rows;
      try {
        rows = await api("GET", collectionPath(collection, "/members"));
      } catch (err) {
        replace(members, h("li", { class: "error" }, err.message));
        return;
      }
      if (!rows.length) {
        replace(members, h("li", { class: "muted" }, t("share.nobody")));
        return;
      }
      replace(
        members,
        rows.map((m) => {
          const id = uid("member-role");
          const select = roleSelect(id, m.role);
          select.addEventListener("change", async () => {
            try {
              await save(m, select.value);
              message.textContent = t("share.saved");
              message.className = "small";
            } catch (err) {
              message.textContent = err.message;
              message.className = "error small";
            }
            refresh();
          });
          return h(
            "li",
            { class: "member row spread", dataset: { type: m.type, name: m.name } },
            h("span", { class: "member-name" }, h("span", { class: "badge" }, t(`share.${m.type}`)), " ", m.name),
            h(
              "span",
              { class: "row" },
              h("label", { for: id, class: "sr-only" }, `${t("share.role")}: ${m.name}`),
              select,
              h(
                "button",
                {
                  type: "button",
                  class: "danger small",
                  "aria-label": `${t("share.remove")}: ${m.name}`,
                  onclick: async () => {
                    try {
                      await api("DELETE", collectionPath(collection, `/members/${encodeURIComponent(m.type)}/${encodeURIComponent(m.name)}`));
                    } catch (err) {
                      message.textContent = err.message;
                      message.className = "error small";
                    }
                    refresh();
                  },
                },
                t("share.remove"),
              ),
            ),
          );
        }),
      );
    }

    const add = h(
      "form",
      {
        class: "stack share-add",
        onsubmit: async (ev) => {
          ev.preventDefault();
          try {
            await save({ type: type.value, name: name.value.trim() }, role.value);
            name.value = "";
            message.textContent = t("share.saved");
            message.className = "small";
          } catch (err) {
            message.textContent = err.message;
            message.className = "error small";
          }
          refresh();
        },
      },
      h("h3", {}, t("share.add")),
      h(
        "div",
        { class: "share-grid" },
        h("div", { class: "field" }, h("label", { for: "share-type" }, t("share.kind")), type),
        h("div", { class: "field" }, h("label", { for: "share-name" }, t("share.name")), name, picker),
        h("div", { class: "field" }, h("label", { for: "share-role" }, t("share.role")), role),
      ),
      h("button", { class: "primary", id: "share-submit" }, t("share.submit")),
    );

    const dialog = h(
      "dialog",
      { class: "modal share", "aria-labelledby": "share-title" },
      h("h2", { id: "share-title" }, t("share.title", { name: collection })),
      h("p", { class: "small muted" }, t("share.roles")),
      members,
      add,
      message,
      h("div", { class: "row end" }, h("button", { type: "button", onclick: () => dialog.close() }, t("common.close"))),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    fillPicker();
    refresh();
  });
}
