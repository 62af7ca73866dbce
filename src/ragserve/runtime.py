"""The running parts, built lazily from Settings: stores, embedder, chat backend.

The CLI builds one per command; the server (later) builds one per process.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from functools import cached_property

from ragserve.config import Settings, VectorStoreKind
from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.chain import build_chat
from ragserve.llm.kinds import ChatSetup
from ragserve.rag.answer import AnswerService
from ragserve.store.catalog import Catalog
from ragserve.store.metadata import MetadataStore
from ragserve.store.vectors import VectorStore

# Tokenizers are used from several threads; their own thread pool would oversubscribe.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Runtime:
    """Owns every resource one ragserve process uses; close it (or use ``with``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = ExitStack()
        #: Resources that live as long as the runtime (the embedded llama.cpp server, ...).
        self.stack = self._stack
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    @cached_property
    def metadata(self) -> MetadataStore:
        return MetadataStore(f"sqlite:///{self.settings.data_dir / 'ragserve.db'}")

    @cached_property
    def vectors(self) -> VectorStore:
        kind = self.settings.resolved_vector_store
        store: VectorStore
        if kind is VectorStoreKind.edge:
            from ragserve.store.edge import EdgeVectorStore

            store = EdgeVectorStore(
                self.settings.data_dir / "vectors" / "edge", hnsw_ef=self.settings.search_ef
            )
        else:
            from ragserve.store.qdrant import QdrantClientStore

            if kind is VectorStoreKind.server:
                store = QdrantClientStore(
                    url=self.settings.qdrant_url, api_key=self.settings.qdrant_api_key
                )
            else:
                store = QdrantClientStore(path=self.settings.data_dir / "vectors" / "local")
        self._stack.callback(store.close)
        return store

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.metadata, self.vectors)

    @cached_property
    def embedder(self) -> EmbeddingBackend:
        from ragserve.embed.registry import build_embedder

        embedder = build_embedder(self.settings)
        self._stack.callback(embedder.close)
        return embedder

    @cached_property
    def chat(self) -> ChatSetup:
        """The chat backend; starts the embedded llama.cpp server when none is configured."""
        return build_chat(self.settings, self._stack, self.metadata)

    def answers(self) -> AnswerService:
        return AnswerService(self.settings, self.catalog, self.embedder, self.chat.backend)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
