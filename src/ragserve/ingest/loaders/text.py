"""Plain text in any common encoding; binary content is refused."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from charset_normalizer import from_bytes

from ragserve.errors import CorruptFile
from ragserve.ingest.document import DocumentBuilder, ParsedDocument
from ragserve.ingest.guards import ParseLimits, looks_binary
from ragserve.ingest.loaders import Loader, register_loader
from ragserve.ingest.loaders._paragraphs import paragraphs

# UTF-32 LE first: its BOM (FF FE 00 00) starts with UTF-16 LE's (FF FE).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Categories that real text hardly contains: controls, unassigned, private use, surrogates.
_NOT_TEXT = {"Cc", "Cn", "Co", "Cs"}
_TEXT_CONTROLS = set("\t\n\r\f\v\x1b")


_PREFERRED = ("cp1252", "latin_1", "iso8859_15")


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``data`` names, if there is one."""
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)


def _binary_after_bom(text: str) -> bool:
    """True when text decoded through a BOM is mostly not characters, i.e. binary.

    A BOM is two to four bytes any binary file can start with, and UTF-16 maps nearly
    every byte pair to some character, so the decoded characters are what is judged.
    """
    sample = text[:4096]
    odd = sum(
        1
        for ch in sample
        if ch == "\ufffd" or (ch not in _TEXT_CONTROLS and unicodedata.category(ch) in _NOT_TEXT)
    )
    return bool(sample) and odd / len(sample) > 0.05


def is_binary(head: bytes) -> bool:
    """True for content that is not text: the upload check and the loader agree on it.

    With a BOM (UTF-8, UTF-16, UTF-32: what Windows editors write) the bytes are
    decoded first; without one, NUL bytes and control characters decide.
    """
    encoding = bom_encoding(head)
    if encoding is None:
        return looks_binary(head)
    # A head cut mid-character only costs one replacement character at its end.
    return _binary_after_bom(head.decode(encoding, errors="replace"))


def decode_text(path: Path, data: bytes) -> str:
    """Decode bytes as text, detecting the encoding; raises CorruptFile for binary data."""
    encoding = bom_encoding(data)
    if encoding is not None:
        text = data.decode(encoding, errors="replace")
        if _binary_after_bom(text):
            raise CorruptFile(path, "binary content, not text")
        return text
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
