"""What every vector store offers, and the naming that ties ragserve collections to it.

A collection holds a dense vector per chunk (the unnamed vector) and, when it was created
with a sparse side, a BM25 sparse vector named :data:`SPARSE_VECTOR` whose IDF factor the
store applies (``Modifier.IDF``). ``search`` is dense, sparse or hybrid by which query
vectors it is given; hybrid fuses the two rankings with reciprocal-rank fusion inside the
store (prefetch dense + prefetch sparse, then RRF), never in Python.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ragserve.embed.sparse import SparseVector
from ragserve.store.payload import ChunkPayload

#: The sparse vector's name in every collection that has one.
SPARSE_VECTOR = "bm25"
#: Reciprocal-rank fusion's k: a passage at rank r adds 1/(k + r); 60 is Qdrant's default.
RRF_K = 60

_NAMESPACE = uuid.UUID("6f1d6c58-52a4-4f0c-9a55-1bd3d0e0a7c1")


def document_id(collection: str, source: str) -> str:
    """Stable id of a document: the same file in the same collection keeps its id."""
    return str(uuid.uuid5(_NAMESPACE, f"{collection}\x00{source}"))


def point_id(doc_id: str, chunk_index: int) -> str:
    """Stable id of a chunk, so re-ingesting overwrites instead of duplicating."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}\x00{chunk_index}"))


def vector_collection_name(collection: str, model_id: str, dimension: int) -> str:
    """One Qdrant collection per ragserve collection and embedding model."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_id.lower()).strip("-")[:48]
    return f"{collection}__{slug}__{dimension}"


def rebuilt_vector_collection_name(base: str) -> str:
    """A new name for a collection's vectors rebuilt by a re-index (``base`` plus a stamp)."""
    return f"{base}__r{time.time_ns()}"


def derives_from(base: str, name: str) -> bool:
    """Whether ``name`` is ``base`` or one of its rebuilt names."""
    return re.fullmatch(rf"{re.escape(base)}(__r\d+)?", name) is not None


@dataclass(frozen=True, slots=True)
class ChunkPoint:
    id: str
    vector: Sequence[float]
    payload: ChunkPayload
    #: Written only to collections created with a sparse side.
    sparse: SparseVector | None = None


def prefetch_limit(limit: int) -> int:
    """How many candidates each side of a hybrid search brings to the fusion."""
    return max(4 * limit, 40)


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    score: float
    payload: ChunkPayload
    vector: list[float] | None = None


class VectorStore(Protocol):
    """Chunks and their vectors. Payloads carry ``document_id`` and ``chunk_index``."""

    def create(self, name: str, dimension: int, sparse: bool = False) -> None:
        """A collection of ``dimension``-sized dense vectors, with a sparse side if asked."""
        ...

    def exists(self, name: str) -> bool: ...

    def drop(self, name: str) -> None: ...

    def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None: ...

    def delete_document(self, name: str, doc_id: str, from_index: int = 0) -> None:
        """Delete a document's chunks whose ``chunk_index`` is at least ``from_index``."""
        ...

    def search(
        self,
        name: str,
        vector: Sequence[float] | None,
        limit: int,
        exclude_documents: Sequence[str] = (),
        sparse: SparseVector | None = None,
    ) -> list[SearchHit]:
        """The ``limit`` best chunks, leaving out those of ``exclude_documents``: nearest to
        ``vector`` (dense), best by ``sparse`` (keyword; ``vector`` None), or both fused
        by RRF (hybrid; scores are then RRF scores, not similarities)."""
        ...

    def count(self, name: str, doc_id: str | None = None) -> int: ...

    def optimize(self, name: str) -> None:
        """Build indexes after a bulk load (HNSW for the embedded store)."""
        ...

    def close(self) -> None: ...
