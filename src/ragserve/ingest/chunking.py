"""Structure-first, token-aware chunking.

A document is cut into segments that share a page and heading path; within a segment,
sentences are packed up to ``size`` tokens of the embedding model's own tokenizer, with
``overlap`` tokens of trailing sentences repeated in the next chunk. Only a sentence longer
than a whole chunk is cut by token windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

from ragserve.embed.base import TextTokenizer
from ragserve.ingest.document import Block, ParsedDocument

_SENTENCE_END = re.compile(r"(?<=[.!?。！？;:])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document; ``start``/``end`` index into the document's text."""

    index: int
    text: str
    start: int
    end: int
    page: int | None
    heading_path: tuple[str, ...]
    tokens: int

    def embedding_text(self) -> str:
        """What is embedded: the heading path gives short passages their context."""
        if self.heading_path and not self.text.startswith(self.heading_path[-1]):
            return " > ".join(self.heading_path) + "\n" + self.text
        return self.text


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int


def _sentence_spans(block: Block) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    for match in _SENTENCE_END.finditer(block.text):
        if match.start() > pos:
            spans.append((block.start + pos, block.start + match.start()))
        pos = match.end()
    if pos < len(block.text):
        spans.append((block.start + pos, block.end))
    return spans


def _segments(blocks: list[Block]) -> list[list[Block]]:
    """Blocks grouped by (page, heading path); lone headings join the segment after them."""
    segments: list[list[Block]] = []
    pending: list[Block] = []
    for _, group in groupby(blocks, key=lambda b: (b.page, b.heading_path)):
        segment = pending + list(group)
        pending = []
        if all(b.is_heading for b in segment):
            pending = segment
            continue
        segments.append(segment)
    if pending:
        segments.append(pending)
    return segments


def chunk_document(
    document: ParsedDocument, tokenizer: TextTokenizer, size: int, overlap: int
) -> list[Chunk]:
    """Cut a parsed document into chunks of at most ``size`` tokens (plus sentence rounding)."""
    segments = _segments(document.blocks)
    spans_per_segment = [[s for b in seg for s in _sentence_spans(b)] for seg in segments]
    flat = [span for spans in spans_per_segment for span in spans]
    offsets = tokenizer.token_offsets([document.text[s:e] for s, e in flat])

    chunks: list[Chunk] = []
    cursor = 0
    for segment, spans in zip(segments, spans_per_segment, strict=True):
        units: list[_Unit] = []
        for start, end in spans:
            token_spans = offsets[cursor]
            cursor += 1
            n = len(token_spans)
            if n == 0:
                continue
            if n <= size:
                units.append(_Unit(start, end, n))
                continue
            step = size - overlap
            for i in range(0, n - overlap, step):
                window = token_spans[i : i + size]
                units.append(_Unit(start + window[0][0], start + window[-1][1], len(window)))
        # Headings' own path: the deepest heading in the segment applies to its body.
        heading_path = max((b.heading_path for b in segment), key=len)
        page = segment[0].page
        for group in _pack(units, size, overlap):
            start, end = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=document.text[start:end],
                    start=start,
                    end=end,
                    page=page,
                    heading_path=heading_path,
                    tokens=sum(u.tokens for u in group),
                )
            )
    return chunks


def _pack(units: list[_Unit], size: int, overlap: int) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    tokens = 0
    for unit in units:
        if current and tokens + unit.tokens > size:
            groups.append(current)
            carry: list[_Unit] = []
            carried = 0
            for prev in reversed(current[1:]):
                if carried + prev.tokens > overlap:
                    break
                carry.insert(0, prev)
                carried += prev.tokens
            while carry and carried + unit.tokens > size:
                carried -= carry.pop(0).tokens
            current, tokens = carry, carried
        current.append(unit)
        tokens += unit.tokens
    if current:
        groups.append(current)
    return groups
