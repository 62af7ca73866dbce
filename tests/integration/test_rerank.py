"""Reranking as a user sees it: which passages come first, from three kinds of reranker.

Remote cross-encoders: the scripted fault server answers ``/rerank``, ``/v1/rerank`` and
``/score`` in TEI's, Cohere/vLLM's and vLLM's shapes (no cross-encoder server ships on PyPI
with its weights); its scores reverse the order it is given. In-process: a tiny random
BERT cross-encoder the test builds. LLM scoring: the real llama.cpp server with SmolLM2; the
fault server only for an answer that never parses, which a real model cannot be told to give.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragserve.config import RerankApi, RerankKind, Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.packaged import minilm_folder
from ragserve.errors import BackendUnavailable, ConfigError
from ragserve.llm.base import ChatMessage
from ragserve.llm.embedded import EmbeddedLlamaServer
from ragserve.llm.openai_compat import OpenAICompatChat
from ragserve.observability.metrics import new_registry
from ragserve.protocol import Citation
from ragserve.rag.rerank import RerankStage, build_rerank_stage
from ragserve.rag.rerank.llm_scoring import LLMScorer
from ragserve.rag.rerank.remote import RemoteScorer
from ragserve.runtime import Runtime
from tests.apiserver import running_app, sse_events, wait_for_documents
from tests.fakes.fault_server import running_fault_server

pytestmark = pytest.mark.anyio

TOPICS = [
    "Vacation: employees get 25 paid vacation days a year; up to five carry over.",
    "Expenses: submit receipts within 30 days through the finance portal.",
    "Laptops: IT replaces laptops every three years; request one through the help desk.",
    "Passwords must be at least 14 characters and are never shared by email.",
    "Parental leave is 16 weeks at full pay for every parent.",
    "The office opens at 7:00 and closes at 20:00 on weekdays.",
    "Remote work: up to three days a week from home, agreed with your manager.",
    "Sick days: tell your manager before 9:00; a note is needed after three days.",
    "Training budget: 1,500 euros a year for courses and conferences.",
    "Bicycles can be parked in the basement; the door code changes monthly.",
    "The canteen serves lunch from 11:30 to 14:00, vegetarian every day.",
    "Security badges must be worn visibly and returned on the last working day.",
]


def passages(texts: Sequence[str]) -> list[Citation]:
    """Candidates as a retriever returns them: numbered, scores falling."""
    return [
        Citation(n=i, source=f"doc{i}.md", text=t, document_id=f"d{i}", chunk_index=0,
                 score=1.0 - i / 100)
        for i, t in enumerate(texts, 1)
    ]  # fmt: skip


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def rerank_count(outcome: str, kind: str = "llm") -> float:
    sample = new_registry().get_sample_value(
        "ragserve_rerank_total", {"kind": kind, "outcome": outcome}
    )
    return sample or 0.0


# -- (a) remote cross-encoders ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "api"),
    [("/v1/rerank", RerankApi.cohere), ("/rerank", RerankApi.cohere), ("/rerank", RerankApi.tei),
     ("/score", RerankApi.score), ("/v1/score", RerankApi.score)],
)  # fmt: skip
async def test_remote_scores_reorder_in_every_shape(path: str, api: RerankApi) -> None:
    with running_fault_server() as (url, fault):
        base = url.removesuffix("/v1")
        stage = RerankStage(RemoteScorer(base + path, api, model="reranker"), candidates=4)
        out = await stage.rerank("vacation?", passages(TOPICS[:4]), top_k=3)
        await stage.aclose()
    assert fault.calls[path] == 1, "one request for all candidates"
    assert [p.source for p in out] == ["doc4.md", "doc3.md", "doc2.md"]
    assert [p.n for p in out] == [1, 2, 3]
    assert out[0].score > out[1].score > out[2].score
    assert [p.retrieval_score for p in out] == [0.96, 0.97, 0.98]


async def test_remote_reranker_down_is_an_error_naming_it() -> None:
    url = closed_port_url() + "/v1/rerank"
    stage = RerankStage(RemoteScorer(url, RerankApi.cohere, timeout_s=2), candidates=4)
    with pytest.raises(BackendUnavailable, match="cannot connect") as caught:
        await stage.rerank("vacation?", passages(TOPICS[:4]), top_k=3)
    await stage.aclose()
    assert url in str(caught.value)


@pytest.fixture
def fault_url() -> Iterator[str]:
    with running_fault_server() as (url, _):
        yield url


def _app_settings(tmp_path: Path, fault_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data", "llm_base_url": fault_url, "llm_model": "ok",
        "rerank_candidates": 3, "top_k": 3, "min_relative_score": 0.0,
    }  # fmt: skip
    return Settings(**{**values, **overrides})


def test_api_search_and_chat_show_the_reranked_order(
    tmp_path: Path, fault_url: str, embedder: EmbeddingBackend
) -> None:
    settings = _app_settings(
        tmp_path, fault_url, rerank=RerankKind.remote, rerank_url=fault_url.removesuffix("/v1")
    )
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as api:
        files = [("files", (f"topic{i}.md", f"# Topic {i}\n\n{t}\n".encode()))
                 for i, t in enumerate(TOPICS[:6])]  # fmt: skip
        api.post("/api/collections/c/documents", files=files).raise_for_status()
        wait_for_documents(api, "c", 6)
        query = {"query": "How many vacation days do I get?", "collection": "c", "top_k": 3}
        plain = api.post("/api/search", json={**query, "rerank": False}).json()["results"]
        response = api.post("/api/search", json=query).json()
        reranked = response["results"]
        events = dict(sse_events(api.post("/api/chat", json={
            "message": query["query"], "collection": "c", "top_k": 3})))  # fmt: skip
    runtime.close()
    assert response["reranker"] == "remote"
    assert plain[0]["source"] == "topic0.md"
    assert all(p["retrieval_score"] is None for p in plain)
    assert [r["source"] for r in reranked] == [p["source"] for p in reversed(plain)]
    assert [r["retrieval_score"] for r in reranked] == [p["score"] for p in reversed(plain)]
    done = json.loads(events["done"])
    assert [s["source"] for s in done["sources"]] == [p["source"] for p in reversed(plain)]
    assert done["timings"]["rerank_ms"] is not None


def test_api_reranker_down_is_a_502_naming_it(
    tmp_path: Path, fault_url: str, embedder: EmbeddingBackend
) -> None:
    down = closed_port_url()
    settings = _app_settings(tmp_path, fault_url, rerank=RerankKind.remote, rerank_url=down)
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as api:
        files = [("files", ("vacation.md", f"# Vacation\n\n{TOPICS[0]}\n".encode()))]
        api.post("/api/collections/c/documents", files=files).raise_for_status()
        wait_for_documents(api, "c", 1)
        query = {"query": "vacation?", "collection": "c"}
        failed = api.post("/api/search", json=query)
        skipped = api.post("/api/search", json={**query, "rerank": False})
        answered = api.post("/v1/chat/completions", json={
            "model": "rag:c", "messages": [{"role": "user", "content": "vacation?"}],
            "rerank": False})  # fmt: skip
    runtime.close()
    assert failed.status_code == 502
    assert f"{down}/v1/rerank" in failed.json()["error"]["message"]
    assert skipped.status_code == 200 and skipped.json()["reranker"] is None
    assert answered.status_code == 200


# -- (b) an in-process cross-encoder ----------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with one output and random weights, with the packaged MiniLM
    tokenizer: a real CrossEncoder checkpoint, too small to judge anything."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512, num_labels=1,
    )  # fmt: skip
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


async def test_cross_encoder_by_path_reorders_with_its_scores(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, rerank=RerankKind.cross_encoder, rerank_model=str(tiny_cross_encoder)
    )
    stage = build_rerank_stage(settings, chat=lambda: pytest.fail("no chat model needed"))
    assert stage is not None and stage.kind == "cross-encoder"
    candidates = passages(TOPICS[:8])
    out = await stage.rerank("How many vacation days do I get?", candidates, top_k=8)
    again = await stage.rerank("How many vacation days do I get?", candidates, top_k=3)
    await stage.aclose()
    assert sorted(p.source for p in out) == sorted(p.source for p in candidates)
    assert [p.n for p in out] == list(range(1, 9))
    scores = [p.score for p in out]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    by_source = {p.source: p.score for p in candidates}
    assert all(p.retrieval_score == by_source[p.source] for p in out)
    assert [p.source for p in again] == [p.source for p in out[:3]], "deterministic"


async def test_cross_encoder_that_cannot_load_names_the_setting(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, rerank=RerankKind.cross_encoder, rerank_model=str(tmp_path / "none")
    )
    stage = build_rerank_stage(settings, chat=lambda: pytest.fail("no chat model needed"))
    assert stage is not None
    with pytest.raises(ConfigError, match="RAGSERVE_RERANK_MODEL"):
        await stage.rerank("q", passages(TOPICS[:2]), top_k=2)


# -- (c) LLM relevance scoring ----------------------------------------------------------------
class CountingChat(OpenAICompatChat):
    """The real client, counting the completions it asks for."""

    requests = 0

    async def complete(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> str:
        self.requests += 1
        return await super().complete(messages, max_tokens=max_tokens, temperature=temperature)


@pytest.fixture
async def smollm(llama_server: EmbeddedLlamaServer) -> Any:
    chat = CountingChat(llama_server.base_url, context_window=4096)
    yield chat
    await chat.aclose()


def _in_retrieval_order(out: Sequence[Citation], candidates: Sequence[Citation]) -> bool:
    return [p.source for p in out] == [p.source for p in candidates[: len(out)]]


async def test_llm_scores_a_budget_of_passages_in_few_requests(smollm: CountingChat) -> None:
    candidates = passages(TOPICS[:5])
    before = rerank_count("fallback_unparsable")
    stage = RerankStage(LLMScorer(smollm, budget=3, batch=2, timeout_s=300), candidates=5)
    out = await stage.rerank("How many vacation days do I get?", candidates, top_k=5)
    assert smollm.requests == 2, "3 passages within the budget, 2 per prompt"
    # Past the budget: unscored, in retrieval order, after the scored ones.
    assert [p.source for p in out[3:]] == ["doc4.md", "doc5.md"]
    assert all(p.retrieval_score is None for p in out[3:])
    assert sorted(p.source for p in out[:3]) == ["doc1.md", "doc2.md", "doc3.md"]
    if all(p.retrieval_score is not None for p in out[:3]):  # the model's lines parsed
        assert [p.score for p in out[:3]] == sorted((p.score for p in out[:3]), reverse=True)
        assert all(0.0 <= p.score <= 1.0 for p in out[:3])
    else:  # they did not: retrieval order, and the counter says so
        assert _in_retrieval_order(out, candidates)
        assert rerank_count("fallback_unparsable") == before + 1


async def test_llm_out_of_time_keeps_retrieval_order(smollm: CountingChat) -> None:
    candidates = passages(TOPICS)
    before = rerank_count("fallback_timeout")
    stage = RerankStage(LLMScorer(smollm, budget=12, batch=4, timeout_s=0.05), candidates=12)
    out = await stage.rerank("How many vacation days do I get?", candidates, top_k=5)
    assert _in_retrieval_order(out, candidates) and len(out) == 5
    assert all(p.retrieval_score is None for p in out)
    assert rerank_count("fallback_timeout") == before + 1


async def test_llm_answer_that_does_not_parse_keeps_retrieval_order() -> None:
    """The fault server's scripted reply: prose where scores were asked for."""
    candidates = passages(TOPICS[:5])
    before = rerank_count("fallback_unparsable")
    with running_fault_server() as (url, _):
        chat = OpenAICompatChat(url, model="say:Passage two looks the most useful to me.")
        stage = RerankStage(LLMScorer(chat, budget=5, batch=5), candidates=5)
        out = await stage.rerank("How many vacation days do I get?", candidates, top_k=5)
        await chat.aclose()
    assert _in_retrieval_order(out, candidates)
    assert rerank_count("fallback_unparsable") == before + 1
