// Retrieval test: the passages a question would be answered from, with scores, document, page.
import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { collectionPicker, currentCollection, loadCollections } from "../state.js";

export async function mount(main) {
  await loadCollections(true);
  const results = h("div", { class: "results", "aria-live": "polite" });
  const query = h("input", { id: "ret-query", type: "search", required: true, autocomplete: "off" });
  const topK = h("input", { id: "ret-k", type: "number", min: 1, max: 100, value: "5", inputmode: "numeric" });
  const submit = h("button", { class: "primary" }, t("ret.search"));
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: async (ev) => {
        ev.preventDefault();
        submit.disabled = true;
        replace(results, h("p", { class: "muted" }, t("common.loading")));
        try {
          const found = await api("POST", "/api/search", {
            json: { collection: currentCollection(), query: query.value, top_k: Number(topK.value) || 5 },
          });
          show(found);
        } catch (err) {
          replace(results, h("p", { class: "error", role: "alert" }, err.message));
        } finally {
          submit.disabled = false;
        }
      },
    },
    collectionPicker(),
    h("div", { class: "field" }, h("label", { for: "ret-query" }, t("ret.query")), query),
    h("div", { class: "row" }, h("div", { class: "field inline" }, h("label", { for: "ret-k" }, t("ret.topK")), topK), submit),
  );

  function show(found) {
    const notice = found.indexing.length
      ? h("p", { class: "notice" }, t("chat.indexing", { names: found.indexing.join(", ") }))
      : null;
    if (!found.results.length) {
      replace(results, notice, h("p", {}, t("ret.none")));
      return;
    }
    replace(
      results,
      notice,
      h("p", { class: "muted" }, t("ret.results", { count: found.results.length })),
      h(
        "ol",
        { class: "passages" },
        found.results.map((r) =>
          h(
            "li",
            { class: "card" },
            h(
              "div",
              { class: "row spread" },
              h("strong", { class: "doc-name" }, r.source),
              h("span", { class: "score", title: t("cite.score") }, `${t("cite.score")} ${r.score.toFixed(3)}`),
            ),
            r.page || r.heading
              ? h("p", { class: "small muted" }, [r.page ? `${t("cite.page")} ${r.page}` : null, r.heading].filter(Boolean).join(" · "))
              : null,
            h("blockquote", { class: "passage" }, r.text),
          ),
        ),
      ),
    );
  }

  replace(main, h("h1", {}, t("ret.title")), h("p", { class: "muted" }, t("ret.help")), form, results);
  query.focus();
  return null;
}
