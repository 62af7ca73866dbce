// Resources: the chat backend chain in order with circuit states; add, edit, reorder, remove,
// test (the doctor's diagnosis); the embedding endpoint and why it is fixed per collection.
import { api } from "../api.js";
import { confirmDialog } from "../dialogs.js";
import { h, replace, uid } from "../dom.js";
import { t } from "../i18n.js";
import { embeddingInfo } from "./collections.js";

// What the user picks → the registered kind and the usual address of that server.
export const KINDS = {
  vllm: { kind: "openai", example: "http://localhost:8000/v1" },
  ollama: { kind: "ollama", example: "http://localhost:11434/v1" },
  llamacpp: { kind: "openai", example: "http://localhost:8080/v1" },
  openai: { kind: "openai", example: "https://api.openai.com/v1" },
  other: { kind: "openai", example: "http://HOST:PORT/v1" },
};

/** http://host:8000/v1 from what people paste: no scheme, trailing slashes, a route suffix. */
export function normaliseBaseUrl(raw) {
  let text = raw.trim();
  if (!text) return "";
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  const u = new URL(text);
  let path = u.pathname.replace(/\/+$/, "").replace(/\/(chat\/completions|completions|models|embeddings)$/, "");
  if (path === "") path = "/v1";
  return `${u.protocol}//${u.host}${path}`;
}

function modelIds(body) {
  const list = Array.isArray(body) ? body : body.data || body.models || [];
  return list.map((m) => (typeof m === "string" ? m : m.id || m.name)).filter(Boolean);
}

function flavourOf(backend) {
  if (backend.kind === "ollama") return "ollama";
  if ((backend.base_url || "").includes("api.openai.com")) return "openai";
  return "other"; // vLLM, llama.cpp and the rest all register as `openai`
}

export function diagnosis(report) {
  return h(
    "ul",
    { class: "diagnosis" },
    report.checks.map((c) =>
      h(
        "li",
        { class: c.ok ? "ok" : "bad" },
        h("span", { class: "badge" }, c.ok ? "✓" : "✗"),
        " ",
        h("strong", {}, c.name),
        ": ",
        t(c.ok ? "res.testOk" : "res.testFail", { detail: c.detail }),
        c.fix ? h("p", { class: "fix" }, t("res.fix", { fix: c.fix })) : null,
      ),
    ),
  );
}

