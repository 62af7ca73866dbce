"""Attribution by shared words first, the embedding model only for what they leave open.

``CountingEmbedder`` is the real packaged embedder with a tally of what it was asked to
embed, so each test can say whether the model ran, and on which sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from ragserve.embed.base import EmbeddingBackend, TextTokenizer, Vectors
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import parse_bytes
from ragserve.protocol import Citation
from ragserve.rag.citations import (
    AMBIGUOUS,
    ATTRIBUTION_THRESHOLD,
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


def _source(n: int, text: str, embedder: EmbeddingBackend | None = None) -> Citation:
    vector = embedder.embed_passages([text])[0].tolist() if embedder else None
    return Citation(
        n=n, source=f"doc{n}.md", page=None, heading=None, text=text, title=None,
        document_id=f"d{n}", chunk_index=0, score=1.0 - n / 10, vector=vector,
    )  # fmt: skip


TEXTS = [
    "The cafeteria serves lunch between noon and two. Breakfast is not served.",
    "Every employee gets 25 paid vacation days per calendar year. Up to five unused days "
    "carry over to the next year; the rest expire on March 31.",
    "Laptops are returned to the IT desk on the last working day.",
]


@pytest.fixture
def sources(embedder: EmbeddingBackend) -> list[Citation]:
    """Sources as retrieval returns them: with their stored vectors."""
    return [_source(n, text, embedder) for n, text in enumerate(TEXTS, 1)]


def test_an_answer_copying_source_sentences_is_cited_without_the_model(
    counting: CountingEmbedder, sources: list[Citation]
) -> None:
    answer = (
        "Up to five unused days carry over to the next year. "
        "Laptops are returned to the IT desk on your last working day."
    )
    annotated, numbers = attribute(answer, sources, counting)
    assert annotated == (
        "Up to five unused days carry over to the next year. [2] "
        "Laptops are returned to the IT desk on your last working day. [3]"
    )
    assert numbers == [2, 3]
    assert counting.queries == [] and counting.passages == []


def test_only_the_sentences_words_leave_open_are_embedded(
    counting: CountingEmbedder, sources: list[Citation]
) -> None:
    copied = "Every employee gets 25 paid vacation days per calendar year."
    paraphrase = "Staff receive twenty-five holidays annually."
    annotated, numbers = attribute(f"{copied} {paraphrase}", sources, counting)
    assert [q.strip() for q in counting.queries] == [paraphrase]
    assert counting.passages == []  # the sources' stored vectors are used
    assert annotated.startswith(f"{copied} [2] ")
    assert numbers[0] == 2


def test_a_long_sentence_sharing_no_word_with_any_source_gets_no_marker_and_no_model(
    counting: CountingEmbedder, sources: list[Citation]
) -> None:
    answer = "Quantum chromodynamics describes gluons binding quarks inside protons and neutrons."
    assert attribute(answer, sources, counting) == (answer, [])
    assert counting.queries == []


def _sample_sentences() -> list[str]:
    """Every sentence of five words or more in the five sample documents, as parsed."""
    limits = ParseLimits(2**26, 2**26, 10**7)
    out = []
    for path in sorted(SAMPLES.iterdir()):
        document = parse_bytes(path, path.read_bytes(), limits)
        for block in document.blocks:
            if not block.is_heading:
                out += [s.strip() for s in re.findall(r"[^.!?]+[.!?]?", block.text)]
    return [s for s in out if len(s.split()) >= 5]


def test_where_words_decide_they_never_contradict_the_embedding_model(
    embedder: EmbeddingBackend,
) -> None:
    """Calibration over every sample sentence, each as an answer against sources of four
    neighbouring sentences (the size of a chunk): where words pick a source, the embedding
    model picks the same one or none (it misses some verbatim copies), and where words say
    "none", so does the model."""
    sentences = _sample_sentences()
    assert len(sentences) > 40
    chunks = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    answer = " ".join(sentences)
    spans = answer_sentences(answer)
    vectors = embedder.embed_queries([answer[s:e] for s, e in spans])
    matched = nones = 0
    for first in range(0, len(chunks), 5):
        sources = [_source(n, t) for n, t in enumerate(chunks[first : first + 5], 1)]
        similarity = vectors @ embedder.embed_passages([s.text for s in sources]).T
        for row, decision in enumerate(lexical_decisions(answer, spans, sources)):
            best = int(similarity[row].argmax())
            model = sources[best].n if similarity[row, best] >= ATTRIBUTION_THRESHOLD else None
            if decision is None:
                nones += 1
                assert model is None, (answer[slice(*spans[row])], similarity[row, best])
            elif decision != AMBIGUOUS:
                matched += 1
                assert model in (decision, None), answer[slice(*spans[row])]
    assert matched >= len(sentences) // 2 and nones > 0, (matched, nones)


def test_the_similarity_path_is_unchanged_for_callers_that_embed(
    embedder: EmbeddingBackend,
) -> None:
    answer = "Employees get 25 paid vacation days each year. Thanks for asking!"
    annotated, numbers = attribute_by_similarity(
        answer, [_source(n, t) for n, t in enumerate(TEXTS, 1)], embedder
    )
    assert numbers == [2]
    assert annotated.startswith("Employees get 25 paid vacation days each year. [2]")
