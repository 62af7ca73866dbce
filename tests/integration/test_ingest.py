"""Ingest into embedded Qdrant with the packaged embedder: idempotence and pinning."""

import shutil
import threading
import time
from pathlib import Path

import pytest

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.sparse import query_vector
from ragserve.errors import CollectionNotFound, EmbeddingMismatch
from ragserve.ingest.pipeline import IngestPipeline
from ragserve.rag.retrieve import Retriever
from ragserve.runtime import Runtime
from tests.conftest import SAMPLES
from tests.integration.helpers import chunk_count, ingest, stored_texts


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLES, tmp_path / "samples"))


def test_samples_ingest_and_retrieve_with_metadata(runtime: Runtime, samples: Path) -> None:
    report = ingest(runtime, [samples], "samples")
    assert report.count("ingested") == 5 and not report.failed
    hits = Retriever(runtime.catalog, runtime.embedder).retrieve(
        "samples", "How long is parental leave?", 3
    )
    top = hits[0]
    assert top.source.endswith("northwind-benefits-2026.pdf")
    assert top.page == 2 and top.heading == "Parental leave"
    assert "20 weeks" in top.text
    docs = runtime.catalog.list_documents("samples")
    assert {d.status for d in docs} == {"ready"}
    assert next(d for d in docs if d.kind == "pdf").pages == 4


def test_reingesting_unchanged_files_skips_them(runtime: Runtime, samples: Path) -> None:
    first = ingest(runtime, [samples])
    count = chunk_count(runtime)
    second = ingest(runtime, [samples])
    assert second.count("skipped") == 5 and second.count("ingested") == 0
    assert chunk_count(runtime) == count == first.chunks


def test_a_changed_file_replaces_its_chunks(runtime: Runtime, tmp_path: Path) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text(
        "# Notes\n\n" + "\n\n".join(f"Old paragraph {i} about cats." * 12 for i in range(6))
    )
    ingest(runtime, [doc])
    before = chunk_count(runtime)
    assert before > 1
    doc.write_text("# Notes\n\nA single new paragraph about dogs.")
    report = ingest(runtime, [doc])
    assert report.count("ingested") == 1
    texts = stored_texts(runtime)
    assert texts == ["Notes\n\nA single new paragraph about dogs."]
    (row,) = runtime.catalog.list_documents("test")
    assert row.chunks == 1


def test_same_file_twice_in_one_run_is_stored_once(runtime: Runtime, samples: Path) -> None:
    md = samples / "northwind-handbook.md"
    report = ingest(runtime, [md, samples, md])
    assert report.count("ingested") == 5
    assert chunk_count(runtime) == report.chunks


def test_other_embedding_model_on_a_pinned_collection_is_a_clear_error(
    runtime: Runtime, samples: Path, settings: Settings, embedder: EmbeddingBackend
) -> None:
    ingest(runtime, [samples / "it-faq.txt"], "pinned")
    other = Runtime(settings.model_copy(update={"embed_model": "all-MiniLM-L6-v2"}))
    try:
        with pytest.raises(EmbeddingMismatch) as info:
            ingest(other, [samples / "it-faq.txt"], "pinned")
        message = str(info.value)
        assert "all-MiniLM-L6-v2-int8" in message and "'all-MiniLM-L6-v2'" in message
        assert "ragserve collections delete pinned" in message
        with pytest.raises(EmbeddingMismatch):
            Retriever(other.catalog, other.embedder).retrieve("pinned", "laptop", 3)
    finally:
        other.close()


def test_asking_an_unknown_collection_says_how_to_create_it(runtime: Runtime) -> None:
    with pytest.raises(CollectionNotFound, match="ragserve ingest PATH --collection nope"):
        Retriever(runtime.catalog, runtime.embedder).retrieve("nope", "q", 3)


