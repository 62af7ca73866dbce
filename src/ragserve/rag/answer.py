"""Answering a question: retrieve, pack, stream the model's tokens, then cite.

Or, in the extractive mode, stream the passages' best sentences with their citations and no
model at all (``rag/extractive.py``); ``auto`` takes it when the chat model is the packaged
one measured too weak to answer, or when no chat backend can be reached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from ragserve.breaker import BreakerState
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.request_merging import BACKGROUND
from ragserve.errors import BackendError
from ragserve.llm.base import ChatBackend, ChatMessage, TokenUsage, stream_counting
from ragserve.llm.chain import ChatChain
from ragserve.llm.embedded import PACKAGED_MODEL_ACCURACY
from ragserve.observability import metrics, tracing
from ragserve.protocol import (
    AnswerMode,
    AskResult,
    Citation,
    Highlight,
    SearchMode,
    Timings,
    Usage,
)
from ragserve.rag import extractive
from ragserve.rag.citations import Attribution, cited_numbers
from ragserve.rag.prompt import build_messages
from ragserve.rag.rerank.base import RerankStage, choose_stage
from ragserve.rag.retrieve import Retriever, embed_texts
from ragserve.rag.rewrite import standalone_query
from ragserve.store.catalog import Catalog

NO_SOURCES_ANSWER = "I could not find anything about this in the collection {name!r}."
#: The ``model`` of an extractive answer: none wrote it.
EXTRACTIVE_MODEL = "extractive"


@dataclass(frozen=True, slots=True)
class TokenEvent:
    text: str


@dataclass(frozen=True, slots=True)
class DoneEvent:
    result: AskResult


AnswerEvent = TokenEvent | DoneEvent


class AnswerService:
    """Streams cited answers from a collection."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        embedder: EmbeddingBackend,
        chat: ChatBackend,
        not_ready: Callable[[str], list[tuple[str, str]]] | None = None,
        reranker: RerankStage | None = None,
    ) -> None:
        """``not_ready(collection)`` lists (id, source) of documents not to use yet; by
        default it asks SQL, the server passes its ingestion queue's in-memory view.
        ``reranker`` reorders a larger candidate set before the best ``top_k`` are used."""
        self.reranker = reranker
        self.settings = settings
        self.not_ready = not_ready or self._not_ready_in_sql
        self.embedder = embedder
        self.chat = chat
        self.catalog = catalog
        self.retriever = Retriever(catalog, embedder, settings.retrieval_mode)

    @tracing.traced_question
    async def stream(
        self,
        question: str,
        collection: str,
        history: Sequence[ChatMessage] = (),
        top_k: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        session_id: str | None = None,
        mode: SearchMode | None = None,
        rerank: bool | None = None,
        answer_mode: AnswerMode | None = None,
    ) -> AsyncIterator[AnswerEvent]:
        """Token events as the model writes, then one DoneEvent with citations.
        ``session_id`` (the conversation) groups this question's trace with its siblings;
        ``mode`` is the retrieval mode asked for (unset: the collection's or the default);
        ``rerank``: False skips the configured reranker (if any); ``answer_mode``: how the
        answer is made (unset: the setting)."""
        started = time.perf_counter()
        requested = answer_mode or self.settings.answer_mode
        extract = requested == "extractive" or (requested == "auto" and self._chat_model_too_weak())
        query, rewrite_ms = question, None
        # An extractive answer needs no model, so neither does its query.
        if history and self.settings.rewrite_followups and not extract:
            query = await standalone_query(self.chat, history, question)
            rewrite_ms = (time.perf_counter() - started) * 1000
        t0 = time.perf_counter()
        # Documents still queued or indexing may be half written: leave them out, and say so.
        pending = self.not_ready(collection)
        plan = self.retriever.plan(await self.retriever.aopen(collection), mode)
        top_k = top_k or self.settings.top_k
        stage = choose_stage(self.reranker, rerank)
        sources = await self.retriever.aretrieve(
            collection,
            query,
            stage.fetch(top_k) if stage else top_k,
            exclude=[d for d, _ in pending],
            mode=plan.mode,
        )
        rerank_ms = None
        if stage is not None:
            t1 = time.perf_counter()
            sources = await stage.rerank(query, sources, top_k)
            rerank_ms = (time.perf_counter() - t1) * 1000
        # The relative floor is for retrieval scores: reranked passages are already chosen.
        if sources and sources[0].retrieval_score is None:
            sources = relative_floor(sources, self.settings.min_relative_score)
        retrieval_ms = (time.perf_counter() - t0) * 1000

        first_token_ms: float | None = None
        parts: list[str] = []
        used: list[Citation] = []
        messages: list[ChatMessage] = []
        counted = TokenUsage()
        model = EXTRACTIVE_MODEL
        if not sources:
            text = NO_SOURCES_ANSWER.format(name=collection)
            parts.append(text)
            yield TokenEvent(text)
        elif not extract:
            try:
                model = await self.chat.model_name()
                messages, used = build_messages(
                    question,
                    sources,
                    history,
                    context_window=await self.chat.context_window(),
                    max_tokens=max_tokens or self.settings.llm_max_tokens,
                    compact=self._embedded_model_answers() is not None,
                )
                async for delta in stream_counting(
                    self.chat,
                    messages,
                    max_tokens=max_tokens or self.settings.llm_max_tokens,
                    temperature=(
                        self.settings.llm_temperature if temperature is None else temperature
                    ),
                    usage=counted,
                ):
                    if first_token_ms is None:
                        first_token_ms = (time.perf_counter() - started) * 1000
                    parts.append(delta)
                    yield TokenEvent(delta)
            except BackendError:
                # `auto` answers from the passages when no model can; once tokens reached
                # the user, or when generation was asked for, the failure is reported.
                if requested != "auto" or parts:
                    raise
                extract, model, messages, counted = True, EXTRACTIVE_MODEL, [], TokenUsage()
        highlights: list[Highlight] = []
        if sources and extract:
            used = sources
            for piece in await self._extract(question, sources):
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
                parts.append(piece)
                yield TokenEvent(piece)

        answer = "".join(parts).strip()
        if extract:
            usage = Usage()
            numbers = cited_numbers(answer, max((c.n for c in used), default=0))
            attribution = "quoted" if numbers else "none"
            highlights = extractive.highlights(answer, question) if numbers else []
        else:
            usage = await self._usage(counted, messages, "".join(parts))
            metrics.PROMPT_TOKENS.observe(usage.prompt_tokens)
            metrics.COMPLETION_TOKENS.observe(usage.completion_tokens)
            numbers = cited_numbers(answer, len(used))
            attribution = "model" if numbers else "none"
            if not numbers and used:
                answer, numbers = await self._attribute(answer, used)
                attribution = "similarity" if numbers else "none"
        by_number = {c.n: c for c in used}
        yield DoneEvent(
            AskResult(
                answer=answer,
                answer_mode="extractive" if extract else "generate",
                highlights=highlights,
                citations=[by_number[n] for n in numbers],
                sources=used,
                query=query,
                collection=collection,
                model=model,
                attribution=attribution,
                indexing=sorted(source for _, source in pending),
                timings=Timings(
                    rewrite_ms=rewrite_ms,
                    retrieval_ms=retrieval_ms,
                    rerank_ms=rerank_ms,
                    first_token_ms=first_token_ms,
                    total_ms=(time.perf_counter() - started) * 1000,
                ),
                usage=usage,
                retrieval_mode=plan.mode,
                notice=plan.notice,
            )
        )

    def _embedded_model_answers(self) -> str | None:
        """The GGUF path (empty: the packaged one) when the chain member that would answer
        now is the embedded llama.cpp server, else None."""
        if not isinstance(self.chat, ChatChain):
            return None
        members = self.chat.members
        live = [m for m in members if m.breaker.state is not BreakerState.open] or members[:1]
        if not live or live[0].spec.kind != "embedded":
            return None
        return str(self.settings.embedded_gguf or "")

    def _chat_model_too_weak(self) -> bool:
        """True when the chat model answering now is the packaged embedded one and its
        measured accuracy is under the setting's threshold (a GGUF of the user's choice is
        trusted: they picked it)."""
        return (
            self._embedded_model_answers() == ""
            and self.settings.answer_auto_min_accuracy > PACKAGED_MODEL_ACCURACY
        )

    async def _extract(self, question: str, sources: Sequence[Citation]) -> list[str]:
        """The extractive answer's pieces: the best sentences, each with its marker."""
        candidates = await asyncio.to_thread(extractive.candidates, sources)
        vectors = None
        if candidates:
            # One batched pass over the question and a few dozen short sentences.
            vectors = await embed_texts(self.embedder, [question] + [c.text for c in candidates])
        chosen = await asyncio.to_thread(extractive.choose, question, candidates, vectors)
        return extractive.render(chosen)

    async def _usage(
        self, counted: TokenUsage, messages: Sequence[ChatMessage], answer: str
    ) -> Usage:
        """The server's counts; what it did not report is counted with the embedding
        model's tokenizer (close for English, an estimate for other models' vocabularies)."""
        prompt, completion = counted.prompt_tokens, counted.completion_tokens
        if prompt is None or completion is None:
            texts = [m["content"] for m in messages] + [answer]
            # Tokenizing a packed prompt is CPU work: off the event loop.
            offsets = await asyncio.to_thread(self.embedder.tokenizer.token_offsets, texts)
            lengths = [len(t) for t in offsets]
            prompt = prompt if prompt is not None else sum(lengths[:-1])
            completion = completion if completion is not None else lengths[-1]
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )

    async def _attribute(self, answer: str, used: Sequence[Citation]) -> tuple[str, list[int]]:
        """Markers for an answer the model left without: by shared words where they decide,
        by embedding only the sentences they leave open."""
        plan = Attribution.plan(answer, used)
        vectors = None
        if plan.ambiguous_sentences:
            # After the answer: runs behind other people's questions, ahead of ingestion.
            vectors = await embed_texts(
                self.embedder, plan.ambiguous_sentences, priority=BACKGROUND
            )
        if vectors is not None and any(c.vector is None for c in used):
            # Sources without stored vectors are embedded: model work, kept off the loop.
            return await asyncio.to_thread(plan.finish, self.embedder, vectors)
        return plan.finish(self.embedder, vectors)

    def _not_ready_in_sql(self, collection: str) -> list[tuple[str, str]]:
        return [(d.id, d.source) for d in self.catalog.documents.not_ready(collection)]

    async def ask(
        self, question: str, collection: str, history: Sequence[ChatMessage] = ()
    ) -> AskResult:
        async for event in self.stream(question, collection, history):
            if isinstance(event, DoneEvent):
                return event.result
        raise AssertionError("stream ended without a result")


def relative_floor(sources: list[Citation], fraction: float) -> list[Citation]:
    """Drop passages scoring under ``fraction`` of the best: a small model answers better
    from one right passage than from it and four weak ones. Hybrid passages are compared by
    their cosine to the question (fused-rank scores are nearly flat); the first is kept."""
    if all(s.similarity is not None for s in sources):
        best = max(s.similarity or 0.0 for s in sources)
        if best <= 0:
            return sources
        return [sources[0]] + [s for s in sources[1:] if (s.similarity or 0.0) >= best * fraction]
    if sources[0].score <= 0:
        return sources
    floor = sources[0].score * fraction
    return [s for s in sources if s.score >= floor]
