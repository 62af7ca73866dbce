// Chat: collection picker, stored conversations, the answer streamed token by token, Stop,
// [n] chips that open the cited passage (and PDF page) in a side panel, copy and regenerate.
import { ApiError, api, stream } from "../api.js";
import { confirmDialog, promptDialog } from "../dialogs.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { collectionPicker, currentCollection, loadCollections } from "../state.js";
import { openCitation } from "../citations.js";

// [1], [1, 2] and [1;2], as the server reads them (rag/citations.py).
const MARKER = /\[(\d+(?:\s*[,;]\s*\d+)*)\]/g;

function chip(cite, onChip) {
  return h(
    "button",
    {
      type: "button",
      class: "chip",
      "aria-label": `${t("chat.citation", { n: cite.n })}: ${cite.source}`,
      onclick: (ev) => onChip(cite, ev.currentTarget),
    },
    `[${cite.n}]`,
  );
}

/**
 * Plain text with the highlighted spans wrapped in <mark>. Spans count code points (the
 * server's offsets), so the text is walked as code points, not UTF-16 units.
 */
function markedNodes(text, offset, highlights) {
  if (!highlights || !highlights.length) return [text];
  const chars = Array.from(text);
  const nodes = [];
  let cursor = 0;
  for (const { start, end } of highlights) {
    const s = Math.max(start - offset, cursor);
    const e = Math.min(end - offset, chars.length);
    if (e <= s) continue;
    nodes.push(chars.slice(cursor, s).join(""), h("mark", {}, chars.slice(s, e).join("")));
    cursor = e;
  }
  nodes.push(chars.slice(cursor).join(""));
  return nodes;
}

/**
 * Answer text with each [n] that has a source turned into a chip; the rest stays text,
 * with the words of an extractive answer that match the question marked.
 */
export function answerNodes(text, citations, onChip, highlights = []) {
  const byN = new Map((citations || []).map((c) => [c.n, c]));
  const nodes = [];
  let last = 0;
  let lastPoint = 0; // `last` in code points, for the highlight offsets
  const piece = (end) => {
    const part = text.slice(last, end);
    nodes.push(...markedNodes(part, lastPoint, highlights));
    lastPoint += Array.from(part).length;
  };
  for (const match of text.matchAll(MARKER)) {
    const cites = match[1].split(/[,;]/).map((n) => byN.get(Number(n.trim())));
    if (cites.some((c) => !c)) continue;
    piece(match.index);
    for (const cite of cites) nodes.push(chip(cite, onChip));
    last = match.index + match[0].length;
    lastPoint += Array.from(match[0]).length;
  }
  piece(text.length);
  return nodes;
}

/** The clipboard API exists only on https and localhost; elsewhere a selection is copied. */
async function copyText(text) {
  if (navigator.clipboard) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // permission refused: fall through to the selection
    }
  }
  const area = h("textarea", { class: "sr-only", readonly: true, value: text });
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

