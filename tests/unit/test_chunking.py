"""Chunking with the real MiniLM tokenizer (no model weights needed)."""

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest

from ragserve.embed.base import HFTokenizer
from ragserve.embed.packaged import minilm_folder
from ragserve.ingest.chunking import chunk_document, count_tokens, iter_chunks
from ragserve.ingest.document import DocumentBuilder, ParsedDocument


@pytest.fixture(scope="module")
def tokenizer() -> HFTokenizer:
    return HFTokenizer.from_file(minilm_folder() / "tokenizer.json")


def _count(tokenizer: HFTokenizer, text: str) -> int:
    return len(tokenizer.token_offsets([text])[0])


def _doc(blocks: list[tuple[str, int | None, tuple[str, ...], bool]]) -> ParsedDocument:
    builder = DocumentBuilder("doc.md", "markdown", 10**7)
    for text, page, heading, is_heading in blocks:
        builder.add(text, page=page, heading_path=heading, is_heading=is_heading)
    return builder.build()


SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank. "
WORDS = "invoice shipment warehouse forklift pallet customs tariff audit ledger payroll".split()


def test_chunks_respect_size_and_point_into_the_text(tokenizer: HFTokenizer) -> None:
    paragraphs = [(SENTENCE * 7).strip() for _ in range(12)]
    doc = _doc([(p, None, ("Guide",), False) for p in paragraphs])
    chunks = chunk_document(doc, tokenizer, size=100, overlap=20)
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert _count(tokenizer, chunk.text) <= 100
        assert chunk.heading_path == ("Guide",)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_consecutive_chunks_overlap_by_whole_sentences(tokenizer: HFTokenizer) -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(60))
    chunks = chunk_document(_doc([(text, None, (), False)]), tokenizer, size=60, overlap=15)
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "the next chunk should repeat the end of the previous one"
        assert a.end - b.start < len(a.text) / 2


def test_chunks_never_cross_pages_or_sections(tokenizer: HFTokenizer) -> None:
    doc = _doc([
        ("Intro", 1, ("Intro",), True),
        ("Page one text about apples.", 1, ("Intro",), False),
        ("Page two text about pears.", 2, ("Intro",), False),
        ("Details", 2, ("Details",), True),
        ("Details text about plums.", 2, ("Details",), False),
    ])  # fmt: skip
    chunks = chunk_document(doc, tokenizer, size=200, overlap=20)
    assert [(c.page, c.heading_path, c.text) for c in chunks] == [
        (1, ("Intro",), "Intro\n\nPage one text about apples."),
        (2, ("Intro",), "Page two text about pears."),
        (2, ("Details",), "Details\n\nDetails text about plums."),
    ]


def test_a_sentence_longer_than_a_chunk_is_cut_by_token_windows(tokenizer: HFTokenizer) -> None:
    words = " ".join(f"word{i}" for i in range(3000))  # one enormous "sentence"
    chunks = chunk_document(_doc([(words, None, (), False)]), tokenizer, size=128, overlap=16)
    assert len(chunks) > 10
    assert all(_count(tokenizer, c.text) <= 128 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(words)


def test_embedding_text_carries_the_heading_path(tokenizer: HFTokenizer) -> None:
    doc = _doc([("Body text here.", None, ("Handbook", "Vacation"), False)])
    (chunk,) = chunk_document(doc, tokenizer, size=100, overlap=10)
    assert chunk.embedding_text() == "Handbook > Vacation\nBody text here."


def test_samples_chunk_with_metadata(tokenizer: HFTokenizer, tmp_path: Path) -> None:
    from ragserve.ingest.guards import ParseLimits
    from ragserve.ingest.loaders import parse_bytes

    path = Path(__file__).resolve().parents[2] / "samples" / "northwind-handbook.md"
    limits = ParseLimits(10**8, 10**8, 10**8)
    doc = parse_bytes(path, path.read_bytes(), limits)
    chunks = chunk_document(doc, tokenizer, size=200, overlap=32)
    vacation = next(c for c in chunks if "25 paid vacation days" in c.text)
    assert vacation.heading_path == ("Northwind Employee Handbook", "Time off", "Vacation")


class _RecordingTokenizer:
    """The real tokenizer, remembering the longest text it was handed."""

    def __init__(self, inner: HFTokenizer) -> None:
        self.inner = inner
        self.longest = 0

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        self.longest = max([self.longest, *map(len, texts)])
        return self.inner.token_offsets(texts)


def test_a_huge_one_line_document_reaches_the_tokenizer_in_bounded_pieces(
    tokenizer: HFTokenizer,
) -> None:
    # One 1.1 MB sentence: handed whole to the tokenizer, a 50 MB one took gigabytes.
    doc = _doc([(" ".join(itertools.islice(itertools.cycle(WORDS), 200_000)), None, (), False)])
    recording = _RecordingTokenizer(tokenizer)
    chunks = iter_chunks(doc, recording, size=128, overlap=16)
    first = list(itertools.islice(chunks, 3))
    assert [c.index for c in first] == [0, 1, 2]
    assert sum(1 for _ in chunks) > 1000
    assert 0 < recording.longest <= 8192


def test_windows_over_a_sentence_fed_in_pieces_match_windows_over_it_whole(
    tokenizer: HFTokenizer,
) -> None:
    # 40 kB without a sentence end: several tokenizer pieces, one stream of token windows.
    text = " ".join(itertools.islice(itertools.cycle([*WORDS, "naïve", "co-operate"]), 6_000))
    size, overlap = 128, 16
    tokens = tokenizer.token_offsets([text])[0]
    n = len(tokens)
    expected = [
        (tokens[i][0], tokens[min(i + size, n) - 1][1])
        for i in range(0, n - overlap, size - overlap)
    ]
    chunks = chunk_document(_doc([(text, None, (), False)]), tokenizer, size, overlap)
    assert [(c.start, c.end) for c in chunks] == expected


def test_counting_tokens_stops_soon_after_the_limit(tokenizer: HFTokenizer) -> None:
    doc = _doc([(" ".join(itertools.islice(itertools.cycle(WORDS), 200_000)), None, (), False)])
    recording = _RecordingTokenizer(tokenizer)
    assert count_tokens(doc, recording, stop_above=1000) > 1000
    assert count_tokens(doc, tokenizer, stop_above=1000) < 50_000  # one batch, not 200k words
    small = _doc([(SENTENCE * 3, None, (), False)])
    assert count_tokens(small, tokenizer) == _count(tokenizer, small.text)
