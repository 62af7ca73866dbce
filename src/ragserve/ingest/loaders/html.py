"""HTML main text and title; scripts, styles and navigation chrome are dropped.

A table row is one block, its cells joined by " | " (as the DOCX loader writes them): a row
read cell by cell loses what belongs together ("<", "little-endian" and "standard" are one
fact about ``struct``'s byte orders; apart, none of them answers anything).
"""

from __future__ import annotations

from pathlib import Path

import lxml.etree
import lxml.html

from ragserve.errors import CorruptFile
from ragserve.ingest.document import DocumentBuilder, ParsedDocument
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import Loader, register_loader

_DROP = {
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template",
    "svg", "iframe", "button", "select", "object", "embed", "canvas", "menu",
}  # fmt: skip
_BLOCKS = {
    "p", "div", "li", "pre", "blockquote", "dd", "dt", "figcaption", "section",
    "article", "main", "tr", "table", "ul", "ol", "dl", "br", "hr", "body", "caption",
}  # fmt: skip
_CELLS = {"td", "th"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def load(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    # no_network and no DTD loading: nothing outside the file is ever read.
    parser = lxml.html.HTMLParser(
        no_network=True, remove_comments=True, remove_pis=True, huge_tree=False
    )
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise CorruptFile(path, f"not readable HTML ({exc})") from exc

    title_el = root.find(".//title")
    title = " ".join((title_el.text_content() if title_el is not None else "").split()) or None
    main = next(iter(root.xpath("//main|//article")), None)
    body = main if main is not None else root.find("body")
    if body is None:
        body = root

    builder = DocumentBuilder(str(path), "html", limits.max_text_chars)
    stack: list[tuple[int, str]] = []
    buffer: list[str] = []
    skip_depth = 0
    heading_level: int | None = None
    # Inside a table cell blocks (a cell's <p>) do not end the row; cells are separated.
    cell_depth = 0
    cells_in_row = 0

    def flush(is_heading: bool = False) -> None:
        text = " ".join(" ".join(buffer).split())
        buffer.clear()
        if text:
            builder.add(text, heading_path=tuple(t for _, t in stack), is_heading=is_heading)

    for event, el in lxml.etree.iterwalk(body, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if skip_depth or tag in _DROP:
                skip_depth += 1
                continue
            if tag in _CELLS:
                if cell_depth == 0 and cells_in_row:
                    buffer.append(" | ")
                cell_depth += 1
                cells_in_row += 1
            elif cell_depth:
                buffer.append(" ")
            elif tag in _HEADINGS:
                flush()
                heading_level = _HEADINGS[tag]
            elif tag in _BLOCKS:
                flush()
                cells_in_row = 0
            if el.text:
                buffer.append(el.text)
        else:
            if skip_depth:
                skip_depth -= 1
                if skip_depth == 0 and el.tail:
                    buffer.append(el.tail)
                continue
            if tag in _CELLS:
                cell_depth -= 1
            elif cell_depth:
                buffer.append(" ")
            elif tag in _HEADINGS and heading_level is not None:
                text = " ".join(" ".join(buffer).split())
                while stack and stack[-1][0] >= heading_level:
                    stack.pop()
                if text:
                    stack.append((heading_level, text))
                flush(is_heading=True)
                heading_level = None
            elif tag in _BLOCKS:
                flush()
                cells_in_row = 0
            if el.tail:
                buffer.append(el.tail)
    flush()
    if title is None and stack:
        title = stack[0][1]
    return builder.build(title=title)


LOADER = Loader(kind="html", suffixes=(".html", ".htm", ".xhtml"), load=load)


def register() -> None:
    """The entry point: ragserve loads it like any plugin."""
    register_loader(LOADER)
