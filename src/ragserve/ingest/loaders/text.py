"""Plain text in any common encoding; binary content is refused."""

from __future__ import annotations

import codecs
from pathlib import Path

from charset_normalizer import from_bytes

from ragserve.errors import CorruptFile
from ragserve.ingest.document import DocumentBuilder, ParsedDocument
from ragserve.ingest.guards import ParseLimits, looks_binary
from ragserve.ingest.loaders import Loader, register_loader
from ragserve.ingest.loaders._paragraphs import paragraphs

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


_PREFERRED = ("cp1252", "latin_1", "iso8859_15")


def decode_text(path: Path, data: bytes) -> str:
    """Decode bytes as text, detecting the encoding; raises CorruptFile for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if looks_binary(data[:8192]):
        raise CorruptFile(path, "binary content, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Detection on a bounded sample keeps huge files fast.
    matches = list(from_bytes(data[:65536]))
    if not matches:
        raise CorruptFile(path, "could not detect the text encoding")
    best = min(matches, key=lambda m: (m.chaos, -m.coherence))
    tied = {m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)}
    # Short Western text scores the same in many code pages; prefer the common ones.
    encoding = next((e for e in _PREFERRED if e in tied), best.encoding)
    return data.decode(encoding, errors="replace")


def load(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    text = decode_text(path, data)
    builder = DocumentBuilder(str(path), "text", limits.max_text_chars)
    for para in paragraphs(text, join_lines=False):
        builder.add(para)
    return builder.build()


LOADER = Loader(kind="text", suffixes=(".txt", ".text", ".log", ".rst", ".csv"), load=load)


def register() -> None:
    """The entry point: ragserve loads it like any plugin."""
    register_loader(LOADER)
