from pathlib import Path

from ragserve.ingest.pipeline import IngestPipeline, IngestReport
from ragserve.runtime import Runtime


def ingest(runtime: Runtime, paths: list[Path], collection: str = "test") -> IngestReport:
    pipeline = IngestPipeline(runtime.settings, runtime.catalog, runtime.embedder)
    return pipeline.run(paths, collection)


def outcome(report: IngestReport, name: str) -> tuple[str, str | None]:
    match = next(o for o in report.outcomes if Path(o.source).name == name)
    return match.status, match.reason


def stored_texts(runtime: Runtime, collection: str = "test") -> list[str]:
    """Every chunk text in the collection (searching with a large limit)."""
    row = runtime.catalog.collections.get(collection)
    assert row is not None
    vector = runtime.embedder.embed_queries(["anything"])[0].tolist()
    hits = runtime.catalog.vectors.search(row.vector_collection, vector, 10_000)
    return [h.payload.text for h in hits]


def chunk_count(runtime: Runtime, collection: str = "test") -> int:
    row = runtime.catalog.collections.get(collection)
    assert row is not None
    return runtime.catalog.vectors.count(row.vector_collection)
