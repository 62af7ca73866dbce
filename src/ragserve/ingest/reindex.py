"""Re-index a whole collection from its files: every document's dense and sparse vectors again.

This is how a collection made before hybrid search (or with ``RAGSERVE_SPARSE=off``, or by
an older keyword tokenizer) gets its keyword side. The vectors are rebuilt into a new vector
collection next to the live one, so searches keep working on the old vectors meanwhile; only
when every document is in the new one does the collection switch to it (recording the
tokenizer it now has) and the old vectors go. If any document fails, nothing switches: the
new vectors are dropped and the collection stays as it was.

A document's file is its uploaded copy (``stored_path``) for documents that came through the
server, else its source path as ``ragserve ingest`` recorded it — absolute, or relative to
the folder the ingest ran in. A collection with a missing file is refused before any work
(documents that had already failed aside: they have no vectors to lose).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.sparse import SPARSE_ENCODING
from ragserve.errors import NotFound, ReindexFailed
from ragserve.ingest.pipeline import FileOutcome, IngestItem, IngestPipeline, IngestReport
from ragserve.store.catalog import Catalog
from ragserve.store.tables import CollectionRow, DocumentRow, DocumentStatus
from ragserve.store.vectors import rebuilt_vector_collection_name, vector_collection_name


@dataclass(frozen=True, slots=True)
class ReindexResult:
    report: IngestReport
    #: What the collection records now: its sparse encoding (None: still dense only).
    sparse_encoding: str | None
    vector_collection: str


def document_file(row: DocumentRow, cwd: Path) -> Path | None:
    """The file a document was indexed from, if it is still there."""
    candidates = [Path(row.stored_path)] if row.stored_path else []
    source = Path(row.source)
    candidates.append(source if source.is_absolute() else cwd / source)
    return next((p for p in candidates if p.is_file()), None)


def _next_vector_collection(row: CollectionRow) -> str:
    """A vector collection name the live one does not use (the model's name plus a stamp)."""
    base = vector_collection_name(row.name, row.embed_model, row.dimension)
    return rebuilt_vector_collection_name(base)


def reindex_collection(
    settings: Settings,
    catalog: Catalog,
    embedder: EmbeddingBackend,
    name: str,
    *,
    cwd: Path | None = None,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ReindexResult:
    """Rebuild every document of collection ``name`` into a new vector collection, then switch.

    Raises CollectionNotFound, EmbeddingMismatch (the configured embedder is not the
    collection's), NotFound (a document's file is gone) or ReindexFailed.
    """
    row = catalog.open(name, embedder.model_id, embedder.dimension, create=False)
    documents = catalog.list_documents(name)
    here = cwd or Path.cwd()
    files = {d.id: document_file(d, here) for d in documents}
    # A document that already failed has no vectors to lose: it is tried again if its file
    # is there, and neither its absence nor a second failure stops the others.
    had_failed = {d.id for d in documents if d.status == DocumentStatus.failed.value}
    gone = [d.source for d in documents if files[d.id] is None and d.id not in had_failed]
    if gone:
        listed = ", ".join(gone[:5]) + (f" (and {len(gone) - 5} more)" if len(gone) > 5 else "")
        raise NotFound(
            f"collection {name!r} cannot be re-indexed: the files of {len(gone)} document(s) "
            f"are gone ({listed}). Run from the folder they were ingested from, or delete "
            "those documents first."
        )
    sparse = catalog.sparse_for_new
    target = CollectionRow(
        name=row.name,
        embed_model=row.embed_model,
        dimension=row.dimension,
        vector_collection=_next_vector_collection(row),
        sparse_encoding=SPARSE_ENCODING if sparse else None,
        retrieval_mode=row.retrieval_mode,
    )
    catalog.vectors.create(target.vector_collection, row.dimension, sparse=sparse)
    started = time.perf_counter()
    report = IngestReport(name)

    def record(outcome: FileOutcome) -> None:
        report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    items = [
        IngestItem(path, d.id, d.source, target, force=True)
        for d in documents
        if (path := files[d.id]) is not None
    ]
    if on_start is not None:
        on_start(len(items))
    try:
        IngestPipeline(settings, catalog, embedder).process(items, record)
    except BaseException:
        catalog.vectors.drop(target.vector_collection)
        raise
    report.seconds = time.perf_counter() - started
    failed = [o for o in report.failed if o.document_id not in had_failed]
    if failed:
        catalog.vectors.drop(target.vector_collection)
        raise ReindexFailed(name, [(o.source, o.reason or "failed") for o in failed])
    if items:
        catalog.vectors.optimize(target.vector_collection)
    catalog.switch_vectors(name, target.vector_collection, target.sparse_encoding)
    return ReindexResult(report, target.sparse_encoding, target.vector_collection)