export async function mount(main) {
  const collections = await loadCollections(true).catch((err) => err);
  if (collections instanceof Error) {
    replace(main, h("p", { class: "error", role: "alert" }, collections.message));
    return null;
  }
  let collection = currentCollection();
  let conversationId = null;
  let controller = null;
  const wide = matchMedia("(min-width: 900px)").matches;

  const convList = h("ul", { class: "conv-list" });
  const convNote = h("p", { class: "muted small" });
  const thread = h("div", { class: "thread", "aria-live": "polite", "aria-busy": "false" });
  const input = h("textarea", {
    id: "chat-input",
    rows: 2,
    placeholder: t("chat.placeholder"),
    onkeydown: (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    },
  });
  const sendButton = h("button", { class: "primary", type: "submit" }, t("chat.send"));
  const stopButton = h(
    "button",
    { type: "button", class: "danger", hidden: true, onclick: () => controller && controller.abort() },
    t("chat.stop"),
  );
  const form = h(
    "form",
    {
      class: "composer",
      onsubmit: (ev) => {
        ev.preventDefault();
        const message = input.value.trim();
        if (!message || controller) return;
        input.value = "";
        ask(message);
      },
    },
    h("label", { for: "chat-input", class: "sr-only" }, t("chat.input")),
    input,
    h("div", { class: "composer-actions" }, stopButton, sendButton),
  );

  const emptyNote = () => h("p", { class: "muted empty" }, t("chat.empty", { collection: collection || "–" }));

  function newConversation() {
    if (controller) controller.abort();
    conversationId = null;
    replace(thread, emptyNote());
    markActive();
    input.focus();
  }

  function markActive() {
    for (const li of convList.children) {
      const button = li.querySelector(".conv-open");
      if (button) button.setAttribute("aria-current", li.dataset.id === conversationId ? "true" : "false");
    }
  }

  async function refreshConversations() {
    if (!collection) return;
    let items;
    try {
      items = await api("GET", "/api/conversations", { query: { collection, limit: 50 } });
    } catch (err) {
      convNote.textContent = err instanceof ApiError && (err.status === 404 || err.status === 405) ? t("chat.noConvList") : err.message;
      return;
    }
    convNote.textContent = "";
    const list = Array.isArray(items) ? items : items.items || items.data || [];
    replace(
      convList,
      list.map((c) => {
        const title = c.title || t("chat.untitled");
        return h(
          "li",
          { dataset: { id: c.id } },
          h("button", { type: "button", class: "conv-open", onclick: () => openConversation(c.id) }, title),
          h(
            "div",
            { class: "conv-actions" },
            h(
              "button",
              {
                type: "button",
                class: "icon",
                "aria-label": `${t("chat.rename")}: ${title}`,
                onclick: async () => {
                  const next = await promptDialog(t("chat.renamePrompt"), c.title || "");
                  if (next === null) return;
                  await api("PATCH", `/api/conversations/${c.id}`, { json: { title: next } }).catch(showError);
                  refreshConversations();
                },
              },
              "✎",
            ),
            h(
              "button",
              {
                type: "button",
                class: "icon",
                "aria-label": `${t("common.delete")}: ${title}`,
                onclick: async () => {
                  if (!(await confirmDialog(t("chat.deleteConfirm", { title })))) return;
                  await api("DELETE", `/api/conversations/${c.id}`).catch(showError);
                  if (conversationId === c.id) newConversation();
                  refreshConversations();
                },
              },
              "✕",
            ),
          ),
        );
      }),
    );
    markActive();
  }

  function showError(err) {
    thread.append(h("p", { class: "error", role: "alert" }, err.message));
  }

  async function openConversation(id) {
    if (controller) controller.abort();
    let conv;
    try {
      conv = await api("GET", `/api/conversations/${id}`);
    } catch (err) {
      showError(err);
      return;
    }
    conversationId = id;
    replace(thread);
    for (const turn of conv.messages) {
      if (turn.role === "user") thread.append(userBubble(turn.content));
      else {
        const bubble = assistantBubble();
        replace(bubble.body, answerNodes(turn.content, [], () => {}));
        thread.append(bubble.el);
      }
    }
    markActive();
  }

  function userBubble(text) {
    return h("article", { class: "msg user" }, h("h3", { class: "sr-only" }, t("chat.you")), h("p", { class: "body" }, text));
  }

  function assistantBubble() {
    const body = h("p", { class: "body" });
    const extra = h("div", { class: "extra" });
    const el = h("article", { class: "msg assistant" }, h("h3", { class: "sr-only" }, t("chat.assistant")), body, extra);
    return { el, body, extra };
  }

  async function ask(message) {
    if (!collection) return;
    if (thread.querySelector(".empty")) replace(thread);
    thread.append(userBubble(message));
    const bubble = assistantBubble();
    bubble.el.classList.add("streaming");
    thread.append(bubble.el);
    // Tokens are appended to one text node: no re-layout of what came before.
    const live = document.createTextNode("");
    bubble.body.append(live);
    controller = new AbortController();
    stopButton.hidden = false;
    sendButton.disabled = true;
    thread.setAttribute("aria-busy", "true");
    let citations = null;
    let answer = null;
    let done = null;
    let failed = null;
    try {
      await stream("POST", "/api/chat", {
        json: { message, collection, ...(conversationId ? { conversation_id: conversationId } : {}) },
        signal: controller.signal,
        onEvent: (name, data) => {
          if (name === "token") live.appendData(data.text);
          else if (name === "meta" && data.conversation_id && conversationId !== data.conversation_id) {
            conversationId = data.conversation_id;
          } else if (name === "citations") citations = data;
          else if (name === "done") {
            done = data;
            // The highlights' offsets are into the stored text.
            if (data.answer_mode === "extractive") answer = data.answer;
          }
          else if (name === "error") failed = data.error || data;
        },
      });
    } catch (err) {
      if (err.name === "AbortError") {
        bubble.extra.append(h("p", { class: "muted stopped" }, t("chat.stopped")));
      } else failed = err;
    } finally {
      controller = null;
      stopButton.hidden = true;
      sendButton.disabled = false;
      thread.setAttribute("aria-busy", "false");
      bubble.el.classList.remove("streaming");
    }
    // The stored answer: where the model wrote no markers, the server has added them.
    const text = answer ?? live.data;
    if (citations) finishAnswer(bubble, text, citations, message, done);
    if (failed) {
      bubble.extra.append(
        h(
          "div",
          { class: "error", role: "alert" },
          h("p", {}, t("chat.streamError", { message: failed.message || String(failed) })),
          h("button", { type: "button", onclick: () => { bubble.el.remove(); ask(message); } }, t("common.retry")),
        ),
      );
    }
    refreshConversations();
  }

  function finishAnswer(bubble, text, data, message, done) {
    const onChip = (cite, chip) => openCitation(panel, cite, collection, chip);
    const extractive = (done?.answer_mode ?? data.answer_mode) === "extractive";
    const highlights = extractive ? (done?.highlights ?? data.highlights ?? []) : [];
    replace(bubble.body, answerNodes(text, data.citations, onChip, highlights));
    if (extractive) {
      bubble.el.classList.add("extractive");
      bubble.body.before(h("p", { class: "answer-mode", title: t("chat.extractiveHint") }, t("chat.extractive")));
    }
    const copy = h(
      "button",
      {
        type: "button",
        class: "small",
        onclick: async () => {
          await copyText(text);
          copy.textContent = t("chat.copied");
          setTimeout(() => { copy.textContent = t("chat.copy"); }, 1500);
        },
      },
      t("chat.copy"),
    );
    const regenerate = h(
      "button",
      { type: "button", class: "small", onclick: () => { if (!controller) ask(message); } },
      t("chat.regenerate"),
    );
    // Every passage the model was given, cited ones first, so any can be opened.
    const cited = new Set(data.citations.map((c) => c.n));
    const all = [...data.citations, ...(data.sources || []).filter((c) => !cited.has(c.n))];
    const sources = all.length
      ? h(
          "details",
          { class: "sources", open: true },
          h("summary", {}, t("chat.sources")),
          h(
            "ol",
            {},
            all.map((c) =>
              h(
                "li",
                { class: cited.has(c.n) ? "cited" : null },
                h(
                  "button",
                  { type: "button", class: "link", onclick: (ev) => onChip(c, ev.currentTarget) },
                  `[${c.n}] ${c.source}${c.page ? ` · p. ${c.page}` : ""}`,
                ),
              ),
            ),
          ),
        )
      : null;
    const indexing = data.indexing && data.indexing.length
      ? h("p", { class: "notice", role: "status" }, t("chat.indexing", { names: data.indexing.join(", ") }))
      : null;
    bubble.extra.prepend(sources || "", h("div", { class: "row" }, copy, regenerate), indexing || "");
  }

  const panel = h("aside", { class: "cite-panel", hidden: true, "aria-labelledby": "cite-title", tabindex: "-1" });

  const sidebar = h(
    "details",
    { class: "convs", open: wide },
    h("summary", {}, t("chat.conversations")),
    h("button", { type: "button", class: "primary wide", onclick: newConversation }, t("chat.new")),
    convNote,
    convList,
  );

  if (!collection) {
    replace(main, h("h1", {}, t("chat.title")), h("p", { class: "notice" }, t("common.noCollections")));
    return null;
  }

  replace(
    main,
    h(
      "div",
      { class: "chat-layout" },
      h(
        "div",
        { class: "chat-side" },
        collectionPicker((name) => {
          collection = name;
          newConversation();
          refreshConversations();
        }),
        sidebar,
      ),
      h("section", { class: "chat-main", "aria-label": t("chat.title") }, h("h1", { class: "sr-only" }, t("chat.title")), thread, form),
      panel,
    ),
  );
  newConversation();
  refreshConversations();
  return () => controller && controller.abort();
}
