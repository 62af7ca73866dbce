"""Chunking in the parse child process (``ParseWorker.parse_chunked``): the same chunks as
cutting here, the token limit enforced there, and a child left or lost part way through a
document costs that document only."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragserve.embed import packaged
from ragserve.embed.base import HFTokenizer
from ragserve.embed.sparse import passage_vector
from ragserve.errors import ParserCrashed, TooLarge
from ragserve.ingest.chunking import chunk_document
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.parsing import ChunkPlan, ParseWorker
from tests.docs import make_pdf

LIMITS = ParseLimits(10**9, 10**9, 10**9)


@pytest.fixture(scope="module")
def tokenizer() -> HFTokenizer:
    return HFTokenizer.from_file(packaged.minilm_folder() / "tokenizer.json")


@pytest.fixture
def worker(tokenizer: HFTokenizer) -> Iterator[ParseWorker]:
    plan = ChunkPlan(tokenizer, size=64, overlap=8, max_document_tokens=20_000, window=4)
    worker = ParseWorker(timeout_s=60, plan=plan)
    yield worker
    worker.close()


def manual(tmp_path: Path, pages: int = 12) -> Path:
    text = (
        "Refunds are possible within 14 days of purchase. Keep the receipt. "
        "Managers approve travel above 1,000 euros; see section 4.2 of the policy. "
    ) * 6
    return make_pdf(tmp_path / "manual.pdf", [f"Page {i}. {text}" for i in range(pages)])


def parses_next(worker: ParseWorker, tmp_path: Path, text: str) -> None:
    """The worker's next file parses and chunks whole: it is in step with its child."""
    path = tmp_path / "next.txt"
    path.write_text(text)
    header, windows = worker.parse_chunked(path, path.read_bytes(), LIMITS)
    assert header.text_chars == len(text)
    assert [c.text for w in windows for c in w.chunks] == [text]


def test_chunks_cut_in_the_parser_are_the_chunks_cut_here(
    tmp_path: Path, worker: ParseWorker, tokenizer: HFTokenizer
) -> None:
    path = manual(tmp_path)
    header, windows = worker.parse_chunked(path, path.read_bytes(), LIMITS)
    sent = list(windows)
    parsed = worker.parse(path, path.read_bytes(), LIMITS)  # the same child, still usable
    assert header.pages == 12 and header.text_chars == len(parsed.text)
    assert all(0 < len(w.chunks) <= 4 and w.sparse is None for w in sent)
    assert [c for w in sent for c in w.chunks] == chunk_document(parsed, tokenizer, 64, 8)
    assert len(sent) > 3, "a document of many windows streams them"


def test_the_parser_cuts_keyword_vectors_when_asked(tmp_path: Path, worker: ParseWorker) -> None:
    path = manual(tmp_path, pages=3)
    _, windows = worker.parse_chunked(path, path.read_bytes(), LIMITS, sparse=True)
    for window in windows:
        assert window.sparse == [passage_vector(c.embedding_text()) for c in window.chunks]


def test_a_document_past_the_token_limit_is_refused_by_the_parser(
    tmp_path: Path, tokenizer: HFTokenizer
) -> None:
    path = tmp_path / "long.txt"
    path.write_text("A sentence of several words. " * 2000)  # ~12,000 tokens
    plan = ChunkPlan(tokenizer, size=64, overlap=8, max_document_tokens=5000, window=4)
    worker = ParseWorker(timeout_s=60, plan=plan)
    try:
        with pytest.raises(TooLarge, match="RAGSERVE_INGEST_MAX_DOCUMENT_TOKENS"):
            worker.parse_chunked(path, path.read_bytes(), LIMITS)
        parses_next(worker, tmp_path, "A short note.")
    finally:
        worker.close()


def test_leaving_a_document_part_way_stops_its_child_and_the_next_file_parses(
    tmp_path: Path, worker: ParseWorker
) -> None:
    path = manual(tmp_path, pages=40)
    _, windows = worker.parse_chunked(path, path.read_bytes(), LIMITS)
    next(windows)
    windows.close()  # the pipeline does this when a document is cancelled or failed
    parses_next(worker, tmp_path, "The next file.")


def test_a_stream_closed_before_its_first_window_stops_its_child_too(
    tmp_path: Path, worker: ParseWorker
) -> None:
    path = manual(tmp_path, pages=40)
    _, windows = worker.parse_chunked(path, path.read_bytes(), LIMITS)
    windows.close()  # never read: the child is still sending, and must not stay out of step
    parses_next(worker, tmp_path, "In step.")


def test_a_child_lost_part_way_fails_that_document_with_the_reason(
    tmp_path: Path, worker: ParseWorker
) -> None:
    path = manual(tmp_path, pages=80)
    _, windows = worker.parse_chunked(path, path.read_bytes(), LIMITS)
    next(windows)
    assert worker._process is not None
    worker._process.kill()  # what the kernel's OOM killer or a segfault would do
    with pytest.raises(ParserCrashed, match="crashed"):
        for _ in windows:
            pass
    parses_next(worker, tmp_path, "Still parsing.")
