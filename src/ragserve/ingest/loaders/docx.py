"""DOCX paragraphs and tables in body order, with the heading path of each paragraph."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from ragserve.errors import CorruptFile, EncryptedFile
from ragserve.ingest.document import DocumentBuilder, ParsedDocument
from ragserve.ingest.guards import ParseLimits, check_zip
from ragserve.ingest.loaders import Loader, register_loader

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre)\s*(\d)$", re.IGNORECASE)


def _sniff(head: bytes) -> bool:
    return (head.startswith(b"PK\x03\x04") and b"word/" in head) or head.startswith(_OLE_MAGIC)


def _heading_level(paragraph: Paragraph) -> int | None:
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 0
    match = _HEADING_STYLE.match(name or "")
    return int(match.group(1)) if match else None


def load(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    if data.startswith(_OLE_MAGIC):
        # Encrypted OOXML and legacy .doc are both OLE compound files.
        raise EncryptedFile(path, "password-protected or legacy Word file; save it as .docx")
    archive = check_zip(path, data, limits)
    if "word/document.xml" not in archive.namelist():
        raise CorruptFile(path, "zip file without word/document.xml (not a Word document)")
    try:
        document = docx.Document(BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, XMLSyntaxError...
        raise CorruptFile(path, f"not a readable DOCX ({type(exc).__name__}: {exc})") from exc

    builder = DocumentBuilder(str(path), "docx", limits.max_text_chars)
    stack: list[tuple[int, str]] = []
    title: str | None = document.core_properties.title or None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = [c.text.strip() for c in row.cells]
                builder.add(" | ".join(c for c in cells if c), heading_path=_path(stack))
            continue
        text = block.text
        level = _heading_level(block)
        if level is not None and text.strip():
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text.strip()))
            title = title or text.strip()
            builder.add(text, heading_path=_path(stack), is_heading=True)
        else:
            builder.add(text, heading_path=_path(stack))
    return builder.build(title=title)


def _path(stack: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(text for _, text in stack)


LOADER = Loader(kind="docx", suffixes=(".docx",), load=load, sniff=_sniff)


def register() -> None:
    """The entry point: ragserve loads it like any plugin."""
    register_loader(LOADER)
