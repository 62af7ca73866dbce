// The side panel behind a [n] chip: passage, document, page and section; for a PDF the page
// itself, rendered by pdf.js (loaded only now) with the passage highlighted.
import { collectionPath } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

let returnFocus = null;

function isPdf(cite) {
  return /\.pdf$/i.test(cite.source);
}

export function openCitation(panel, cite, collection, chip) {
  returnFocus = chip || null;
  const close = () => {
    panel.hidden = true;
    replace(panel);
    if (returnFocus) returnFocus.focus();
  };
  const fileUrl = collectionPath(collection, `/documents/${cite.document_id}/file`);
  const facts = [
    [t("cite.document"), cite.title && cite.title !== cite.source ? `${cite.title} (${cite.source})` : cite.source],
    [t("cite.page"), cite.page ?? "–"],
    [t("cite.heading"), cite.heading || "–"],
    [t("cite.score"), typeof cite.score === "number" ? cite.score.toFixed(3) : "–"],
  ];
  const pdfArea = isPdf(cite) && cite.page ? h("div", { class: "pdf-area" }, h("p", { class: "muted" }, t("cite.pdfLoading"))) : null;
  replace(
    panel,
    h(
      "div",
      { class: "cite-head" },
      h("h2", { id: "cite-title", tabindex: "-1" }, t("cite.title", { n: cite.n })),
      h("button", { type: "button", class: "icon", "aria-label": t("common.close"), onclick: close }, "✕"),
    ),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
    h("h3", {}, t("cite.passage")),
    h("blockquote", { class: "passage" }, cite.text),
    pdfArea,
    h("p", {}, h("a", { href: fileUrl, target: "_blank", rel: "noopener" }, t("cite.openFile"))),
  );
  panel.hidden = false;
  panel.onkeydown = (ev) => {
    if (ev.key === "Escape") close();
  };
  panel.querySelector("#cite-title").focus();
  if (pdfArea) {
    import("./pdfview.js")
      .then((m) => m.showPdfPage(pdfArea, fileUrl, cite.page, cite.text))
      .catch((err) => replace(pdfArea, h("p", { class: "error" }, t("cite.pdfFailed", { message: err.message }))));
  }
}
