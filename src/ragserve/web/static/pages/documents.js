// Documents: drop files and folders, per-file upload progress, live per-document status
// (SSE from the stored state, polling when the stream is not available), cancel, delete,
// re-index; the list is paginated, sorted and filtered by the server.
import { ApiError, api, apiWithHeaders, collectionPath, stream } from "../api.js";
import { confirmDialog } from "../dialogs.js";
import { formatBytes, h, replace } from "../dom.js";
import { formatDate, t } from "../i18n.js";
import { collectionPicker, currentCollection, loadCollections } from "../state.js";
import { UploadQueue, droppedFiles } from "../upload.js";

const PAGE = 50;
const SORTS = { "-updated": "docs.sortNewest", updated: "docs.sortOldest", name: "docs.sortName", status: "docs.sortStatus" };
const STATUSES = ["queued", "indexing", "ready", "failed"];

export async function mount(main) {
  const collections = await loadCollections(true);
  let collection = currentCollection();
  // Viewers search and chat; uploads, re-index and delete need the editor role (the server
  // refuses them anyway: this only keeps the controls away from people who cannot use them).
  const editable = () => (collections.find((c) => c.name === collection) || {}).role !== "viewer";
  const viewerNote = h("p", { class: "notice", id: "viewer-note" }, t("docs.viewerOnly"));
  const view = { offset: 0, sort: "-updated", status: "", q: "" };
  let rows = [];
  let total = 0;
  let events = null;
  let streamBroken = false;
  let pollTimer = null;
  let refreshTimer = null;
  let queue = null;

  const uploadList = h("ul", { class: "uploads", "aria-label": t("docs.uploads") });
  const uploadNote = h("p", { class: "small", role: "status" });
  const table = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "row pager" });

  async function serverLimits() {
    try {
      const s = await api("GET", "/api/ingest/status");
      // Older servers do not say; a 413 for too many files halves the batch (upload.js).
      return { maxFiles: s.max_files || 100, maxBytes: s.max_request_bytes || 256 * 2 ** 20 };
    } catch {
      return { maxFiles: 100, maxBytes: 256 * 2 ** 20 };
    }
  }
  const limits = await serverLimits();

  function makeQueue() {
    if (queue) queue.stop();
    queue = new UploadQueue({
      collection,
      maxFiles: limits.maxFiles,
      maxBatchBytes: Math.min(limits.maxBytes, 256 * 2 ** 20),
      onChange: renderUploads,
      onSent: () => {
        if (!events) listen();
        scheduleRefresh(100);
      },
    });
  }

  function renderUploads() {
    const items = queue.items;
    const waitingFor = queue.retryAt ? Math.ceil((queue.retryAt - Date.now()) / 1000) : 0;
    uploadNote.textContent = waitingFor > 0 ? t("docs.queueFull", { s: waitingFor }) : "";
    replace(
      uploadList,
      items.map((item) => {
        const pct = item.file.size ? Math.round((100 * item.loaded) / item.file.size) : 100;
        const label =
          item.state === "uploading" ? t("docs.uploading", { pct })
          : item.state === "refused" ? t("docs.refused", { message: item.message })
          : t(`docs.${item.state}`);
        return h(
          "li",
          { class: `upload ${item.state}` },
          h("span", { class: "upload-name" }, item.path),
          h("span", { class: "small muted" }, formatBytes(item.file.size)),
          h("progress", { max: 100, value: pct, "aria-label": `${item.path}: ${label}` }),
          h("span", { class: "upload-state small" }, label),
          item.state === "waiting" || item.state === "uploading" || (item.state === "sent" && item.documentId)
            ? h("button", { type: "button", class: "small", "aria-label": `${t("docs.cancel")}: ${item.path}`, onclick: () => queue.cancel(item).catch(showError) }, t("docs.cancel"))
            : null,
        );
      }),
    );
    uploadControls.hidden = items.length === 0;
  }

  function showError(err) {
    uploadNote.textContent = err.message;
  }

  const fileInput = h("input", { type: "file", multiple: true, id: "pick-files", class: "sr-only", onchange: () => { queue.add([...fileInput.files].map((file) => ({ file, path: file.name }))); fileInput.value = ""; } });
  const folderInput = h("input", { type: "file", multiple: true, webkitdirectory: true, id: "pick-folder", class: "sr-only", onchange: () => { queue.add([...folderInput.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }))); folderInput.value = ""; } });
  const dropZone = h(
    "div",
    {
      class: "drop",
      ondragover: (ev) => { ev.preventDefault(); dropZone.classList.add("over"); },
      ondragleave: () => dropZone.classList.remove("over"),
      ondrop: async (ev) => {
        ev.preventDefault();
        dropZone.classList.remove("over");
        queue.add(await droppedFiles(ev.dataTransfer));
      },
    },
    h("p", {}, t("docs.drop")),
    h(
      "p",
      { class: "row center" },
      fileInput,
      h("label", { for: "pick-files", class: "button primary" }, t("docs.pickFiles")),
      h("span", { class: "muted" }, t("docs.or")),
      folderInput,
      h("label", { for: "pick-folder", class: "button" }, t("docs.pickFolder")),
    ),
  );
  // Labels act as buttons for the hidden inputs; keep them keyboard-operable.
  for (const label of dropZone.querySelectorAll("label.button")) {
    label.tabIndex = 0;
    label.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        label.click();
      }
    });
  }
  const uploadControls = h(
    "div",
    { class: "row", hidden: true },
    h("button", { type: "button", class: "danger small", onclick: () => queue.cancelAll().then(() => scheduleRefresh(100)).catch(showError) }, t("docs.cancelAll")),
    h("button", { type: "button", class: "small", onclick: () => queue.clearFinished() }, t("docs.clearDone")),
  );

  const search = h("input", { id: "doc-q", type: "search", autocomplete: "off", oninput: () => { view.q = search.value; view.offset = 0; scheduleRefresh(250); } });
  const statusSelect = h(
    "select",
    { id: "doc-status", onchange: () => { view.status = statusSelect.value; view.offset = 0; refresh(); } },
    h("option", { value: "" }, t("docs.all")),
    STATUSES.map((s) => h("option", { value: s }, t(`status.${s}`))),
  );
  const sortSelect = h(
    "select",
    { id: "doc-sort", onchange: () => { view.sort = sortSelect.value; view.offset = 0; refresh(); } },
    Object.entries(SORTS).map(([value, key]) => h("option", { value }, t(key))),
  );

  function statusCell(d) {
    const badge = h("span", { class: `badge status-${d.status}` }, t(`status.${d.status}`));
    const progress = d.status === "indexing" && typeof d.progress === "number"
      ? h("progress", { max: 1, value: d.progress, "aria-label": t("status.indexing") })
      : null;
    const reason = d.error ? h("p", { class: d.status === "failed" ? "error small reason" : "small muted reason" }, d.error) : null;
    return h("td", { class: "status" }, badge, progress, reason);
  }

  function row(d) {
    const path = (rest) => collectionPath(collection, `/documents/${d.id}${rest}`);
    const act = (label, fn, cls = "small") =>
      h("button", { type: "button", class: cls, "aria-label": `${label}: ${d.source}`, onclick: () => fn().catch((err) => showError(err)).finally(() => scheduleRefresh(100)) }, label);
    const label = (key) => ({ dataset: { label: t(key) } });
    return h(
      "tr",
      { dataset: { id: d.id, status: d.status } },
      h("th", { scope: "row", class: "doc-name" }, d.source),
      statusCell(d),
      h("td", label("docs.chunks"), String(d.chunks)),
      h("td", label("docs.pages"), d.pages === null || d.pages === undefined ? "–" : String(d.pages)),
      h("td", { class: "small", ...label("coll.size") }, formatBytes(d.size_bytes)),
      h("td", { class: "small", ...label("docs.updated") }, formatDate(d.updated_at)),
      h(
        "td",
        { class: "actions" },
        editable() && (d.status === "queued" || d.status === "indexing") ? act(t("docs.cancel"), () => api("POST", path("/cancel"))) : null,
        editable() && (d.status === "ready" || d.status === "failed") ? act(t("docs.reindex"), () => api("POST", path("/reindex"))) : null,
        editable()
          ? act(t("common.delete"), async () => {
              if (await confirmDialog(t("docs.deleteConfirm", { name: d.source }))) await api("DELETE", path(""));
            }, "small danger")
          : null,
      ),
    );
  }

  function renderTable() {
    if (!rows.length) {
      replace(table, h("p", { class: "muted" }, t("docs.empty")));
    } else {
      replace(
        table,
        h(
          "table",
          { class: "documents" },
          h("caption", { class: "sr-only" }, t("docs.title")),
          h("thead", {}, h("tr", {}, [t("docs.name"), t("docs.status"), t("docs.chunks"), t("docs.pages"), t("coll.size"), t("docs.updated"), t("docs.actions")].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rows.map(row)),
        ),
      );
    }
    const from = total ? view.offset + 1 : 0;
    const to = Math.min(view.offset + rows.length, total);
    replace(
      pager,
      h("button", { type: "button", class: "small", disabled: view.offset === 0, onclick: () => { view.offset = Math.max(0, view.offset - PAGE); refresh(); } }, t("common.prev")),
      h("span", { class: "small", "aria-live": "polite" }, t("common.page", { from, to, total })),
      h("button", { type: "button", class: "small", disabled: to >= total, onclick: () => { view.offset += PAGE; refresh(); } }, t("common.next")),
    );
  }

  async function refresh() {
    clearTimeout(refreshTimer);
    if (!collection) return;
    try {
      const { body, headers } = await apiWithHeaders("GET", collectionPath(collection, "/documents"), {
        query: { limit: PAGE, offset: view.offset, sort: view.sort, status: view.status, q: view.q },
      });
      rows = body;
      total = Number(headers.get("X-Total-Count") ?? body.length);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        rows = [];
        total = 0;
      } else {
        replace(table, h("p", { class: "error", role: "alert" }, err.message));
        return;
      }
    }
    renderTable();
    const busy = rows.some((d) => d.status === "queued" || d.status === "indexing");
    clearTimeout(pollTimer);
    // The server ends the stream once nothing is pending: open it again when work appears;
    // poll only where the stream is not available.
    if (!events && busy) {
      if (streamBroken) pollTimer = setTimeout(refresh, 1500);
      else listen();
    }
  }

  function scheduleRefresh(ms) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, ms);
  }

  function listen() {
    if (events) events.abort();
    const controller = new AbortController();
    events = controller;
    stream("GET", collectionPath(collection, "/documents/events"), {
      signal: controller.signal,
      onEvent: (_name, data) => {
        // Update the row in place at once; the list (order, counts) follows shortly after.
        const id = data && (data.id || data.document_id);
        const index = rows.findIndex((d) => d.id === id);
        if (index >= 0 && data.status) {
          rows[index] = { ...rows[index], ...data, id };
          const old = table.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
          if (old) old.replaceWith(row(rows[index]));
        }
        scheduleRefresh(400);
      },
    })
      .catch((err) => {
        if (err.name !== "AbortError") streamBroken = true; // an older server: poll instead
      })
      .finally(() => {
        if (events === controller) {
          events = null;
          scheduleRefresh(300);
        }
      });
  }

  function showRole() {
    const can = editable();
    dropZone.hidden = !can;
    uploadSection.hidden = !can;
    viewerNote.hidden = can;
  }

  function switchCollection(name) {
    collection = name;
    showRole();
    streamBroken = false;
    view.offset = 0;
    makeQueue();
    renderUploads();
    refresh();
    listen();
  }

  if (!collection) {
    replace(main, h("h1", {}, t("docs.title")), h("p", { class: "notice" }, t("common.noCollections")));
    return null;
  }
  makeQueue();
  const uploadSection = h("section", { "aria-label": t("docs.uploads") }, uploadNote, uploadList, uploadControls);
  showRole();
  replace(
    main,
    h("h1", {}, t("docs.title")),
    collectionPicker(switchCollection),
    viewerNote,
    dropZone,
    uploadSection,
    h(
      "div",
      { class: "row filters" },
      h("div", { class: "field inline" }, h("label", { for: "doc-q" }, t("docs.filter")), search),
      h("div", { class: "field inline" }, h("label", { for: "doc-status" }, t("docs.statusFilter")), statusSelect),
      h("div", { class: "field inline" }, h("label", { for: "doc-sort" }, t("docs.sort")), sortSelect),
    ),
    table,
    pager,
  );
  await refresh();
  listen();
  return () => {
    if (events) events.abort();
    events = null;
    clearTimeout(pollTimer);
    clearTimeout(refreshTimer);
    queue.stop();
  };
}
