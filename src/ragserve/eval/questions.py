"""QA files: one JSON object per line, a question and the documents that answer it.

    {"id": "en-01", "question": "...", "expected_sources": ["library/os.html"],
     "reference_answer": "FileExistsError", "split": "dev", "type": "fact"}

``expected_sources`` items are paths relative to the ingested root (matched as suffixes) or
``{"source": "handbook.pdf", "pages": [2, 3]}``. ``split`` (``dev`` | ``test``) and
``reference_answer`` are optional; other string fields (``type``, ``phrasing``...) are tags
the report breaks results down by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragserve.errors import ConfigError
from ragserve.eval.metrics import ExpectedSource
from ragserve.jsonl import jsonl_rows

SPLITS = ("dev", "test")
_KNOWN = {"id", "question", "expected_sources", "reference_answer", "split"}


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    expected: tuple[ExpectedSource, ...]
    reference_answer: str | None = None
    split: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _expected(where: str, value: Any) -> tuple[ExpectedSource, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected_sources must be a non-empty list")
    out = []
    for item in value:
        if isinstance(item, str) and item.strip():
            out.append(ExpectedSource(item.strip()))
        elif isinstance(item, dict) and isinstance(item.get("source"), str):
            pages = item.get("pages", [])
            if not isinstance(pages, list) or not all(isinstance(p, int) for p in pages):
                raise ConfigError(f"{where}: pages must be a list of page numbers")
            out.append(ExpectedSource(item["source"], frozenset(pages)))
        else:
            raise ConfigError(f"{where}: each expected source is a path or {{source, pages}}")
    return tuple(out)


def load_questions(path: Path) -> list[Question]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such QA file")
    questions: list[Question] = []
    seen: set[str] = set()
    for line, row in jsonl_rows(path):
        where = f"{path}:{line}"
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise ConfigError(f'{where}: each line needs a "question" string')
        qid = str(row.get("id") or f"line-{line}")
        if qid in seen:
            raise ConfigError(f"{where}: id {qid!r} appears twice")
        seen.add(qid)
        split = row.get("split")
        if split is not None and split not in SPLITS:
            raise ConfigError(f"{where}: split must be one of {', '.join(SPLITS)}, not {split!r}")
        reference = row.get("reference_answer")
        questions.append(
            Question(
                id=qid,
                question=row["question"],
                expected=_expected(where, row.get("expected_sources")),
                reference_answer=reference if isinstance(reference, str) and reference else None,
                split=split,
                tags={k: v for k, v in row.items() if k not in _KNOWN and isinstance(v, str)},
            )
        )
    if not questions:
        raise ConfigError(f"{path}: no questions")
    return questions


def select_split(questions: Sequence[Question], split: str) -> list[Question]:
    """``all`` keeps every question; ``dev``/``test`` those marked so (an error if none are)."""
    if split == "all":
        return list(questions)
    if split not in SPLITS:
        raise ConfigError(f"--split must be dev, test or all, not {split!r}")
    chosen = [q for q in questions if q.split == split]
    if not chosen:
        raise ConfigError(f'no question is in split {split!r} (each needs "split": {split!r})')
    return chosen
