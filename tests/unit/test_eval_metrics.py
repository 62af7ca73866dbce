"""The eval metrics against values worked out by hand, and the QA file rules."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragserve.errors import ConfigError
from ragserve.eval.metrics import (
    ExpectedSource,
    RankedPassage,
    answer_contains,
    answer_exact,
    citation_precision,
    first_rank,
    gains,
    ndcg_at,
    recall_at,
    reciprocal_rank,
    source_matches,
)
from ragserve.eval.questions import load_questions, select_split
from ragserve.eval.runner import check_answer
from ragserve.protocol import AskResult, Citation, Timings

ROOT = "/usr/share/doc/python3.11/html/"


def ranked(*items: tuple[str, float] | str) -> list[RankedPassage]:
    """Passages in rank order; a bare name gets a strictly falling score (no ties)."""
    out = []
    for i, item in enumerate(items):
        source, score = item if isinstance(item, tuple) else (item, 1.0 - i / 100)
        out.append(RankedPassage(ROOT + source, score))
    return out


def expect(*paths: str) -> list[ExpectedSource]:
    return [ExpectedSource(p) for p in paths]


@pytest.mark.parametrize(
    ("expected", "source", "matches"),
    [
        ("library/os.html", ROOT + "library/os.html", True),
        ("library/os.html", "html/library/os.html", True),
        ("library/os.html", "library/os.html", True),
        ("./library/os.html", ROOT + "library/os.html", True),
        ("os.html", ROOT + "library/os.html", True),  # as much of the path as disambiguates
        ("library/os.html", ROOT + "library/xos.html", False),  # whole components only
        ("library/os.html", ROOT + "mylibrary/os.html", False),
        ("library/os.html", ROOT + "_sources/library/os.rst.txt", False),
        ("library/os.html", ROOT + "library/os.html/extra", False),
        ("html/library/os.html", "library/os.html", False),  # longer than the stored path
        ("", ROOT + "library/os.html", False),
    ],
)
def test_expected_sources_match_by_whole_path_suffix(
    expected: str, source: str, matches: bool
) -> None:
    assert source_matches(expected, source) is matches


def test_first_hit_at_rank_three() -> None:
    g = gains(expect("library/os.html"), ranked("a.html", "b.html", "library/os.html", "c.html"))
    assert g == [0, 0, 1, 0]
    assert first_rank(g) == 3
    assert [recall_at(g, k) for k in (1, 3, 5, 10)] == [0.0, 1.0, 1.0, 1.0]
    assert reciprocal_rank(g, 10) == pytest.approx(1 / 3)
    assert ndcg_at(g, 10, 1) == pytest.approx(1 / math.log2(4))  # 0.5


def test_no_hit_scores_zero_everywhere() -> None:
    g = gains(expect("library/os.html"), ranked("a.html", "b.html"))
    assert g == [0, 0]
    assert first_rank(g) is None
    assert recall_at(g, 10) == 0.0
    assert reciprocal_rank(g, 10) == 0.0
    assert ndcg_at(g, 10, 1) == 0.0
    assert ndcg_at([], 10, 1) == 0.0  # nothing retrieved at all


def test_several_expected_sources_are_alternatives_each_credited_once() -> None:
    g = gains(
        expect("a.html", "b.html"),
        ranked("x.html", "a.html", "a.html", "b.html", "y.html"),
    )
    # a's second passage earns nothing; b is credited at rank 4.
    assert g == [0, 1, 0, 1, 0]
    assert recall_at(g, 1) == 0.0
    assert recall_at(g, 2) == 1.0  # either page answers the question
    assert reciprocal_rank(g, 10) == pytest.approx(0.5)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at(g, 10, 2) == pytest.approx(dcg / ideal)  # 0.6509...
    assert ndcg_at(g, 10, 2) == pytest.approx(0.650921, abs=1e-6)


def test_one_page_repeated_cannot_reach_a_perfect_ndcg_for_two_pages() -> None:
    g = gains(expect("a.html", "b.html"), ranked("a.html", "a.html", "a.html"))
    assert g == [1, 0, 0]
    assert ndcg_at(g, 10, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ties_are_broken_against_the_retriever() -> None:
    # The relevant passage ties with an irrelevant one at the top: it counts at rank 2.
    g = gains(expect("a.html"), ranked(("a.html", 0.9), ("x.html", 0.9), ("y.html", 0.5)))
    assert g == [0, 1, 0]
    assert reciprocal_rank(g, 10) == pytest.approx(0.5)
    assert recall_at(g, 1) == 0.0
    # The same passages with a real score gap: rank 1.
    g = gains(expect("a.html"), ranked(("a.html", 0.9), ("x.html", 0.8), ("y.html", 0.5)))
    assert g == [1, 0, 0]
    # A tie of three with two relevant: both go to the back of the group (ranks 2 and 3).
    g = gains(
        expect("a.html", "b.html"),
        ranked(("a.html", 0.7), ("b.html", 0.7), ("x.html", 0.7), ("y.html", 0.1)),
    )
    assert g == [0, 1, 1, 0]
    # A tie below the cutoff does not move a hit above it.
    g = gains(expect("a.html"), ranked(("x.html", 0.9), ("y.html", 0.4), ("a.html", 0.4)))
    assert g == [0, 0, 1]


def test_expected_pages_narrow_a_source_to_those_pages() -> None:
    expected = [ExpectedSource("handbook.pdf", frozenset({2}))]
    passages = [
        RankedPassage("docs/handbook.pdf", 0.9, page=3),
        RankedPassage("docs/handbook.pdf", 0.8, page=2),
        RankedPassage("docs/handbook.pdf", 0.7, page=None),
    ]
    assert gains(expected, passages) == [0, 1, 0]


def test_answer_checks_ignore_case_spacing_and_outer_punctuation() -> None:
    assert answer_contains("Press  ctrl+z to undo.", "Ctrl+Z")
    assert answer_contains("기본값은 128입니다.", "128")
    assert not answer_contains("Press Ctrl+Y", "Ctrl+Z")
    assert answer_exact("FileExistsError.", "fileexistserror")
    assert not answer_exact("It raises FileExistsError", "FileExistsError")


def test_citation_precision_counts_cited_documents_once() -> None:
    expected = expect("library/os.html")
    cited = [ROOT + "library/os.html", ROOT + "library/sys.html", ROOT + "library/os.html"]
    assert citation_precision(expected, cited) == pytest.approx(0.5)
    assert citation_precision(expected, [ROOT + "library/os.html"]) == 1.0
    assert citation_precision(expected, [ROOT + "library/sys.html"]) == 0.0
    assert citation_precision(expected, []) is None


def _citation(n: int, source: str) -> Citation:
    return Citation(n=n, source=source, text="...", document_id=str(n), chunk_index=0, score=1.0)


def test_an_answer_is_checked_against_the_reference_and_its_citations(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"id": "q1", "question": "What does makedirs raise?", '
        '"expected_sources": ["library/os.html"], "reference_answer": "FileExistsError"}\n'
    )
    question = load_questions(qa)[0]
    cited = [_citation(1, ROOT + "library/os.html"), _citation(2, ROOT + "library/sys.html")]
    result = AskResult(
        answer="It raises FileExistsError [1].", citations=cited, sources=cited, query="q",
        collection="c", model="m", attribution="model", timings=Timings(retrieval_ms=1, total_ms=2),
    )  # fmt: skip
    check = check_answer(question, result)
    assert (check.contains, check.exact) == (True, False)
    assert check.citation_correct
    assert check.citation_precision == pytest.approx(0.5)
    uncited = check_answer(question, result.model_copy(update={"citations": []}))
    assert not uncited.citation_correct and uncited.citation_precision is None


def test_qa_file_fields_splits_and_tags(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"id": "a", "question": "Q1?", "expected_sources": ["x.html"], "split": "dev", '
        '"type": "fact"}\n\n'
        '{"question": "Q2?", "expected_sources": [{"source": "h.pdf", "pages": [2]}], '
        '"split": "test"}\n'
        '{"id": "c", "question": "Q3?", "expected_sources": ["y.html", "z.html"]}\n'
    )
    questions = load_questions(qa)
    assert [q.id for q in questions] == ["a", "line-3", "c"]
    assert questions[0].tags == {"type": "fact"}
    assert questions[1].expected == (ExpectedSource("h.pdf", frozenset({2})),)
    assert [q.id for q in select_split(questions, "dev")] == ["a"]
    assert [q.id for q in select_split(questions, "test")] == ["line-3"]
    assert len(select_split(questions, "all")) == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "Q?"}', "qa.jsonl:1: expected_sources must be a non-empty list"),
        ('{"question": "Q?", "expected_sources": ["a"], "split": "train"}', "split must be"),
        ('{"expected_sources": ["a"]}', 'qa.jsonl:1: each line needs a "question"'),
        ("not json", "qa.jsonl:1: not JSON"),
        ('{"question": "Q?", "expected_sources": [{"source": "a", "pages": "2"}]}', "pages"),
    ],
)
def test_qa_file_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(line + "\n")
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        load_questions(qa)


def test_a_split_nobody_marked_is_an_error(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "Q?", "expected_sources": ["a"]}\n')
    with pytest.raises(ConfigError, match="no question is in split 'dev'"):
        select_split(load_questions(qa), "dev")
