// One PDF page with the cited passage highlighted. pdf.js is imported here, so it is fetched
// only when a PDF citation is opened. Stored chunk offsets are over the whole extracted text,
// so the passage is found again in the page's text layer, ignoring whitespace, hyphens and case.
import { authHeaders } from "./auth.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

export const PDFJS = "/static/vendor/pdfjs-dist-6.5.438/";
let loading = null;

function pdfjs() {
  if (!loading) {
    loading = import(`${PDFJS}build/pdf.min.mjs`).then((lib) => {
      lib.GlobalWorkerOptions.workerSrc = `${PDFJS}build/pdf.worker.min.mjs`;
      return lib;
    });
  }
  return loading;
}

// Letters and digits only (any script), lower-cased: what survives line breaks, hyphenation
// and the spacing differences between pdfium's extraction and pdf.js's.
const KEEP = /[\p{L}\p{N}]/u;

function normalise(pieces) {
  const chars = [];
  const owner = [];
  pieces.forEach((piece, i) => {
    for (const ch of piece.normalize("NFKC").toLowerCase()) {
      if (KEEP.test(ch)) {
        chars.push(ch);
        owner.push(i);
      }
    }
  });
  return { text: chars.join(""), owner };
}

/**
 * Which pieces (text-layer spans) hold the passage: [first, last] indexes, or null.
 * The whole passage is tried first; a chunk running over a page break is found by its
 * longest head (or tail) on this page.
 */
export function locatePassage(pieces, passage) {
  const page = normalise(pieces);
  const want = normalise([passage]).text;
  if (!want || !page.text) return null;
  const span = (start, length) => [page.owner[start], page.owner[Math.min(start + length, page.text.length) - 1]];
  const whole = page.text.indexOf(want);
  if (whole >= 0) return span(whole, want.length);
  for (let len = Math.min(want.length, 400); len >= 12; len = Math.floor(len * 0.7)) {
    const head = page.text.indexOf(want.slice(0, len));
    if (head >= 0) {
      // The head is here: extend as far as the passage goes on this page.
      let end = head + len;
      while (end < page.text.length && end - head < want.length && page.text[end] === want[end - head]) end += 1;
      return span(head, end - head);
    }
    const tail = page.text.indexOf(want.slice(want.length - len));
    if (tail >= 0) {
      let start = tail;
      let k = want.length - len;
      while (start > 0 && k > 0 && page.text[start - 1] === want[k - 1]) {
        start -= 1;
        k -= 1;
      }
      return span(start, tail + len - start);
    }
  }
  return null;
}

export async function showPdfPage(area, url, pageNumber, passage) {
  const lib = await pdfjs();
  const task = lib.getDocument({
    url,
    httpHeaders: authHeaders(),
    cMapUrl: `${PDFJS}cmaps/`,
    cMapPacked: true,
    standardFontDataUrl: `${PDFJS}standard_fonts/`,
    isEvalSupported: false,
  });
  const doc = await task.promise;
  try {
    const page = await doc.getPage(Math.min(pageNumber, doc.numPages));
    const width = Math.max(area.clientWidth, 280);
    const scale = width / page.getViewport({ scale: 1 }).width;
    const viewport = page.getViewport({ scale });
    const ratio = window.devicePixelRatio || 1;
    const canvas = h("canvas", { width: Math.floor(viewport.width * ratio), height: Math.floor(viewport.height * ratio), "aria-hidden": "true" });
    canvas.style.width = `${Math.floor(viewport.width)}px`;
    canvas.style.height = `${Math.floor(viewport.height)}px`;
    const layer = h("div", { class: "textLayer" });
    const sheet = h("div", { class: "pdf-page", role: "img", "aria-label": t("cite.pdfPage", { page: pageNumber }) }, canvas, layer);
    // pdf.js sizes its text layer from these (the viewer's .page rules set them in CSS).
    sheet.style.setProperty("--total-scale-factor", String(scale));
    sheet.style.setProperty("--scale-round-x", "1px");
    sheet.style.setProperty("--scale-round-y", "1px");
    sheet.style.width = canvas.style.width;
    sheet.style.height = canvas.style.height;
    replace(area, h("p", { class: "small muted" }, t("cite.pdfPage", { page: pageNumber })), sheet);
    await page.render({
      canvas,
      canvasContext: canvas.getContext("2d"),
      viewport,
      transform: ratio === 1 ? null : [ratio, 0, 0, ratio, 0, 0],
    }).promise;
    const textLayer = new lib.TextLayer({ textContentSource: page.streamTextContent(), container: layer, viewport });
    await textLayer.render();
    const spans = textLayer.textDivs;
    const found = locatePassage(spans.map((s) => s.textContent), passage);
    if (!found) {
      area.append(h("p", { class: "notice" }, t("cite.notFound")));
      return;
    }
    for (let i = found[0]; i <= found[1]; i += 1) spans[i].classList.add("hit");
    spans[found[0]].scrollIntoView({ block: "center", behavior: "instant" });
  } finally {
    // The page is drawn; the worker and the document's memory are no longer needed.
    task.destroy();
  }
}
