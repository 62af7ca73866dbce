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
  const mode = h(
    "select",
    { id: "ret-mode" },
    ["", "dense", "sparse", "hybrid"].map((m) => h("option", { value: m }, t(`ret.mode.${m || "default"}`))),
  );
  const rerank = h(
    "select",
    { id: "ret-rerank" },
    ["", "false"].map((r) => h("option", { value: r }, t(`ret.rerank.${r || "default"}`))),
  );
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
          const body = { collection: currentCollection(), query: query.value, top_k: Number(topK.value) || 5 };
          // Unset fields leave the choice to the collection's and the server's settings.
          if (mode.value) body.mode = mode.value;
          if (rerank.value === "false") body.rerank = false;
          const found = await api("POST", "/api/search", { json: body });
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
    h(
      "div",
      { class: "row" },
      h("div", { class: "field inline" }, h("label", { for: "ret-k" }, t("ret.topK")), topK),
      h("div", { class: "field inline" }, h("label", { for: "ret-mode" }, t("ret.mode")), mode),
      h("div", { class: "field inline" }, h("label", { for: "ret-rerank" }, t("ret.rerank")), rerank),
      submit,
    ),
  );

  function show(found) {
    const notice = [
      found.indexing.length ? h("p", { class: "notice" }, t("chat.indexing", { names: found.indexing.join(", ") })) : null,
      found.notice ? h("p", { class: "notice" }, found.notice) : null,
    ];
    if (!found.results.length) {
      replace(results, notice, h("p", {}, t("ret.none")));
      return;
    }
    replace(
      results,
      notice,
      h(
        "p",
        { class: "muted ret-summary" },
        `${t("ret.results", { count: found.results.length })} · ${t("ret.mode")}: ${t(`ret.mode.${found.mode || "default"}`)}`,
        found.reranker ? ` · ${t("ret.rerank")}: ${found.reranker}` : "",
      ),
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
              h(
                "span",
                { class: "score", title: t("cite.score") },
                `${t("cite.score")} ${r.score.toFixed(3)}`,
                r.retrieval_score == null ? "" : ` (${t("ret.before")} ${r.retrieval_score.toFixed(3)})`,
              ),
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
