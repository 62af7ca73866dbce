"""The one place that builds ragserve's running parts, for the CLI and the server alike.

    Settings ─▶ Database ─┐
              VectorStore ┴▶ Catalog ─┬─▶ IngestPipeline (CLI) / IngestService (server)
              embedder ───────────────┤
              ChatChain ──────────────┴─▶ AnswerService

Parts are built on first use, so ``ragserve collections`` loads no model. Each constructor
takes its collaborators; tests (and programs embedding ragserve) hand in real parts they
built once — the session's embedder, say — through :class:`Runtime`'s arguments.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import ExitStack
from functools import cached_property

from pydantic import ValidationError

from ragserve.access.secretbox import SecretBox
from ragserve.config import BackendSpec, Settings, VectorStoreKind
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.request_merging import MergingEmbedder
from ragserve.errors import RagserveError
from ragserve.ingest.service import IngestService
from ragserve.llm.chain import ChatChain
from ragserve.observability.tracing import Tracing
from ragserve.rag.answer import AnswerService
from ragserve.rag.rerank import RerankStage, build_rerank_stage
from ragserve.store.catalog import Catalog
from ragserve.store.db import Database
from ragserve.store.vectors import VectorStore

log = logging.getLogger(__name__)

# Tokenizers are used from several threads; their own thread pool would oversubscribe.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Runtime:
    """Owns every resource one ragserve process uses; close it (or use ``with``).

    Parts passed in are the caller's: they are used, never closed, here.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: EmbeddingBackend | None = None,
        vectors: VectorStore | None = None,
        database: Database | None = None,
        chain: ChatChain | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.stack = ExitStack()
        self._given_embedder = embedder
        self._given_vectors = vectors
        self._given_database = database
        self._given_chain = chain
        self._given_tracing = tracing
        #: True once :meth:`start_serving` ran: questions then share the batched embedder.
        self.serving = False
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    # -- storage ----------------------------------------------------------------------------
    @cached_property
    def database(self) -> Database:
        if self._given_database is not None:
            return self._given_database
        db = Database.for_settings(self.settings)
        self.stack.callback(db.close)
        return db

    @cached_property
    def vectors(self) -> VectorStore:
        if self._given_vectors is not None:
            return self._given_vectors
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
        self.stack.callback(store.close)
        return store

    @cached_property
    def secrets(self) -> SecretBox:
        """Seals backend API keys stored through the Resources page (RAGSERVE_SECRET_KEY)."""
        return SecretBox(self.settings.secret_key)

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.database, self.vectors, sparse_for_new=self.settings.sparse)

    # -- models -----------------------------------------------------------------------------
    @cached_property
    def embedder(self) -> EmbeddingBackend:
        """The embedding model itself (the CLI calls it directly)."""
        if self._given_embedder is not None:
            return self._given_embedder
        from ragserve.embed.registry import build_embedder

        embedder = build_embedder(self.settings)
        self.stack.callback(embedder.close)
        return embedder

    @cached_property
    def shared_embedder(self) -> MergingEmbedder:
        """The embedder behind one queue that merges concurrent requests (the server's)."""
        settings = self.settings
        # Merge about what one forward pass takes (short texts): a bigger merge only makes
        # early requests wait, and smaller ones let responses go out while the next runs.
        merge = max(8, min(settings.embed_max_batch, settings.resolved_embed_batch_tokens // 32))
        if settings.embeds_on_gpu and "embed_max_batch" not in settings.model_fields_set:
            # On a GPU one forward pass takes ~65k tokens: a merge of 128 short requests'
            # texts would leave it mostly idle and keep tokenising off the worker processes.
            merge = settings.resolved_embed_batch_tokens // 32
        return MergingEmbedder(
            self.embedder,
            max_batch=merge,
            delay_s=settings.embed_batch_delay_ms / 1000,
            piece_tokens=settings.resolved_embed_batch_tokens,
        )

    def chat_specs(self) -> list[BackendSpec]:
        """The fallback order: the Resources store's backends, then the settings' chain."""
        return self._stored_specs()[0] + self.settings.chat_chain

    def _stored_specs(self) -> tuple[list[BackendSpec], dict[str, str]]:
        """The stored backends that parse, and why the others do not."""
        specs, broken = [], {}
        for row in self.catalog.backends.ordered():
            try:
                fields = {k: v for k, v in row.spec.items() if k != "name"}
                fields["api_key"] = self.secrets.open(fields.get("api_key"))
                specs.append(BackendSpec(name=row.name, **fields))
            except ValidationError as exc:
                broken[row.name] = f"stored entry does not parse: {exc.errors()[0]['msg']}"
        return specs, broken

    @cached_property
    def chain(self) -> ChatChain:
        """The chat chain; builds (and, by default, starts the embedded llama.cpp server)."""
        if self._given_chain is not None:
            return self._given_chain
        chain = ChatChain(self.settings, self.stack)
        self._reload(chain)
        return chain

    def reload_chain(self) -> None:
        """Rebuild the chain after the Resources store changed (blocking)."""
        self._reload(self.chain)

    def _reload(self, chain: ChatChain) -> None:
        """Stored entries that no longer build (an old version's, a hand edit) are skipped
        and reported, never allowed to stop the start; the settings' own chain must build."""
        stored, broken = self._stored_specs()
        usable = []
        for spec in stored:
            try:
                chain.build(spec)
            except RagserveError as exc:
                broken[spec.label] = str(exc)
                log.warning("stored chat backend %s skipped: %s", spec.label, exc)
                continue
            usable.append(spec)
        chain.reload(usable + self.settings.chat_chain, broken)

    @cached_property
    def tracing(self) -> Tracing | None:
        """Traces of questions: off unless the environment names a destination (Langfuse,
        OTLP); installed when answers are first built."""
        given = self._given_tracing
        tracing = given or Tracing.from_env(content=self.settings.trace_content)
        if tracing is not None:
            tracing.install()
            self.stack.callback(tracing.uninstall if given else tracing.shutdown)
        return tracing

    @cached_property
    def reranker(self) -> RerankStage | None:
        """The configured reranker (RAGSERVE_RERANK), or None; the LLM one uses the chain."""
        return build_rerank_stage(self.settings, lambda: self.chain)

    # -- services ---------------------------------------------------------------------------
    @cached_property
    def ingest(self) -> IngestService:
        """The server's durable ingestion queue (the CLI runs an IngestPipeline instead);
        with RAGSERVE_QUEUE_URL, the shared one that workers take documents from."""
        if self.settings.queue_url:
            from ragserve.cluster.service import ClusterIngestService

            return ClusterIngestService(self.settings, self.catalog, self.shared_embedder)
        return IngestService(self.settings, self.catalog, self.shared_embedder)

    @cached_property
    def answers(self) -> AnswerService:
        _ = self.tracing
        if self.serving:
            return AnswerService(
                self.settings,
                self.catalog,
                self.shared_embedder,
                self.chain,
                self.ingest.not_ready,
                reranker=self.reranker,
            )
        return AnswerService(
            self.settings, self.catalog, self.embedder, self.chain, reranker=self.reranker
        )

    def start_serving(self) -> None:
        """Build the server's parts and start ingestion (blocking: models load here)."""
        self.serving = True
        # Load the model, open the stores and start the chat chain now, not on a request.
        _ = self.shared_embedder, self.catalog, self.chain, self.answers
        self._sweep_vectors()
        self.ingest.start()

    def _sweep_vectors(self) -> None:
        """Free what a re-index cut short left on disk (the embedded store only: the
        server holds the data dir's lock, so nothing else is building vectors there)."""
        from ragserve.store.edge import EdgeVectorStore

        if not isinstance(self.vectors, EdgeVectorStore):
            return
        for name in self.catalog.drop_unreferenced_vectors(self.vectors.names()):
            log.warning("dropped vectors %s: no collection uses them (a re-index was cut "
                        "short)", name)  # fmt: skip

    async def stop_serving(self) -> None:
        """Finish or checkpoint ingestion, then release the chat clients and the batcher."""
        await asyncio.to_thread(self.ingest.stop, self.settings.shutdown_grace_s)
        await self.chain.aclose()
        if self.reranker is not None:
            await self.reranker.aclose()
        await asyncio.to_thread(self.shared_embedder.close)

    def close(self) -> None:
        self.stack.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
