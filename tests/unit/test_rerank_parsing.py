"""Reranking's pure parts: reordering, the remote request shapes, reading an LLM's scores."""

from __future__ import annotations

import pytest

from ragserve.config import RerankApi, RerankKind
from ragserve.errors import ConfigError
from ragserve.eval.modes import parse_rerankers
from ragserve.protocol import Citation
from ragserve.rag.rerank.base import RerankStage, Scored, choose_stage, reorder
from ragserve.rag.rerank.llm_scoring import Unparsable, build_prompt, parse_scores
from ragserve.rag.rerank.remote import endpoint, request_body
from ragserve.rag.rerank.remote import parse_scores as parse_remote


def passage(n: int, score: float) -> Citation:
    return Citation(
        n=n, source=f"doc{n}.md", text=f"text {n}", document_id=f"d{n}", chunk_index=0,
        score=score,
    )  # fmt: skip


def test_reorder_sorts_scored_passages_and_keeps_the_rest_after_them() -> None:
    passages = [passage(1, 0.9), passage(2, 0.8), passage(3, 0.7), passage(4, 0.6)]
    out = reorder(passages, [Scored(0, 0.1), Scored(1, 0.5), Scored(2, 0.5)])
    assert [p.source for p in out] == ["doc2.md", "doc3.md", "doc1.md", "doc4.md"]
    assert [p.n for p in out] == [1, 2, 3, 4]
    assert [p.score for p in out] == [0.5, 0.5, 0.1, 0.6]
    # The retriever's score stays beside the reranker's; an unscored passage has only its own.
    assert [p.retrieval_score for p in out] == [0.8, 0.7, 0.9, None]


def test_no_scores_keeps_retrieval_order() -> None:
    passages = [passage(1, 0.9), passage(2, 0.8)]
    assert [p.source for p in reorder(passages, [])] == ["doc1.md", "doc2.md"]


def test_a_request_can_skip_the_reranker() -> None:
    class Nothing:
        kind = "none"

    stage = RerankStage(Nothing(), 20)  # type: ignore[arg-type]
    assert choose_stage(stage, None) is stage and choose_stage(stage, True) is stage
    assert choose_stage(stage, False) is None and choose_stage(None, True) is None
    assert stage.fetch(5) == 20 and stage.fetch(30) == 30


@pytest.mark.parametrize(
    ("url", "api", "expected"),
    [
        ("http://h:8000", RerankApi.cohere, "http://h:8000/v1/rerank"),
        ("http://h:8000/rerank", RerankApi.cohere, "http://h:8000/rerank"),
        ("http://h:8080", RerankApi.tei, "http://h:8080/rerank"),
        ("http://h:8000", RerankApi.score, "http://h:8000/v1/score"),
        ("http://h:8000/score", RerankApi.score, "http://h:8000/score"),
    ],
)
def test_endpoint_gets_the_usual_path_only_when_it_has_none(
    url: str, api: RerankApi, expected: str
) -> None:
    assert endpoint(url, api) == expected


def test_request_and_response_shapes() -> None:
    assert request_body(RerankApi.tei, "m", "q", ["a", "b"]) == {
        "query": "q", "texts": ["a", "b"], "raw_scores": False, "truncate": True,
    }  # fmt: skip
    assert request_body(RerankApi.cohere, "m", "q", ["a", "b"]) == {
        "model": "m", "query": "q", "documents": ["a", "b"], "top_n": 2,
    }  # fmt: skip
    assert request_body(RerankApi.score, None, "q", ["a"]) == {"text_1": "q", "text_2": ["a"]}
    tei = [{"index": 1, "score": 0.9}, {"index": 0, "score": 0.1}]
    assert parse_remote(RerankApi.tei, tei) == [Scored(1, 0.9), Scored(0, 0.1)]
    cohere = {"results": [{"index": 0, "relevance_score": 0.3, "document": {"text": "a"}}]}
    assert parse_remote(RerankApi.cohere, cohere) == [Scored(0, 0.3)]
    score = {"object": "list", "data": [{"index": 0, "object": "score", "score": 2.5}]}
    assert parse_remote(RerankApi.score, score) == [Scored(0, 2.5)]
    with pytest.raises((KeyError, TypeError)):
        parse_remote(RerankApi.cohere, tei)  # TEI's answer where Cohere's was expected


@pytest.mark.parametrize(
    "text",
    [
        "1: 7\n2: 0\n3: 10",
        "Here are the scores:\n[1]: 7\n[2]: 0\n[3]: 10\n",
        '{"1": 7, "2": 0, "3": 10}'.replace(", ", "\n"),
        "Passage 1: 7\nPassage 2: 0\nPassage 3: 10.0\n4: 9",
        "- 1: 7/10\n- 2: 0\n- 3: 12\n1: 3",
    ],
)
def test_llm_scores_parse_from_the_forms_models_write(text: str) -> None:
    assert parse_scores(text, 3) == [0.7, 0.0, 1.0]


@pytest.mark.parametrize("text", ["", "Passage two is the best one.", "1: 7\n3: 2"])
def test_llm_output_without_every_score_is_unparsable(text: str) -> None:
    with pytest.raises(Unparsable):
        parse_scores(text, 3)


def test_llm_prompt_numbers_passages_and_cuts_long_ones() -> None:
    messages = build_prompt("How?", ["short", "word " * 1000])
    user = messages[-1]["content"]
    assert "Question: How?" in user and "[1] short" in user and "[2] word" in user
    assert user.endswith("these 2 lines only:\n1: ?\n2: ?")
    assert len(user) < 2000


def test_reranker_names_parse_in_order_once() -> None:
    assert parse_rerankers(["none,llm", "llm", "remote"]) == [
        RerankKind.none, RerankKind.llm, RerankKind.remote,
    ]  # fmt: skip
    assert parse_rerankers([]) == [RerankKind.none]
    with pytest.raises(ConfigError, match="cross-encoder"):
        parse_rerankers(["colbert"])
