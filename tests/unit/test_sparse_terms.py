"""Keyword terms and BM25 vectors: Korean particles go, exact names stay, indices are stable."""

from __future__ import annotations

import subprocess
import sys

from ragserve.embed.sparse import SPARSE_ENCODING, passage_vector, query_vector, term_index
from ragserve.embed.terms import terms


def test_korean_particles_and_endings_are_dropped() -> None:
    assert "환불" in terms("환불은 언제 되나요?")
    assert "환불" in terms("환불하려면 어떻게 해야 하나요")
    found = terms("주문을 취소했습니다")
    assert {"주문", "취소"} <= set(found)
    assert not {"을", "은", "했습니다", "습니다"} & set(found)


def test_identifiers_are_kept_whole_and_split() -> None:
    found = terms("Call os.path.join() with --dry-run; error E0123 in snake_case and getItemById.")
    for whole in ("os.path.join", "--dry-run", "e0123", "snake_case", "getitembyid"):
        assert whole in found
    for part in ("os", "path", "join", "dry", "run", "snake", "case", "get", "item", "id"):
        assert part in found
    assert "the" not in terms("the end.") and "end" in terms("the end.")
    # Plurals of plain words fold; a compound name stays whole, only its parts fold.
    assert terms("functions libraries classes status") == ["function", "library", "class", "status"]
    assert terms("os.path.exists") == ["os.path.exists", "os", "path", "exist"]


def test_mixed_korean_and_code_keeps_both() -> None:
    found = terms("E0123에서 os.path.join을 호출하면 오류가 납니다")
    assert {"e0123", "os.path.join", "호출", "오류"} <= set(found)


def test_chinese_and_japanese_runs_become_bigrams() -> None:
    assert terms("東京都") == ["東京", "京都"]


def test_indices_are_stable_across_processes() -> None:
    code = "from ragserve.embed.sparse import term_index; print(term_index('os.path.join'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(other) == term_index("os.path.join") < 2**32


def test_vectors_weight_repeats_but_saturate() -> None:
    once, twice = passage_vector("refund policy"), passage_vector("refund refund policy")
    weight = dict(zip(once.indices, once.values, strict=True))[term_index("refund")]
    more = dict(zip(twice.indices, twice.values, strict=True))[term_index("refund")]
    assert weight < more < 2 * weight
    query = query_vector("refund refund policy")
    assert sorted(query.indices) == query.indices and set(query.values) == {1.0}
    assert len(query.indices) == 2
    assert SPARSE_ENCODING.startswith("bm25/kiwi-words/")
