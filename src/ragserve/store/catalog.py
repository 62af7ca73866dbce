"""Collections: their pinned embedding model, their vectors and their document rows."""

from __future__ import annotations

import re
import threading

from ragserve.errors import CollectionNotFound, ConfigError, EmbeddingMismatch
from ragserve.store.metadata import CollectionRow, DocumentRow, MetadataStore
from ragserve.store.vectors import VectorStore, vector_collection_name

_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class Catalog:
    """Opens collections, checking that the configured embedder matches the pinned one."""

    def __init__(self, metadata: MetadataStore, vectors: VectorStore) -> None:
        self.metadata = metadata
        self.vectors = vectors
        self._create_lock = threading.Lock()
        # Opened collections, so a question costs no SQL round trip or directory scan; this
        # process is the only writer of its data dir (see store/ownership.py).
        self._open_rows: dict[str, CollectionRow] = {}

    def cached(self, name: str, model_id: str, dimension: int) -> CollectionRow | None:
        """The collection if this process opened it already with this model, else None."""
        row = self._open_rows.get(name)
        if row is not None and row.embed_model == model_id and row.dimension == dimension:
            return row
        return None

    def open(self, name: str, model_id: str, dimension: int, *, create: bool) -> CollectionRow:
        """The collection ``name``, created (and pinned to the model) if asked and missing."""
        row = self.cached(name, model_id, dimension)
        if row is not None:
            return row
        with self._create_lock:  # two ingests into a new collection must not both create it
            row = self._open(name, model_id, dimension, create=create)
            self._open_rows[name] = row
            return row

    def _open(self, name: str, model_id: str, dimension: int, *, create: bool) -> CollectionRow:
        row = self.metadata.get_collection(name)
        if row is None:
            if not create:
                raise CollectionNotFound(name)
            if not _VALID_NAME.match(name):
                raise ConfigError(
                    f"invalid collection name {name!r}: use letters, digits, '.', '_' or '-'"
                )
            row = CollectionRow(
                name=name,
                embed_model=model_id,
                dimension=dimension,
                vector_collection=vector_collection_name(name, model_id, dimension),
            )
            self.vectors.create(row.vector_collection, dimension)
            return self.metadata.add_collection(row)
        if row.embed_model != model_id or row.dimension != dimension:
            raise EmbeddingMismatch(name, row.embed_model, row.dimension, model_id, dimension)
        if not self.vectors.exists(row.vector_collection):
            self.vectors.create(row.vector_collection, dimension)
        return row

    def collections(self) -> list[tuple[CollectionRow, int]]:
        return self.metadata.list_collections()

    def documents(self, name: str) -> list[DocumentRow]:
        if self.metadata.get_collection(name) is None:
            raise CollectionNotFound(name)
        return self.metadata.list_documents(name)

    def delete(self, name: str) -> None:
        row = self.metadata.get_collection(name)
        if row is None:
            raise CollectionNotFound(name)
        self._open_rows.pop(name, None)
        self.vectors.drop(row.vector_collection)
        self.metadata.delete_collection(name)