export async function mount(main) {
  const chain = h("div", { class: "chain" });
  const message = h("p", { role: "status", class: "small" });
  const formHolder = h("div");
  let backends = [];
  // Test results by backend, kept across re-renders of the list.
  const reports = new Map();

  async function refresh() {
    try {
      backends = await api("GET", "/api/resources/backends");
    } catch (err) {
      replace(chain, h("p", { class: "error", role: "alert" }, err.message));
      return;
    }
    const stored = backends.filter((b) => b.source === "store");
    replace(
      chain,
      h(
        "ol",
        { class: "backend-list" },
        backends.map((b, i) => {
          const result = h("div", { class: "test-result", "aria-live": "polite" }, reports.get(b.name) || null);
          const storedIndex = stored.indexOf(b);
          const editable = b.source === "store";
          return h(
            "li",
            { class: "card backend", dataset: { name: b.name } },
            h(
              "div",
              { class: "row spread" },
              h("strong", { class: "backend-name" }, `${i + 1}. ${b.name}`),
              h("span", { class: `state state-${b.state || "none"}` }, b.state ? t(`res.state.${b.state}`) : "–"),
            ),
            h(
              "dl",
              { class: "facts" },
              h("dt", {}, t("res.kind")), h("dd", {}, flavourOf(b) === "other" ? t("res.kind.compatible") : t(`res.kind.${flavourOf(b)}`)),
              h("dt", {}, t("res.baseUrl")), h("dd", { class: "mono" }, b.base_url || "–"),
              h("dt", {}, t("res.model")), h("dd", {}, b.model || "–"),
              h("dt", {}, t("res.key")), h("dd", {}, b.has_api_key ? "••••" : "–"),
              h("dt", {}, t("res.source")), h("dd", {}, t(`res.source.${b.source}`)),
            ),
            b.error ? h("p", { class: "error small" }, b.error) : null,
            h(
              "div",
              { class: "row" },
              h(
                "button",
                {
                  type: "button",
                  class: "primary small",
                  disabled: b.state === "broken",
                  onclick: async () => {
                    replace(result, h("p", { class: "muted" }, t("res.testing")));
                    try {
                      const report = await api("POST", `/api/resources/backends/${encodeURIComponent(b.name)}/test`);
                      reports.set(b.name, diagnosis(report));
                      replace(result, reports.get(b.name));
                    } catch (err) {
                      replace(result, h("p", { class: "error" }, err.message));
                    }
                  },
                },
                t("res.test"),
              ),
              editable ? h("button", { type: "button", class: "small", onclick: () => showForm(b, storedIndex) }, t("res.edit")) : null,
              editable && storedIndex > 0 ? h("button", { type: "button", class: "small", "aria-label": `${t("res.up")}: ${b.name}`, onclick: () => move(stored, storedIndex, -1) }, "↑") : null,
              editable && storedIndex < stored.length - 1 ? h("button", { type: "button", class: "small", "aria-label": `${t("res.down")}: ${b.name}`, onclick: () => move(stored, storedIndex, 1) }, "↓") : null,
              editable
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "danger small",
                      onclick: async () => {
                        if (!(await confirmDialog(t("res.removeConfirm", { name: b.name }), { okLabel: t("res.remove") }))) return;
                        await api("DELETE", `/api/resources/backends/${encodeURIComponent(b.name)}`).catch((err) => { message.textContent = err.message; });
                        reports.delete(b.name);
                        refresh();
                      },
                    },
                    t("res.remove"),
                  )
                : h("span", { class: "small muted" }, t("res.settingsOnly")),
            ),
            result,
          );
        }),
      ),
    );
  }

  async function move(stored, index, delta) {
    const names = stored.map((b) => b.name);
    const [name] = names.splice(index, 1);
    names.splice(index + delta, 0, name);
    try {
      await api("PUT", "/api/resources/order", { json: { names } });
    } catch (err) {
      message.textContent = err.message;
    }
    refresh();
  }

  function showForm(existing, storedIndex) {
    const ids = { name: uid("be"), kind: uid("be"), url: uid("be"), key: uid("be"), model: uid("be"), models: uid("be") };
    const name = h("input", { id: ids.name, required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", value: existing ? existing.name : "", readonly: !!existing, autocomplete: "off" });
    const flavour = h(
      "select",
      { id: ids.kind, onchange: () => { url.placeholder = KINDS[flavour.value].example; } },
      Object.keys(KINDS).map((k) => h("option", { value: k, selected: existing ? flavourOf(existing) === k : k === "vllm" }, t(`res.kind.${k}`))),
    );
    const url = h("input", { id: ids.url, required: true, inputmode: "url", value: existing ? existing.base_url || "" : "", placeholder: KINDS[flavour.value].example, autocomplete: "off" });
    url.addEventListener("change", () => {
      try {
        url.value = normaliseBaseUrl(url.value);
      } catch {
        // left as typed: the server names what is wrong with it
      }
    });
    const key = h("input", { id: ids.key, type: "password", autocomplete: "new-password", placeholder: existing && existing.has_api_key ? t("res.keySet") : "" });
    const modelList = h("datalist", { id: ids.models });
    const model = h("input", { id: ids.model, list: ids.models, value: existing ? existing.model || "" : "", autocomplete: "off" });
    const modelNote = h("span", { class: "small muted", "aria-live": "polite" });
    const formMessage = h("p", { class: "small", role: "status" });
    const loadModels = h(
      "button",
      {
        type: "button",
        class: "small",
        onclick: async () => {
          modelNote.textContent = t("common.loading");
          try {
            url.value = normaliseBaseUrl(url.value);
            const body = await api("POST", "/api/resources/models", {
              json: { kind: KINDS[flavour.value].kind, base_url: url.value, ...(key.value ? { api_key: key.value } : {}) },
            });
            if (body.base_url) url.value = body.base_url;
            const found = modelIds(body);
            replace(modelList, found.map((m) => h("option", { value: m })));
            if (found.length && !model.value) model.value = found[0];
            modelNote.textContent = t("res.modelsFound", { count: found.length });
          } catch (err) {
            modelNote.textContent = err.message;
          }
        },
      },
      t("res.loadModels"),
    );
    const form = h(
      "form",
      {
        class: "card stack backend-form",
        onsubmit: async (ev) => {
          ev.preventDefault();
          let base;
          try {
            base = normaliseBaseUrl(url.value);
          } catch {
            base = url.value;
          }
          const body = { kind: KINDS[flavour.value].kind, base_url: base, model: model.value || null };
          if (key.value) body.api_key = key.value;
          const stored = backends.filter((b) => b.source === "store").length;
          body.position = existing ? storedIndex : stored;
          try {
            await api("PUT", `/api/resources/backends/${encodeURIComponent(name.value)}`, { json: body });
            replace(formHolder);
            await refresh();
          } catch (err) {
            formMessage.textContent = err.message;
            formMessage.className = "error small";
          }
        },
      },
      h("h2", {}, existing ? `${t("res.edit")}: ${existing.name}` : t("res.add")),
      h("div", { class: "field" }, h("label", { for: ids.name }, t("res.name")), name),
      h("div", { class: "field" }, h("label", { for: ids.kind }, t("res.kind")), flavour),
      h("div", { class: "field" }, h("label", { for: ids.url }, t("res.baseUrl")), url),
      h("div", { class: "field" }, h("label", { for: ids.key }, t("res.key")), key, h("p", { class: "small muted" }, t("res.keyHelp"))),
      h("div", { class: "field" }, h("label", { for: ids.model }, t("res.model")), h("div", { class: "row" }, model, loadModels), modelNote, modelList),
      h("div", { class: "row" }, h("button", { class: "primary" }, t("common.save")), h("button", { type: "button", onclick: () => replace(formHolder) }, t("common.cancel"))),
      formMessage,
    );
    replace(formHolder, form);
    name.focus();
  }

  const embedding = await embeddingInfo();
  const embeddingCard = h(
    "section",
    { class: "card", "aria-labelledby": "emb-title" },
    h("h2", { id: "emb-title" }, t("res.embedding")),
    embedding
      ? h(
          "dl",
          { class: "facts" },
          h("dt", {}, t("res.model")), h("dd", { class: "embedding-model" }, embedding.model),
          h("dt", {}, t("coll.dimension")), h("dd", {}, String(embedding.dimension)),
          h("dt", {}, t("res.runsOn")), h("dd", { class: "mono" }, embedding.base_url || embedding.backend),
          h("dt", {}, t("coll.title")), h("dd", {}, String(embedding.collections)),
        )
      : h("p", { class: "muted" }, "–"),
    h("p", { class: "small" }, t("res.embeddingWhy")),
  );

  replace(
    main,
    h("h1", {}, t("res.title")),
    h("section", { "aria-labelledby": "chain-title" },
      h("h2", { id: "chain-title" }, t("res.chain")),
      h("p", { class: "small muted" }, t("res.chainHelp")),
      chain,
      h("button", { type: "button", class: "primary", onclick: () => showForm(null, 0) }, t("res.add")),
      message,
      formHolder,
    ),
    embeddingCard,
  );
  await refresh();
  return null;
}