def test_deleting_a_collection_removes_vectors_and_rows(runtime: Runtime, samples: Path) -> None:
    ingest(runtime, [samples], "gone")
    runtime.catalog.drop_collection("gone")
    assert runtime.catalog.list_collections() == []
    with pytest.raises(CollectionNotFound):
        runtime.catalog.list_documents("gone")
    report = ingest(runtime, [samples], "gone")  # recreated from scratch
    assert report.count("ingested") == 5


def test_data_survives_a_new_process(
    settings: Settings, samples: Path, embedder: EmbeddingBackend
) -> None:
    first = Runtime(settings, embedder=embedder)
    ingest(first, [samples], "persist")
    first.close()
    second = Runtime(settings, embedder=embedder)
    try:
        hits = Retriever(second.catalog, embedder).retrieve("persist", "VPN setup", 2)
        assert hits and hits[0].source.endswith("it-faq.txt")
    finally:
        second.close()


def test_chunking_in_the_ingesting_process_stores_what_the_parsers_would(
    settings: Settings, samples: Path, embedder: EmbeddingBackend
) -> None:
    # RAGSERVE_INGEST_CHUNK_IN_PARSER=false (or a tokenizer that cannot travel to the parse
    # processes): the same chunks, and the writer cuts the same keyword vectors.
    question = query_vector("parental leave weeks")
    found = {}
    for in_parser in (True, False):
        with Runtime(
            settings.model_copy(update={"ingest_chunk_in_parser": in_parser}), embedder=embedder
        ) as runtime:
            pipeline = IngestPipeline(runtime.settings, runtime.catalog, embedder)
            assert pipeline.chunk_in_parser is in_parser
            pipeline.run([samples], f"chunked-{in_parser}")
            row = runtime.catalog.collections.get(f"chunked-{in_parser}")
            assert row is not None
            hits = runtime.catalog.vectors.search(row.vector_collection, None, 5, sparse=question)
            found[in_parser] = (
                sorted(stored_texts(runtime, f"chunked-{in_parser}")),
                [(h.payload.text, round(h.score, 5)) for h in hits],
            )
    assert found[True][1], "the keyword side answers"
    assert found[False] == found[True]


def test_embedding_calls_in_flight_together_store_the_same_chunks(
    settings: Settings, samples: Path, embedder: EmbeddingBackend
) -> None:
    # RAGSERVE_INGEST_EMBED_DEPTH=3 keeps several embedding calls going at once (for a
    # remote embedder's round trips); every document must still end with its own vectors,
    # including the last one, whose final batch is in flight with nothing behind it. The
    # wrapper only counts overlapping calls on the real embedder; the pause makes calls
    # long enough to overlap on a slow CI machine.
    class Counting:
        def __init__(self, inner: EmbeddingBackend) -> None:
            self.inner, self.running, self.most, self.lock = inner, 0, 0, threading.Lock()

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def embed_passages(self, texts: list[str]) -> object:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                time.sleep(0.05)
                return self.inner.embed_passages(texts)
            finally:
                with self.lock:
                    self.running -= 1

    small = {"chunk_tokens": 48, "chunk_overlap": 8, "embed_max_batch": 2}
    found, most = {}, {}
    for depth in (1, 3):
        counting = Counting(embedder)
        update = {**small, "ingest_embed_depth": depth}
        with Runtime(settings.model_copy(update=update), embedder=embedder) as runtime:
            pipeline = IngestPipeline(runtime.settings, runtime.catalog, counting)  # type: ignore[arg-type]
            report = pipeline.run([samples], f"depth-{depth}")
            assert report.count("ingested") == 5
            hits = Retriever(runtime.catalog, embedder).retrieve(
                f"depth-{depth}", "parental leave weeks", 5
            )
            found[depth] = (
                sorted(stored_texts(runtime, f"depth-{depth}")),
                [(h.source.rsplit("/", 1)[-1], h.text) for h in hits],
            )
            most[depth] = counting.most
    assert len(found[1][0]) > 20, "small chunks: many embedding batches"
    assert most == {1: 1, 3: 3}
    assert found[3] == found[1]
