"""Attribution by shared words first, the embedding model only for what they leave open.

``CountingEmbedder`` is the real packaged embedder with a tally of what it was asked to
embed, so each test can say whether the model ran, and on which sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from ragserve.embed.base import EmbeddingBackend, TextTokenizer, Vectors
from ragserve.protocol import Citation
from ragserve.rag.citations import (
    AMBIGUOUS,
    answer_sentences,
    attribute,
    attribute_by_similarity,
    lexical_decisions,
)
from tests.conftest import SAMPLES


class CountingEmbedder:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner: EmbeddingBackend) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.max_tokens = inner.max_tokens
        self.queries: list[str] = []
        self.passages: list[str] = []

    @property
    def tokenizer(self) -> TextTokenizer:
        return self.inner.tokenizer

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.queries.extend(texts)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.passages.extend(texts)
        return self.inner.embed_passages(texts)

    def close(self) -> None:
        pass


@pytest.fixture
def counting(embedder: EmbeddingBackend) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def _source(n: int, text: str) -> Citation:
    return Citation(
        n=n, source=f"doc{n}.md", page=None, heading=None, text=text, title=None,
        document_id=f"d{n}", chunk_index=0, score=1.0 - n / 10,
    )  # fmt: skip


SOURCES = [
    _source(1, "The cafeteria serves lunch between noon and two. Breakfast is not served."),
    _source(
        2,
        "Every employee gets 25 paid vacation days per calendar year. Up to five unused "
        "days carry over to the next year; the rest expire on March 31.",
    ),
    _source(3, "Laptops are returned to the IT desk on the last working day."),
]


def test_an_answer_copying_a_source_sentence_is_cited_without_the_model(
    counting: CountingEmbedder,
) -> None:
    answer = (
        "Up to five unused days carry over to the next year. "
        "Laptops are returned to the IT desk on your last working day."
    )
    annotated, numbers = attribute(answer, SOURCES, counting)
    assert annotated == (
        "Up to five unused days carry over to the next year. [2] "
        "Laptops are returned to the IT desk on your last working day. [3]"
    )
    assert numbers == [2, 3]
    assert counting.queries == [] and counting.passages == []


def test_only_the_sentences_words_leave_open_are_embedded(counting: CountingEmbedder) -> None:
    copied = "Every employee gets 25 paid vacation days per calendar year."
    paraphrase = "Staff receive twenty-five holidays annually."
    annotated, numbers = attribute(f"{copied} {paraphrase}", SOURCES, counting)
    assert counting.queries == [paraphrase]  # the copy was decided by its words
    assert counting.passages == []  # sources without stored vectors are embedded once...
    # ...here they had none, so the similarity step embedded them as passages? No: see below.
    assert annotated.startswith(f"{copied} [2]")
    assert numbers[0] == 2


def test_a_long_sentence_sharing_no_word_with_any_source_gets_no_marker_and_no_model(
    counting: CountingEmbedder,
) -> None:
    answer = "Quantum chromodynamics describes gluons binding quarks inside protons neutrons."
    annotated, numbers = attribute(answer, SOURCES, counting)
    assert (annotated, numbers) == (answer, [])
    assert counting.queries == []


def test_markers_from_the_model_need_no_attribution_at_all() -> None:
    # AnswerService only attributes when cited_numbers() finds none; see test_answer.py.
    answer = "Vacation is 25 days [2]."
    assert lexical_decisions(answer, answer_sentences(answer), SOURCES) == [2]


def _sample_sentences() -> list[tuple[str, str]]:
    """(document, sentence) for every sentence of the Markdown and text samples."""
    out = []
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix not in (".md", ".txt"):
            continue
        text = re.sub(r"^#+ .*$", "", path.read_text(), flags=re.MULTILINE)
        for sentence in re.findall(r"[^.!?\n]+[.!?]", text):
            if len(sentence.split()) >= 5:
                out.append((path.name, sentence.strip()))
    return out


def test_where_words_decide_they_agree_with_the_embedding_model(
    embedder: EmbeddingBackend,
) -> None:
    """Calibration: over every sample sentence, as an answer against sources made of
    neighbouring sentences, no lexical decision contradicts the embedding's."""
    sentences = _sample_sentences()
    assert len(sentences) > 40
    # Sources: consecutive runs of four sentences, as chunks are; answers: every sentence.
    chunks = [" ".join(s for _, s in sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    decided = disagreements = 0
    for start in range(0, len(chunks), 5):
        sources = [_source(n, t) for n, t in enumerate(chunks[start : start + 5], 1)]
        answer = " ".join(s for _, s in sentences[start * 4 : start * 4 + 40])
        spans = answer_sentences(answer)
        lexical = lexical_decisions(answer, spans, sources)
        _, _ = attribute_by_similarity(answer, sources, embedder)
        vectors = embedder.embed_queries([answer[s:e] for s, e in spans])
        passages = embedder.embed_passages([s.text for s in sources])
        similarity = vectors @ passages.T
        for row, decision in enumerate(lexical):
            if decision == AMBIGUOUS:
                continue
            decided += 1
            best = int(similarity[row].argmax())
            embedded = sources[best].n if similarity[row, best] >= 0.45 else None
            if decision != embedded:
                disagreements += 1
    assert decided > 20
    assert disagreements == 0


def test_similarity_path_is_unchanged_for_callers_that_embed(embedder: EmbeddingBackend) -> None:
    answer = "Employees get 25 paid vacation days each year. Thanks for asking!"
    annotated, numbers = attribute_by_similarity(answer, SOURCES, embedder)
    assert numbers == [2]
    assert annotated.startswith("Employees get 25 paid vacation days each year. [2]")


def test_sample_files_exist() -> None:
    assert any(Path(SAMPLES).glob("*.md"))
