// Collections: create (showing the embedding model it will use), counts and sizes, your role,
// sharing (owners) and delete.
import { api, collectionPath } from "../api.js";
import { confirmDialog } from "../dialogs.js";
import { formatBytes, h, replace } from "../dom.js";
import { formatDate, t } from "../i18n.js";
import { shareDialog } from "../sharing.js";
import { loadCollections, setCollection } from "../state.js";

export async function embeddingInfo() {
  try {
    return await api("GET", "/api/resources/embedding");
  } catch {
    return null;
  }
}

export async function mount(main) {
  const list = h("div", { class: "table-wrap" });
  const message = h("p", { role: "status", class: "small" });
  // What a re-index is doing, above the table (the form's message is about creating).
  const status = h("p", { role: "status", class: "small", id: "coll-status" });
  const embedding = await embeddingInfo();
  const name = h("input", { id: "coll-name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,99}", autocomplete: "off", "aria-describedby": "coll-name-help" });
  const form = h(
    "form",
    {
      class: "card stack",
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          await api("POST", "/api/collections", { json: { name: name.value } });
          setCollection(name.value);
          name.value = "";
          message.textContent = "";
          await refresh();
        } catch (err) {
          message.textContent = err.message;
          message.className = "error small";
        }
      },
    },
    h("h2", {}, t("coll.create")),
    h("div", { class: "field" }, h("label", { for: "coll-name" }, t("coll.name")), name, h("p", { id: "coll-name-help", class: "small muted" }, t("coll.nameHelp"))),
    h(
      "p",
      { class: "small" },
      `${t("coll.model")}: `,
      h("strong", { class: "embedding-model" }, embedding ? embedding.model : "–"),
      embedding && embedding.dimension ? ` (${t("coll.dimension")} ${embedding.dimension})` : "",
    ),
    h("button", { class: "primary" }, t("coll.create")),
    message,
  );

  async function refresh() {
    let rows;
    try {
      rows = await loadCollections(true);
    } catch (err) {
      replace(list, h("p", { class: "error" }, err.message));
      return;
    }
    if (!rows.length) {
      replace(list, h("p", { class: "muted" }, t("common.none")));
      return;
    }
    // Servers with user accounts say the caller's role; those without share nothing.
    const roles = rows.some((c) => c.role);
    const cell = (key, value) => h("td", { dataset: { label: t(key) } }, value === undefined || value === null ? "–" : String(value));
    replace(
      list,
      h(
        "table",
        {},
        h("caption", { class: "sr-only" }, t("coll.title")),
        h(
          "thead",
          {},
          h("tr", {}, [t("coll.name"), t("coll.model"), t("coll.documents"), t("coll.ready"), t("coll.chunks"), t("coll.size"), t("coll.keyword"), t("coll.created"), roles ? t("coll.role") : null, t("docs.actions")].filter(Boolean).map((c) => h("th", { scope: "col" }, c))),
        ),
        h(
          "tbody",
          {},
          rows.map((c) =>
            h(
              "tr",
              { dataset: { name: c.name } },
              h("th", { scope: "row" }, c.name),
              cell("coll.model", `${c.embedding_model} (${c.dimension})`),
              cell("coll.documents", c.documents ? Object.values(c.documents).reduce((a, b) => a + b, 0) : undefined),
              cell("coll.ready", c.documents_ready),
              cell("coll.chunks", c.chunks),
              cell("coll.size", c.stored_bytes !== undefined ? formatBytes(c.stored_bytes) : undefined),
              cell("coll.keyword", c.sparse_encoding || t("coll.keywordNone")),
              cell("coll.created", formatDate(c.created_at)),
              roles ? cell("coll.role", c.role ? t(`share.role.${c.role}`) : null) : null,
              h(
                "td",
                { class: "actions" },
                h("a", { href: "#/documents", onclick: () => setCollection(c.name) }, t("coll.open")),
                c.role && c.role !== "owner"
                  ? null
                  : h("button", { type: "button", class: "small reindex", "aria-label": `${t("coll.reindex")}: ${c.name}`, onclick: () => reindex(c.name) }, t("coll.reindex")),
                c.role === "owner"
                  ? h("button", { type: "button", class: "small share-open", "aria-label": `${t("share.open")}: ${c.name}`, onclick: () => shareDialog(c.name) }, t("share.open"))
                  : null,
                c.role && c.role !== "owner"
                  ? null
                  : h(
                  "button",
                  {
                    type: "button",
                    class: "danger small",
                    "aria-label": `${t("common.delete")}: ${c.name}`,
                    onclick: async () => {
                      if (!(await confirmDialog(t("coll.deleteConfirm", { name: c.name }), { typeName: c.name }))) return;
                      try {
                        await api("DELETE", collectionPath(c.name));
                      } catch (err) {
                        message.textContent = err.message;
                      }
                      refresh();
                    },
                  },
                  t("common.delete"),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  // A re-index runs in the server; this page follows it until it ends. Leaving the page
  // stops the polling (the cleanup below), not the re-index.
  let following = null;
  async function reindex(collection) {
    if (!(await confirmDialog(t("coll.reindexConfirm", { name: collection }), { okLabel: t("coll.reindex"), danger: false }))) return;
    const path = `${collectionPath(collection)}/reindex`;
    let run;
    try {
      run = await api("POST", path);
    } catch (err) {
      say(err.message, "error small");
      return;
    }
    following = collection;
    while (following === collection) {
      if (run.status === "running") {
        say(t("coll.reindexRunning", { name: collection, done: run.done, documents: run.documents }), "small");
      } else {
        // "none": the server restarted meanwhile and forgot the run (nothing switched).
        const error = run.status === "none" ? t("coll.reindexLost") : run.error || "";
        say(
          run.status === "done"
            ? t("coll.reindexDone", { name: collection, chunks: run.chunks })
            : t("coll.reindexFailed", { name: collection, error }),
          run.status === "done" ? "small" : "error small",
        );
        await refresh();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      try {
        run = await api("GET", path);
      } catch (err) {
        say(err.message, "error small");
        return;
      }
    }
  }

  function say(text, cls) {
    status.textContent = text;
    status.className = cls;
  }

  replace(main, h("h1", {}, t("coll.title")), form, status, list);
  await refresh();
  return () => {
    following = null;
  };
}
