"""PDF text per page via pdfium (Apache-2.0); headings come from the outline if it has one."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium

from ragserve.errors import CorruptFile, EmptyFile, EncryptedFile, TooLarge
from ragserve.ingest.document import DocumentBuilder, ParsedDocument
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import Loader, register_loader
from ragserve.ingest.loaders._paragraphs import paragraphs

MAX_PAGES = 20_000
_ZERO_PAGES = re.compile(rb"/Count\s*0\b")
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page\b")


def _sniff(head: bytes) -> bool:
    return b"%PDF-" in head[:1024]


def _outline_by_page(pdf: pdfium.PdfDocument) -> dict[int, tuple[str, ...]]:
    """Heading path in force at the start of each page that has an outline entry."""
    marks: dict[int, tuple[str, ...]] = {}
    stack: list[str] = []
    try:
        for item in pdf.get_toc(max_depth=6):
            title = (item.get_title() or "").strip()
            page = item.get_dest().get_index() if item.get_dest() else None
            if not title or page is None:
                continue
            del stack[item.level :]
            stack.append(title)
            marks.setdefault(page, tuple(stack))
    except pdfium.PdfiumError:
        return {}
    return marks


def load(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        # pdfium's last-error code is process-global and can be stale, so judge by content.
        if b"/Encrypt" in data:
            raise EncryptedFile(path, "PDF is password protected; save a decrypted copy") from exc
        if _ZERO_PAGES.search(data) and not _PAGE_OBJECT.search(data):
            raise EmptyFile(path, "PDF has 0 pages") from exc
        raise CorruptFile(path, "not a readable PDF (damaged or truncated)") from exc
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise EmptyFile(path, "PDF has 0 pages")
        if n_pages > MAX_PAGES:
            raise TooLarge(path, f"PDF has {n_pages} pages, over the {MAX_PAGES} page limit")
        outline = _outline_by_page(pdf)
        builder = DocumentBuilder(str(path), "pdf", limits.max_text_chars)
        heading: tuple[str, ...] = ()
        for index in range(n_pages):
            heading = outline.get(index, heading)
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_bounded()
                textpage.close()
            finally:
                page.close()
            for para in paragraphs(text, join_lines=True):
                builder.add(para, page=index + 1, heading_path=heading)
        title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
        return builder.build(title=title, pages=n_pages)
    finally:
        pdf.close()


LOADER = Loader(kind="pdf", suffixes=(".pdf",), load=load, sniff=_sniff)


def register() -> None:
    """The entry point: ragserve loads it like any plugin."""
    register_loader(LOADER)
