"""Structure-first, token-aware chunking, streamed.

A document is cut into segments that share a page and heading path; within a segment,
sentences are packed up to ``size`` tokens of the embedding model's own tokenizer, with
``overlap`` tokens of trailing sentences repeated in the next chunk. Only a sentence longer
than a whole chunk is cut by token windows.

Chunks are produced lazily, and the tokenizer only ever sees pieces of at most
``_PIECE_CHARS`` characters, so memory stays flat however long the document, or one of its
sentences, is: a 50 MB one-line file handed to the tokenizer whole took gigabytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

from ragserve.embed.base import TextTokenizer
from ragserve.ingest.document import Block, ParsedDocument

_SENTENCE_END = re.compile(r"(?<=[.!?。！？;:])\s+|\n+")
#: Longest text tokenized at once. A longer sentence is fed in pieces cut before a space,
#: where the tokenizer splits anyway, so its tokens are the same as if it were fed whole.
_PIECE_CHARS = 8192
#: Characters of pieces tokenized in one call: enough to amortize the call, small to hold.
_BATCH_CHARS = 65536


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


#: (start, end, last): a piece of a sentence; ``last`` marks the sentence's final piece.
_Piece = tuple[int, int, bool]


def _sentence_spans(block: Block) -> Iterator[tuple[int, int]]:
    pos = 0
    for match in _SENTENCE_END.finditer(block.text):
        if match.start() > pos:
            yield (block.start + pos, block.start + match.start())
        pos = match.end()
    if pos < len(block.text):
        yield (block.start + pos, block.end)


def _pieces(text: str, start: int, end: int) -> Iterator[_Piece]:
    """``text[start:end]`` in pieces of at most ``_PIECE_CHARS``, cut before a space."""
    while end - start > _PIECE_CHARS:
        cut = text.rfind(" ", start + 1, start + _PIECE_CHARS)
        if cut == -1:  # one huge "word": cut anywhere, the tokenizer cannot read it anyway
            cut = start + _PIECE_CHARS
        yield start, cut, False
        start = cut
    yield start, end, True


def _tokenized(
    text: str, pieces: Iterable[_Piece], tokenizer: TextTokenizer
) -> Iterator[tuple[_Piece, list[tuple[int, int]]]]:
    """Each piece with its tokens' offsets (relative to the piece), tokenized in batches."""
    batch: list[_Piece] = []
    chars = 0
    for piece in pieces:
        batch.append(piece)
        chars += piece[1] - piece[0]
        if chars >= _BATCH_CHARS:
            yield from zip(
                batch, tokenizer.token_offsets([text[s:e] for s, e, _ in batch]), strict=True
            )
            batch, chars = [], 0
    if batch:
        yield from zip(
            batch, tokenizer.token_offsets([text[s:e] for s, e, _ in batch]), strict=True
        )


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


def _units(
    text: str, segment: list[Block], tokenizer: TextTokenizer, size: int, overlap: int
) -> Iterator[_Unit]:
    """A segment's sentences as units of at most ``size`` tokens.

    A sentence longer than ``size`` is cut into windows of ``size`` tokens advancing by
    ``size - overlap``; windows are emitted as its tokens arrive, so only about one window
    of a long sentence is held at a time.
    """
    step = size - overlap
    pieces = (
        piece
        for block in segment
        for span in _sentence_spans(block)
        for piece in _pieces(text, *span)
    )
    held: list[tuple[int, int]] = []  # the sentence's tokens from index `first` on
    first = 0
    seen = 0  # tokens of the sentence so far
    window = 0  # token index where the sentence's next window starts
    sentence_start: int | None = None
    for (start, end, last), offsets in _tokenized(text, pieces, tokenizer):
        if sentence_start is None:
            sentence_start = start
        held.extend((start + a, start + b) for a, b in offsets)
        seen += len(offsets)
        if seen > size:  # certainly cut by windows: emit the full ones now
            while window + size <= seen:
                tokens = held[window - first : window - first + size]
                yield _Unit(tokens[0][0], tokens[-1][1], size)
                window += step
            del held[: window - first]
            first = window
        if not last:
            continue
        if 0 < seen <= size:
            yield _Unit(sentence_start, end, seen)
        else:
            while window < seen - overlap:
                tokens = held[window - first : window - first + size]
                yield _Unit(tokens[0][0], tokens[-1][1], len(tokens))
                window += step
        held, first, seen, window, sentence_start = [], 0, 0, 0, None


def iter_chunks(
    document: ParsedDocument, tokenizer: TextTokenizer, size: int, overlap: int
) -> Iterator[Chunk]:
    """Chunks of at most ``size`` tokens (plus sentence rounding), produced as they are cut."""
    index = 0
    for segment in _segments(document.blocks):
        # Headings' own path: the deepest heading in the segment applies to its body.
        heading_path = max((b.heading_path for b in segment), key=len)
        page = segment[0].page
        units = _units(document.text, segment, tokenizer, size, overlap)
        for group in _pack(units, size, overlap):
            start, end = group[0].start, group[-1].end
            yield Chunk(
                index=index,
                text=document.text[start:end],
                start=start,
                end=end,
                page=page,
                heading_path=heading_path,
                tokens=sum(u.tokens for u in group),
            )
            index += 1


def chunk_document(
    document: ParsedDocument, tokenizer: TextTokenizer, size: int, overlap: int
) -> list[Chunk]:
    """Cut a parsed document into chunks of at most ``size`` tokens (plus sentence rounding)."""
    return list(iter_chunks(document, tokenizer, size, overlap))


def count_tokens(
    document: ParsedDocument, tokenizer: TextTokenizer, stop_above: int | None = None
) -> int:
    """Tokens in the document's text, counted in bounded pieces.

    Counting stops as soon as it passes ``stop_above``, so refusing a huge document costs
    no more than tokenizing the limit.
    """
    pieces = (p for b in document.blocks for p in _pieces(document.text, b.start, b.end))
    total = 0
    for _, offsets in _tokenized(document.text, pieces, tokenizer):
        total += len(offsets)
        if stop_above is not None and total > stop_above:
            break
    return total


def _pack(units: Iterable[_Unit], size: int, overlap: int) -> Iterator[list[_Unit]]:
    current: list[_Unit] = []
    tokens = 0
    for unit in units:
        if current and tokens + unit.tokens > size:
            yield current
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
        yield current
