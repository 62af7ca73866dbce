"""Which retrieved passages reach the model: the relative floor, per retrieval mode."""

from __future__ import annotations

from ragserve.protocol import Citation
from ragserve.rag.answer import relative_floor


def _passage(n: int, score: float, similarity: float | None = None) -> Citation:
    citation = Citation(
        n=n,
        source=f"doc{n}.md",
        text=f"passage {n}",
        score=score,
        document_id=f"d{n}",
        chunk_index=0,
    )
    citation.similarity = similarity
    return citation


def test_dense_scores_keep_only_passages_close_to_the_best() -> None:
    kept = relative_floor([_passage(1, 0.8), _passage(2, 0.7), _passage(3, 0.5)], 0.8)
    assert [c.n for c in kept] == [1, 2]


def test_hybrid_compares_closeness_to_the_question_not_the_flat_fused_scores() -> None:
    # Fused-rank scores are nearly equal: on them every weak passage would pass.
    fused = [
        _passage(1, 0.033, similarity=0.79),
        _passage(2, 0.032, similarity=0.51),
        _passage(3, 0.032, similarity=0.70),
        _passage(4, 0.031, similarity=0.33),
    ]
    assert [c.n for c in relative_floor(fused, 0.8)] == [1, 3]


def test_hybrid_keeps_its_first_passage_even_when_keywords_alone_put_it_there() -> None:
    # An exact name (an error code) found by BM25 may sit far from the question's embedding.
    fused = [_passage(1, 0.033, similarity=0.30), _passage(2, 0.032, similarity=0.60)]
    assert [c.n for c in relative_floor(fused, 0.8)] == [1, 2]
