"""The catalog: the one way into stored state — the tables' repositories and the vectors —
and the operations that span them (collections pinned to their embedding model, a document's
state together with its job's record).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from ragserve.embed.sparse import SPARSE_ENCODING
from ragserve.errors import (
    CollectionNotFound,
    ConfigError,
    EmbeddingMismatch,
    SparseEncodingMismatch,
    SparseIndexMissing,
)
from ragserve.protocol import COLLECTION_NAME
from ragserve.store.db import Database
from ragserve.store.repositories.backends import BackendRepository
from ragserve.store.repositories.collections import CollectionRepository
from ragserve.store.repositories.conversations import ConversationRepository
from ragserve.store.repositories.documents import DocumentQuery, DocumentRepository
from ragserve.store.repositories.job_items import JobItemRepository
from ragserve.store.repositories.jobs import JobRepository
from ragserve.store.tables import CollectionRow, DocumentRow, JobItemRow, JobRow
from ragserve.store.vectors import VectorStore, derives_from, vector_collection_name

# One pattern for the API's schema and the store (the CLI creates collections too).
_VALID_NAME = re.compile(COLLECTION_NAME)


class Catalog:
    """Opens collections, checking that the configured embedder matches the pinned one.

    New collections get a sparse (BM25) side made with ``SPARSE_ENCODING`` unless
    ``sparse_for_new`` is off; collections keep what they were created with.
    """

    def __init__(self, db: Database, vectors: VectorStore, *, sparse_for_new: bool = True) -> None:
        self.db = db
        self.vectors = vectors
        self.sparse_for_new = sparse_for_new
        self.collections = CollectionRepository(db)
        self.documents = DocumentRepository(db)
        self.jobs = JobRepository(db)
        self.job_items = JobItemRepository(db)
        self.conversations = ConversationRepository(db)
        self.backends = BackendRepository(db)
        self._create_lock = threading.Lock()
        # Opened collections, so a question costs no SQL round trip or directory scan; this
        # process is the only writer of its data dir (see store/ownership.py).
        self._open_rows: dict[str, CollectionRow] = {}

    # -- collections ------------------------------------------------------------------------
    def cached(self, name: str, model_id: str, dimension: int) -> CollectionRow | None:
        """The collection if this process opened it already with this model, else None."""
        row = self._open_rows.get(name)
        if row is not None and row.embed_model == model_id and row.dimension == dimension:
            return row
        return None

    def open(
        self,
        name: str,
        model_id: str,
        dimension: int,
        *,
        create: bool,
        retrieval_mode: str | None = None,
    ) -> CollectionRow:
        """The collection ``name``, created (and pinned to the model) if asked and missing;
        ``retrieval_mode`` is the new collection's own mode. Opening to write (``create``)
        a collection whose sparse side another tokeniser made is refused."""
        row = self.cached(name, model_id, dimension)
        if row is None:
            with self._create_lock:  # two ingests into a new collection must not both create it
                row = self._open(name, model_id, dimension, create, retrieval_mode)
                self._open_rows[name] = row
        if create:
            check_sparse_encoding(row)
        return row

    def _open(
        self, name: str, model_id: str, dimension: int, create: bool, retrieval_mode: str | None
    ) -> CollectionRow:
        row = self.collections.get(name)
        if row is None:
            if not create:
                raise CollectionNotFound(name)
            if not _VALID_NAME.fullmatch(name):
                raise ConfigError(
                    f"invalid collection name {name!r}: use letters, digits, '.', '_' or '-'"
                )
            row = CollectionRow(
                name=name,
                embed_model=model_id,
                dimension=dimension,
                vector_collection=vector_collection_name(name, model_id, dimension),
                sparse_encoding=SPARSE_ENCODING if self.sparse_for_new else None,
                retrieval_mode=retrieval_mode,
            )
            self.vectors.create(row.vector_collection, dimension, sparse=self.sparse_for_new)
            return self.collections.add(row)
        if row.embed_model != model_id or row.dimension != dimension:
            raise EmbeddingMismatch(name, row.embed_model, row.dimension, model_id, dimension)
        if not self.vectors.exists(row.vector_collection):
            self.vectors.create(
                row.vector_collection, dimension, sparse=row.sparse_encoding is not None
            )
        return row

    def set_retrieval_mode(self, name: str, mode: str | None) -> CollectionRow:
        """Set (or, with None, clear) a collection's own retrieval mode; a keyword mode needs
        the collection's sparse side."""
        row = self.collections.get(name)
        if row is None:
            raise CollectionNotFound(name)
        if mode in ("sparse", "hybrid") and row.sparse_encoding is None:
            raise SparseIndexMissing(name, mode)
        row = self.collections.set_retrieval_mode(name, mode)
        if row is None:
            raise CollectionNotFound(name)
        cached = self._open_rows.get(name)
        if cached is not None:
            cached.retrieval_mode = mode
        return row

    def switch_vectors(
        self, name: str, vector_collection: str, sparse_encoding: str | None
    ) -> None:
        """Make a re-indexed collection search ``vector_collection`` (made with
        ``sparse_encoding``), then drop the vectors it had."""
        row = self.collections.get(name)
        if row is None:
            raise CollectionNotFound(name)
        old = row.vector_collection
        with self._create_lock:
            self.collections.set_vectors(name, vector_collection, sparse_encoding)
            self._open_rows.pop(name, None)
        if old != vector_collection:
            self.vectors.drop(old)

    def drop_unreferenced_vectors(self, present: list[str]) -> list[str]:
        """Drop what a re-index cut short left in ``present``: a live collection's other
        vector collections (its base name or a rebuilt one, see store/vectors.py)
        that it does not point at — the new vectors of a run that stopped, or the old ones
        of a switch that did. Nothing else is touched: a name no collection row derives
        from may belong to a database this process does not see. Only for a store this
        process alone writes (the embedded one, under the data dir's lock): elsewhere
        another process's re-index may be building one right now."""
        orphans = []
        for row, _ready in self.list_collections():
            base = vector_collection_name(row.name, row.embed_model, row.dimension)
            orphans += [
                name
                for name in present
                if name != row.vector_collection and derives_from(base, name)
            ]
        for name in orphans:
            self.vectors.drop(name)
        return orphans

    def list_collections(self) -> list[tuple[CollectionRow, int]]:
        """Every collection with its number of ready documents."""
        return self.collections.list_with_ready_counts()

    def list_documents(self, name: str) -> list[DocumentRow]:
        if self.collections.get(name) is None:
            raise CollectionNotFound(name)
        return self.documents.in_collection(name)

    def document_page(self, name: str, query: DocumentQuery) -> tuple[list[DocumentRow], int]:
        """One page of a collection's documents and how many match in all."""
        if self.collections.get(name) is None:
            raise CollectionNotFound(name)
        return self.documents.page(name, query)

    def drop_collection(self, name: str) -> None:
        """Delete a collection's vectors and rows (its documents go with it)."""
        row = self.collections.get(name)
        if row is None:
            raise CollectionNotFound(name)
        self._open_rows.pop(name, None)
        self.vectors.drop(row.vector_collection)
        with self.db.transaction():
            self.documents.delete_in_collection(name)
            self.collections.delete(name)

    # -- documents and jobs -----------------------------------------------------------------
    def set_document_state(self, doc_id: str, **fields: Any) -> DocumentRow:
        """Update a document row (created if missing) and, when its status changes, the item
        of the job that queued it — in one transaction."""
        with self.db.transaction():
            row = self.documents.update(doc_id, **fields)
            if "status" in fields and row.job_id:
                item = {k: fields[k] for k in ("status", "error", "chunks") if k in fields}
                self.job_items.record(row.job_id, doc_id, **item)
            return row

    def add_job(
        self, job: JobRow, items: list[JobItemRow], documents: list[dict[str, Any]]
    ) -> None:
        """Record a job, its items and the documents it queues (``id`` plus the fields to set
        on each), in one transaction."""
        with self.db.transaction():
            self.jobs.add(job)
            self.job_items.add_all(items)
            for fields in documents:
                self.documents.update(
                    fields["id"], **{k: v for k, v in fields.items() if k != "id"}
                )

    def job_with_items(self, job_id: str) -> tuple[JobRow, list[JobItemRow]] | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        return job, self.job_items.for_jobs([job_id]).get(job_id, [])

    def recent_jobs(self, limit: int) -> list[tuple[JobRow, list[JobItemRow]]]:
        """The newest jobs with their items: two queries, whatever ``limit`` is."""
        jobs = self.jobs.recent(limit)
        items = self.job_items.for_jobs([j.id for j in jobs])
        return [(job, items.get(job.id, [])) for job in jobs]


def check_sparse_encoding(row: CollectionRow) -> None:
    """Refuse a collection whose sparse side this version cannot read or extend."""
    if row.sparse_encoding is not None and row.sparse_encoding != SPARSE_ENCODING:
        raise SparseEncodingMismatch(row.name, row.sparse_encoding, SPARSE_ENCODING)
