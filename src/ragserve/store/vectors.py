"""What every vector store offers, and the naming that ties ragserve collections to it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ragserve.store.payload import ChunkPayload

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


@dataclass(frozen=True, slots=True)
class ChunkPoint:
    id: str
    vector: Sequence[float]
    payload: ChunkPayload


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    score: float
    payload: ChunkPayload
    vector: list[float] | None = None


class VectorStore(Protocol):
    """Chunks and their vectors. Payloads carry ``document_id`` and ``chunk_index``."""

    def create(self, name: str, dimension: int) -> None: ...

    def exists(self, name: str) -> bool: ...

    def drop(self, name: str) -> None: ...

    def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None: ...

    def delete_document(self, name: str, doc_id: str, from_index: int = 0) -> None:
        """Delete a document's chunks whose ``chunk_index`` is at least ``from_index``."""
        ...

    def search(
        self,
        name: str,
        vector: Sequence[float],
        limit: int,
        exclude_documents: Sequence[str] = (),
    ) -> list[SearchHit]:
        """The ``limit`` nearest chunks, leaving out those of ``exclude_documents``."""
        ...

    def count(self, name: str, doc_id: str | None = None) -> int: ...

    def optimize(self, name: str) -> None:
        """Build indexes after a bulk load (HNSW for the embedded store)."""
        ...

    def close(self) -> None: ...
