"""Citations from plain text, so they work with any model, without tools or JSON mode.

The model is asked to write ``[n]`` markers. When it writes none (small models often
don't), each answer sentence is matched to its most similar source by embedding, and a
marker is added where the similarity is high enough.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ragserve.embed.base import EmbeddingBackend, Vectors
from ragserve.protocol import Citation

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")

#: Cosine similarity a sentence needs to be attributed to a source (MiniLM scale).
ATTRIBUTION_THRESHOLD = 0.45


def cited_numbers(answer: str, count: int) -> list[int]:
    """Source numbers cited in ``answer``, in order of first use, within 1..count."""
    seen: list[int] = []
    for match in _MARKER.finditer(answer):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if 1 <= n <= count and n not in seen:
                seen.append(n)
    return seen


def answer_sentences(answer: str) -> list[tuple[int, int]]:
    """Spans of the sentences worth attributing (three words or more)."""
    return [m.span() for m in _SENTENCE.finditer(answer) if len(m.group().split()) >= 3]


def attribute_by_similarity(
    answer: str,
    sources: Sequence[Citation],
    embedder: EmbeddingBackend,
    sentence_vectors: Vectors | None = None,
) -> tuple[str, list[int]]:
    """Add ``[n]`` after each sentence that closely matches source n.

    ``sentence_vectors`` are the query embeddings of ``answer_sentences(answer)`` if the
    caller has them already.
    """
    spans = answer_sentences(answer)
    if not spans or not sources:
        return answer, []
    if sentence_vectors is None:
        sentence_vectors = embedder.embed_queries([answer[s:e] for s, e in spans])
    if all(s.vector is not None for s in sources):  # the stored vectors: no second pass
        source_vectors = np.array([s.vector for s in sources], dtype=np.float32)
    else:
        source_vectors = embedder.embed_passages([s.text for s in sources])
    similarity = sentence_vectors @ source_vectors.T
    out: list[str] = []
    cursor = 0
    numbers: list[int] = []
    for row, (_start, end) in enumerate(spans):
        best = int(np.argmax(similarity[row]))
        out.append(answer[cursor:end])
        cursor = end
        if similarity[row, best] >= ATTRIBUTION_THRESHOLD:
            n = sources[best].n
            out.append(f" [{n}]")
            if n not in numbers:
                numbers.append(n)
    out.append(answer[cursor:])
    return "".join(out), numbers
