"""Answering over the samples with the real embedded model, and citation mapping."""

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ragserve.embed.base import EmbeddingBackend, TextTokenizer, Vectors
from ragserve.llm.embedded import EmbeddedLlamaServer
from ragserve.llm.openai_compat import OpenAICompatChat
from ragserve.protocol import AskResult
from ragserve.rag.answer import AnswerService, DoneEvent, TokenEvent
from ragserve.runtime import Runtime
from tests.conftest import SAMPLES
from tests.fakes.fault_server import running_fault_server
from tests.integration.helpers import ingest

pytestmark = pytest.mark.anyio

VACATION = "How many vacation days do Northwind employees get?"


@pytest.fixture
def loaded(runtime: Runtime) -> Runtime:
    ingest(runtime, [SAMPLES], "samples")
    return runtime


@pytest.fixture
def service(loaded: Runtime, llama_server: EmbeddedLlamaServer) -> Iterator[AnswerService]:
    chat = OpenAICompatChat(llama_server.base_url, context_window=4096)
    yield AnswerService(loaded.settings, loaded.catalog, loaded.embedder, chat)


async def _collect(service: AnswerService, *args: object) -> tuple[list[str], AskResult]:
    tokens: list[str] = []
    async for event in service.stream(*args):  # type: ignore[arg-type]
        if isinstance(event, TokenEvent):
            tokens.append(event.text)
        else:
            assert isinstance(event, DoneEvent)
            return tokens, event.result
    raise AssertionError("no DoneEvent")


async def test_answer_streams_then_cites_the_right_passage(service: AnswerService) -> None:
    tokens, result = await _collect(service, VACATION, "samples")
    assert len(tokens) > 5, "the answer should arrive as a stream of tokens"
    streamed = "".join(tokens).strip()
    assert re.sub(r" \[\d+\]", "", result.answer) == re.sub(r" \[\d+\]", "", streamed)
    assert "25" in result.answer
    assert result.citations, result.answer
    first = result.citations[0]
    assert first.source.endswith("northwind-handbook.md")
    assert first.heading == "Northwind Employee Handbook > Time off > Vacation"
    assert "25 paid vacation days" in first.text
    assert all(c in result.sources for c in result.citations)
    assert result.timings.first_token_ms is not None
    assert result.timings.retrieval_ms < result.timings.total_ms


async def test_follow_up_is_rewritten_before_retrieval(service: AnswerService) -> None:
    history = [
        {"role": "user", "content": VACATION},
        {"role": "assistant", "content": "They get 25 paid vacation days per year."},
    ]
    _, result = await _collect(service, "How many of those days carry over?", "samples", history)
    assert result.query != "How many of those days carry over?"
    assert result.sources[0].heading == "Northwind Employee Handbook > Time off > Vacation"


async def test_model_markers_map_to_numbered_sources(loaded: Runtime) -> None:
    with running_fault_server() as (url, _):
        chat = OpenAICompatChat(url, model="cite")
        settings = loaded.settings.model_copy(update={"min_relative_score": 0.0, "top_k": 3})
        service = AnswerService(settings, loaded.catalog, loaded.embedder, chat)
        _, result = await _collect(service, VACATION, "samples")
        await chat.aclose()
    assert result.attribution == "model"
    assert result.answer == "Vacation is 25 days [2]. Ask HR [1][7]."
    # [7] is out of range (3 sources) and is not a citation.
    assert [c.n for c in result.citations] == [2, 1]
    assert result.citations[0] == result.sources[1]
    assert result.citations[1] == result.sources[0]


async def test_empty_collection_answers_without_calling_the_model(
    runtime: Runtime, tmp_path: Path
) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\ntext")
    ingest(runtime, [doc], "tiny")
    runtime.catalog.vectors.delete_document(
        runtime.catalog.collections.get("tiny").vector_collection,  # type: ignore[union-attr]
        runtime.catalog.list_documents("tiny")[0].id,
    )
    with running_fault_server() as (url, server):
        chat = OpenAICompatChat(url, model="ok")
        service = AnswerService(runtime.settings, runtime.catalog, runtime.embedder, chat)
        _, result = await _collect(service, "anything?", "tiny")
        await chat.aclose()
    assert "could not find anything" in result.answer
    assert result.citations == [] and not server.calls


async def test_small_context_window_still_answers(
    loaded: Runtime, llama_server: EmbeddedLlamaServer
) -> None:
    chat = OpenAICompatChat(llama_server.base_url, context_window=700)
    settings = loaded.settings.model_copy(update={"llm_max_tokens": 64, "min_relative_score": 0.0})
    service = AnswerService(settings, loaded.catalog, loaded.embedder, chat)
    _, result = await _collect(service, VACATION, "samples")
    await chat.aclose()
    assert 1 <= len(result.sources) < settings.top_k


class CountingEmbedder:
    """The runtime's real embedder, recording every text it is asked to embed."""

    def __init__(self, inner: EmbeddingBackend) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.max_tokens = inner.max_tokens
        self.embedded: list[str] = []

    @property
    def tokenizer(self) -> TextTokenizer:
        return self.inner.tokenizer

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        return self.inner.embed_passages(texts)

    def close(self) -> None:
        pass


async def test_an_answer_repeating_its_source_is_cited_without_embedding_the_answer(
    loaded: Runtime,
) -> None:
    copied = "Every full-time employee gets 25 paid vacation days per calendar year."
    counting = CountingEmbedder(loaded.embedder)
    with running_fault_server() as (url, _):
        chat = OpenAICompatChat(url, model=f"say:{copied}")
        service = AnswerService(loaded.settings, loaded.catalog, counting, chat)
        _, result = await _collect(service, VACATION, "samples")
        await chat.aclose()
    assert result.answer == f"{copied} [1]"
    assert result.attribution == "similarity"
    assert result.citations[0].heading == "Northwind Employee Handbook > Time off > Vacation"
    # The question only where retrieval embeds it (not in keyword mode); never the answer.
    asked = [] if loaded.settings.retrieval_mode == "sparse" else [VACATION]
    assert counting.embedded == asked
