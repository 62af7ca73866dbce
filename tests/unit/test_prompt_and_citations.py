from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.base import ChatMessage
from ragserve.protocol import Citation
from ragserve.rag.citations import attribute_by_similarity, cited_numbers
from ragserve.rag.prompt import build_messages, estimate_tokens


def _source(n: int, text: str) -> Citation:
    return Citation(
        n=n, source=f"doc{n}.md", page=n, heading="H", text=text, title=None,
        document_id=f"d{n}", chunk_index=0, score=1.0 - n / 10,
    )  # fmt: skip


def test_cited_numbers_in_order_of_first_use_ignoring_out_of_range() -> None:
    answer = "Apples [2]. Pears [1, 3]. Plums [2][9]. Not a cite: [x]."
    assert cited_numbers(answer, count=3) == [2, 1, 3]


def test_prompt_numbers_sources_and_fits_the_window() -> None:
    sources = [_source(i, "word " * 400) for i in range(1, 11)]
    history: list[ChatMessage] = [
        {"role": "user", "content": "earlier question"},
        {"role": "assistant", "content": "earlier answer"},
    ]
    messages, used = build_messages(
        "What now?", sources, history, context_window=2048, max_tokens=256
    )
    prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
    assert prompt_tokens + 256 <= 2048
    assert 0 < len(used) < len(sources)
    assert [s.n for s in used] == list(range(1, len(used) + 1))
    assert messages[:2] == history
    assert "[1] (doc1.md, page 1, H)" in messages[-1]["content"]
    assert messages[-1]["content"].rstrip().endswith("Question: What now?")


def test_similarity_attribution_marks_the_matching_source(embedder: EmbeddingBackend) -> None:
    sources = [
        _source(1, "The cafeteria serves lunch between noon and two."),
        _source(2, "Every employee gets 25 paid vacation days per calendar year."),
    ]
    answer = "Employees get 25 paid vacation days each year. Thanks for asking!"
    annotated, numbers = attribute_by_similarity(answer, sources, embedder)
    assert numbers == [2]
    assert annotated.startswith("Employees get 25 paid vacation days each year. [2]")


def test_query_and_passage_prefixes_reach_the_model(embedder: EmbeddingBackend) -> None:
    import numpy as np

    from ragserve.config import Settings
    from ragserve.embed.registry import build_embedder

    prefixed = build_embedder(
        Settings(embed_query_prefix="query: ", embed_passage_prefix="passage: ")
    )
    assert np.allclose(prefixed.embed_queries(["cats"]), embedder.embed_queries(["query: cats"]))
    assert np.allclose(
        prefixed.embed_passages(["cats"]), embedder.embed_passages(["passage: cats"])
    )
    assert not np.allclose(prefixed.embed_queries(["cats"]), embedder.embed_queries(["cats"]))


def test_compact_prompt_gives_a_small_model_few_passages_and_no_headers_to_copy() -> None:
    sources = [_source(i, f"Passage {i} text.") for i in range(1, 6)]
    messages, used = build_messages(
        "What now?", sources, [], context_window=4096, max_tokens=256, compact=True
    )
    prompt = messages[-1]["content"]
    assert [s.n for s in used] == [1, 2, 3]
    assert "[1] Passage 1 text." in prompt and "doc1.md" not in prompt and ", H" not in prompt


def test_a_dotted_name_does_not_end_an_answer_sentence() -> None:
    from ragserve.rag.citations import answer_sentences

    answer = "The default maxsize of functools.lru_cache is 128. Python 3.11 added it."
    spans = answer_sentences(answer)
    assert [answer[s:e].strip() for s, e in spans] == [
        "The default maxsize of functools.lru_cache is 128.",
        "Python 3.11 added it.",
    ]
