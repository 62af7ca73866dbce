"""What a loader produces: the extracted text of one file as ordered, located blocks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph-like unit of text; offsets index into ``ParsedDocument.text``."""

    text: str
    start: int
    end: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    is_heading: bool = False


@dataclass(slots=True)
class ParsedDocument:
    """One file's text. ``text`` is the blocks joined by blank lines."""

    source: str
    kind: str
    title: str | None = None
    pages: int | None = None
    blocks: list[Block] = field(default_factory=list)
    text: str = ""
    truncated: bool = False


class DocumentBuilder:
    """Appends blocks while keeping character offsets exact."""

    def __init__(self, source: str, kind: str, max_chars: int) -> None:
        self._doc = ParsedDocument(source=source, kind=kind)
        self._parts: list[str] = []
        self._length = 0
        self._max_chars = max_chars
        self.truncated = False

    def add(
        self,
        text: str,
        *,
        page: int | None = None,
        heading_path: tuple[str, ...] = (),
        is_heading: bool = False,
    ) -> None:
        text = text.strip()
        if not text or self.truncated:
            return
        if self._length + len(text) > self._max_chars:
            # Keep what fits; the caller reports the truncation instead of failing the file.
            self.truncated = True
            return
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        self._doc.blocks.append(Block(text, start, self._length, page, heading_path, is_heading))

    def build(self, *, title: str | None = None, pages: int | None = None) -> ParsedDocument:
        self._doc.text = "".join(self._parts)
        self._doc.title = title
        self._doc.pages = pages
        self._doc.truncated = self.truncated
        return self._doc
