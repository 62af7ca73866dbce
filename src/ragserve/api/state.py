"""Everything a running server holds, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ragserve.api.serving.chat import ChatServing
from ragserve.api.serving.embeddings import EmbeddingServing
from ragserve.api.serving.health import Readiness
from ragserve.api.serving.openai import OpenAIServing
from ragserve.config import Settings
from ragserve.embed.request_merging import MergingEmbedder
from ragserve.ingest.service import IngestService
from ragserve.llm.chain import chat_specs
from ragserve.llm.switch import ChatSwitch
from ragserve.rag.answer import AnswerService
from ragserve.rag.retrieve import Retriever
from ragserve.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    settings: Settings
    runtime: Runtime
    embedder: MergingEmbedder
    ingest: IngestService
    answers: AnswerService
    retriever: Retriever
    chat: ChatServing
    openai: OpenAIServing
    embeddings: EmbeddingServing
    readiness: Readiness
    switch: ChatSwitch

    @classmethod
    async def start(cls, settings: Settings, runtime: Runtime) -> ServerState:
        """Load the models and open the stores (off the event loop), then start ingestion."""
        inner = await asyncio.to_thread(lambda: runtime.embedder)
        # Merge about what one forward pass takes (short texts): a bigger merge only makes
        # early requests wait, and smaller ones let responses go out while the next runs.
        merge = max(8, min(settings.embed_max_batch, settings.resolved_embed_batch_tokens // 32))
        embedder = MergingEmbedder(
            inner,
            max_batch=merge,
            delay_s=settings.embed_batch_delay_ms / 1000,
            piece_tokens=settings.resolved_embed_batch_tokens,
        )
        catalog = await asyncio.to_thread(lambda: runtime.catalog)
        switch = ChatSwitch(settings, runtime.stack)
        specs = chat_specs(settings, catalog.metadata)
        chat = await asyncio.to_thread(switch.build, specs)
        log.info("chat: %s", " → ".join(s.label for s in specs))
        ingest = IngestService(settings, catalog, embedder)
        answers = AnswerService(settings, catalog, embedder, chat, ingest.not_ready)
        retriever = answers.retriever
        await asyncio.to_thread(ingest.start)
        return cls(
            settings=settings,
            runtime=runtime,
            embedder=embedder,
            ingest=ingest,
            answers=answers,
            retriever=retriever,
            chat=ChatServing(settings, answers, retriever, catalog.metadata),
            openai=OpenAIServing(
                settings, catalog, answers, retriever, chat.base_url, [embedder.model_id]
            ),
            embeddings=EmbeddingServing(embedder),
            readiness=Readiness(embedder, catalog, chat),
            switch=switch,
        )

    async def reload_backends(self) -> None:
        """Rebuild the chat chain after the Resources store changed."""
        specs = chat_specs(self.settings, self.ingest.catalog.metadata)
        chat = await asyncio.to_thread(self.switch.build, specs)
        self.answers.chat = chat
        self.readiness.chat = chat
        self.readiness.forget()

    async def stop(self) -> None:
        """Finish or checkpoint ingestion, then release models and servers."""
        await asyncio.to_thread(self.ingest.stop, self.settings.shutdown_grace_s)
        await self.openai.aclose()
        await self.switch.aclose()
        await asyncio.to_thread(self.embedder.close)
