"""The OpenAI-compatible facade: ``/v1/models`` and ``/v1/chat/completions``.

A model named ``rag:<collection>`` answers from that collection: the last user message is the
question, earlier user/assistant turns are the history. Citations come twice: as a
"Sources:" block at the end of the text (what any client shows) and as a ``citations`` field
(what a client that knows ragserve reads). An extractive answer (no model wrote it) says so
in a line before "Sources:" and in ``ragserve_answer_mode``. Other model names pass through
to the chat backend unchanged when ``RAGSERVE_EXPOSE_BACKEND_MODELS`` is on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx

from ragserve.api.errors import describe
from ragserve.config import Settings
from ragserve.errors import InvalidRequest, NotFound
from ragserve.llm.base import ChatMessage
from ragserve.llm.chain import ChatChain
from ragserve.openai_http import auth_headers, check_response, map_transport_error
from ragserve.protocol import (
    AskResult,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    ChoiceMessage,
    ChunkChoice,
    Citation,
    DeltaMessage,
    ModelCard,
    ModelList,
    Usage,
)
from ragserve.rag.answer import AnswerEvent, AnswerService, DoneEvent
from ragserve.rag.retrieve import Retriever
from ragserve.sse import event
from ragserve.store.catalog import Catalog

log = logging.getLogger(__name__)

RAG_PREFIX = "rag:"

#: Appended to an extractive answer, so any client's reader knows no model wrote it.
EXTRACTIVE_LABEL = "(Extractive answer: sentences quoted from the sources; no model wrote it.)"


def sources_block(citations: Sequence[Citation], answer_mode: str = "generate") -> str:
    """The citations (and an extractive answer's label) as text appended to an answer."""
    label = f"\n\n{EXTRACTIVE_LABEL}" if answer_mode == "extractive" else ""
    if not citations:
        return label
    lines = []
    for c in citations:
        where = f", p. {c.page}" if c.page else ""
        heading = f" — {c.heading}" if c.heading else ""
        lines.append(f"[{c.n}] {c.source}{where}{heading}")
    return label + "\n\nSources:\n" + "\n".join(lines)


class OpenAIServing:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        answers: AnswerService,
        retriever: Retriever,
        chain: ChatChain,
        embedding_models: Sequence[str],
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.answers = answers
        self.retriever = retriever
        self.chain = chain
        self.embedding_models = list(embedding_models)
        self._created = int(time.time())
        # One pool for every backend; each request is sent to where the chain's first member
        # is now, with its key, so a reload from the Resources store applies at once.
        self._proxy = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.llm_first_token_timeout_s, connect=5.0)
        )

    async def aclose(self) -> None:
        await self._proxy.aclose()

    # -- /v1/models -------------------------------------------------------------------------------
    async def models(self) -> ModelList:
        collections = await asyncio.to_thread(self.catalog.list_collections)
        cards = [
            ModelCard(
                id=f"{RAG_PREFIX}{row.name}",
                created=int(row.created_at.timestamp()),
                owned_by="ragserve",
            )
            for row, _ in collections
        ]
        cards += [ModelCard(id=m, created=self._created, owned_by="ragserve")
                  for m in self.embedding_models]  # fmt: skip
        if self.settings.expose_backend_models:
            for model in await self._backend_models():
                cards.append(ModelCard(id=model, created=self._created, owned_by="backend"))
        return ModelList(data=cards)

    async def _backend_models(self) -> list[str]:
        try:
            target = self.chain.passthrough_target()
            response = await self._proxy.get(
                f"{target.base_url}/models", headers=auth_headers(target.api_key)
            )
            check_response(response)
            return [str(m["id"]) for m in response.json().get("data", [])]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("could not list the backend's models: %s", exc)
            return []

    # -- /v1/chat/completions -------------------------------------------------------------------
    async def prepare(self, request: ChatCompletionRequest) -> tuple[str, str, list[ChatMessage]]:
        """(collection, question, history), or raises before any streaming starts."""
        if not request.model.startswith(RAG_PREFIX):
            raise NotFound(
                f"model {request.model!r} does not exist; collections are served as "
                f"'{RAG_PREFIX}<collection>' (see /v1/models)"
            )
        collection = request.model[len(RAG_PREFIX) :]
        self.retriever.plan(await self.retriever.aopen(collection), request.retrieval_mode)
        turns = [m for m in request.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
            raise InvalidRequest("the last message must be a non-empty user message", "messages")
        history = [ChatMessage(role=m.role, content=m.text()) for m in turns[:-1]]  # type: ignore[typeddict-item]
        return collection, turns[-1].text(), history

    def passes_through(self, request: ChatCompletionRequest) -> bool:
        return self.settings.expose_backend_models and not request.model.startswith(RAG_PREFIX)

    def _answer(
        self,
        request: ChatCompletionRequest,
        collection: str,
        question: str,
        history: list[ChatMessage],
    ) -> AsyncIterator[AnswerEvent]:
        """The answer's events, with the request's sampling settings."""
        return self.answers.stream(
            question,
            collection,
            history,
            max_tokens=request.max_completion_tokens or request.max_tokens,
            temperature=request.temperature,
            mode=request.retrieval_mode,
            rerank=request.rerank,
            answer_mode=request.answer_mode,
        )

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletionResponse:
        collection, question, history = await self.prepare(request)
        result: AskResult | None = None
        async for ev in self._answer(request, collection, question, history):
            if isinstance(ev, DoneEvent):
                result = ev.result
        assert result is not None
        return ChatCompletionResponse(
            id=_completion_id(),
            created=int(time.time()),
            model=request.model,
            choices=[
                Choice(
                    message=ChoiceMessage(
                        content=result.answer + sources_block(result.citations, result.answer_mode)
                    )
                )
            ],
            usage=result.usage,
            citations=result.citations,
            ragserve_answer_mode=result.answer_mode,
        )

    async def stream(
        self,
        request: ChatCompletionRequest,
        collection: str,
        question: str,
        history: list[ChatMessage],
    ) -> AsyncIterator[str]:
        cid, created = _completion_id(), int(time.time())

        def chunk(delta: DeltaMessage, finish: str | None = None, **extra: object) -> str:
            body = ChatCompletionChunk(
                id=cid,
                created=created,
                model=request.model,
                choices=[ChunkChoice(delta=delta, finish_reason=finish)],
                **extra,
            )
            return event(None, body.model_dump_json(exclude_none=True))

        yield chunk(DeltaMessage(role="assistant", content=""))
        usage: Usage | None = None
        try:
            async for ev in self._answer(request, collection, question, history):
                if isinstance(ev, DoneEvent):
                    block = sources_block(ev.result.citations, ev.result.answer_mode)
                    if block:
                        yield chunk(DeltaMessage(content=block))
                    yield chunk(
                        DeltaMessage(),
                        "stop",
                        citations=ev.result.citations,
                        ragserve_answer_mode=ev.result.answer_mode,
                    )
                    usage = ev.result.usage
                else:
                    yield chunk(DeltaMessage(content=ev.text))
        except Exception as exc:
            status, body = describe(exc)
            if status == 500:
                log.exception("chat completion stream failed")
            yield event(None, body.model_dump())
            yield event(None, "[DONE]")
            return
        if request.stream_options and request.stream_options.include_usage:
            last = ChatCompletionChunk(
                id=cid, created=created, model=request.model, choices=[], usage=usage
            )
            yield event(None, last.model_dump_json(exclude_none=True))
        yield event(None, "[DONE]")

    async def passthrough(self, body: dict[str, object]) -> AsyncIterator[bytes]:
        """Forward a request for a backend model; its stream is relayed as it comes."""
        target = self.chain.passthrough_target()
        url = f"{target.base_url}/chat/completions"
        try:
            async with self._proxy.stream(
                "POST", url, json=body, headers=auth_headers(target.api_key)
            ) as response:
                if not response.is_success:
                    await response.aread()
                    check_response(response)
                async for piece in response.aiter_raw():
                    yield piece
        except httpx.HTTPError as exc:
            _, err = describe(map_transport_error(exc, url))
            yield f"data: {json.dumps(err.model_dump())}\n\ndata: [DONE]\n\n".encode()


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
