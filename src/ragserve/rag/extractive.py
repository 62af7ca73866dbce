"""Extractive answers: the retrieved passages' sentences that best answer the question.

No model writes anything, so the answer is always grounded and cited: each sentence is
quoted from one passage and carries that passage's ``[n]``. Sentences are scored by

- the question's search terms they contain (``ragserve.embed.terms``: Korean particles and
  endings dropped by Kiwi, identifiers split), weighted by how rare each term is among the
  candidate sentences, so "lru_cache" counts more than "function";
- the embedding model's cosine between the question and the sentence (one batched forward
  pass over a few dozen short sentences), which finds paraphrases that share no term.

The words of a chosen sentence that share a term with the question are returned as spans
of the answer text, for the UI to mark.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragserve.embed.base import Vectors
from ragserve.embed.terms import terms
from ragserve.protocol import Citation, Highlight

# A sentence ends at . ! ? 。 followed by space (not after "e.g." and the like), or at a line
# break (lists, code, headings).
_BOUNDARY = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\betc\.)(?<=[.!?。])\s+|\s*\n\s*")
# A line that introduces what follows: a signature ("bisect.insort(a, x)"), a heading, a
# term being defined — short, and not ending a sentence, even inside a closing bracket or
# quote ("(Contributed by … in bpo-31368.)" closes the paragraph before; it introduces
# nothing).
_LEAD = re.compile(r"[^\n]{2,160}(?<![.!?。])(?<![.!?。][)\]\"'”’])")
# What a highlight covers: a word with its attached particles, or an identifier.
_WORD = re.compile(r"[\w.:/-]*\w")

#: Shortest sentence worth quoting, in characters (drops "Note", "New in version 3.2.").
MIN_SENTENCE_CHARS = 20
#: Longest sentence quoted whole; a longer "sentence" (a table, a code block) is cut.
MAX_SENTENCE_CHARS = 400
#: Sentences quoted at most.
MAX_SENTENCES = 3
#: A further sentence is quoted only if it scores at least this share of the best one.
RELATIVE_FLOOR = 0.75
#: Weight of the dense cosine against the term overlap (both in 0..1).
DENSE_WEIGHT = 0.5
#: Candidates come from this many best passages (more only dilutes a small collection's).
PASSAGES = 4
#: Taken off a sentence's score per place its passage is below the best one.
RANK_PENALTY = 0.01


@dataclass(frozen=True, slots=True)
class Candidate:
    text: str
    n: int
    rank: int
    terms: frozenset[str]
    #: The line just before, when it introduces this sentence (see ``_LEAD``); quoted with it.
    lead: str = ""


@dataclass(frozen=True, slots=True)
class ExtractedSentence:
    text: str
    n: int
    score: float
    lead: str = ""


def split_sentences(text: str) -> list[tuple[str, str]]:
    """(lead, sentence) pairs; ``lead`` is the introducing line before it, or empty."""
    out = []
    previous = ""
    for part in _BOUNDARY.split(text):
        part = part.strip()
        lead, previous = previous, part
        if len(part) < MIN_SENTENCE_CHARS:
            continue
        if len(part) > MAX_SENTENCE_CHARS:
            part = part[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + " …"
        out.append((lead if _LEAD.fullmatch(lead) else "", part))
    return out


def candidates(sources: Sequence[Citation]) -> list[Candidate]:
    seen: set[str] = set()
    out = []
    for rank, source in enumerate(sources[:PASSAGES]):
        for lead, sentence in split_sentences(source.text):
            if sentence in seen:  # overlapping chunks repeat their seam
                continue
            seen.add(sentence)
            out.append(
                Candidate(sentence, source.n, rank, frozenset(terms(f"{lead} {sentence}")), lead)
            )
    return out


def lexical_scores(question_terms: frozenset[str], cands: Sequence[Candidate]) -> list[float]:
    """Share of the question's term weight (inverse sentence frequency) each sentence holds."""
    if not question_terms or not cands:
        return [0.0] * len(cands)
    df = Counter(t for c in cands for t in c.terms & question_terms)
    idf = {t: math.log(1 + len(cands) / (1 + df[t])) for t in question_terms}
    total = sum(idf.values())
    return [sum(idf[t] for t in c.terms & question_terms) / total for c in cands]


def choose(
    question: str, cands: Sequence[Candidate], vectors: Vectors | None = None
) -> list[ExtractedSentence]:
    """The best sentences, best first. ``vectors``: the question's embedding, then each
    candidate's (normalised), or None to score by terms alone."""
    if not cands:
        return []
    scores = np.asarray(lexical_scores(frozenset(terms(question)), cands), dtype=np.float32)
    if vectors is not None and len(vectors) == len(cands) + 1:
        cosine = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
        scores = (1 - DENSE_WEIGHT) * scores + DENSE_WEIGHT * cosine
    # A gentle preference for the better-ranked passage breaks near-ties.
    scores = scores - RANK_PENALTY * np.asarray([c.rank for c in cands], dtype=np.float32)
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    chosen: list[ExtractedSentence] = []
    for i in order[:MAX_SENTENCES]:
        if chosen and float(scores[i]) < best * RELATIVE_FLOOR:
            break
        chosen.append(ExtractedSentence(cands[i].text, cands[i].n, float(scores[i]), cands[i].lead))
    return chosen


def render(sentences: Sequence[ExtractedSentence]) -> list[str]:
    """The answer's pieces, one per sentence, each with its marker (streamed one by one)."""
    pieces = []
    for i, s in enumerate(sentences):
        lead = f"{s.lead}\n" if s.lead else ""
        pieces.append(f"{'' if i == 0 else chr(10)}{lead}{s.text} [{s.n}]")
    return pieces


def highlights(answer: str, question: str) -> list[Highlight]:
    """Spans (code point offsets into ``answer``) of the words sharing a term with
    ``question``; citation markers are never marked."""
    wanted = set(terms(question))
    if not wanted:
        return []
    out = []
    for match in _WORD.finditer(answer):
        word = match.group()
        if word.isdigit() and answer[match.start() - 1 : match.start()] == "[":
            continue  # a citation marker
        if wanted.intersection(terms(word)):
            out.append(Highlight(start=match.start(), end=match.end()))
    return out
