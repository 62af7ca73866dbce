"""BM25 sparse vectors: the keyword side of hybrid search.

ragserve builds the sparse vectors itself rather than feeding Qdrant Edge's ``Bm25``:
Edge's tokenizers know no Korean morphology, the same vectors must work in the Qdrant
server store (whose client has no ``Bm25``), and the query side must tokenise exactly as the
passages did. A term's index is a stable 32-bit hash of it (the same in every process and
version, no vocabulary to store); a passage's value for a term is BM25's term-frequency
part, ``tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))``; a query's is 1 per distinct term.
The IDF factor is left to Qdrant (``Modifier.IDF`` on the sparse vector), which knows the
collection's document frequencies as they change, so scores are BM25 without ragserve
keeping corpus statistics. ``avg_len`` is a constant near a chunk's length in terms: chunks
are cut to a fixed token budget, so their lengths vary little.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ragserve.embed import terms as term_rules

K1 = 1.2
B = 0.75
AVG_TERMS = 120.0
#: Recorded by each collection with a sparse side: terms' rules, hashing and weights.
SPARSE_ENCODING = f"bm25/{term_rules.tokenizer_id()}"


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term indices (ascending, distinct) and their weights."""

    indices: list[int]
    values: list[float]


@lru_cache(maxsize=1 << 18)
def term_index(term: str) -> int:
    """A term's dimension: stable across processes (Python's ``hash`` is salted)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little")


@lru_cache(maxsize=1 << 16)
def _word_indices(word: str) -> tuple[int, ...]:
    """A word's term indices, remembered: a passage's counts then never touch a term."""
    return tuple(term_index(t) for t in term_rules.known_word_terms(word))


def _counts(text: str) -> tuple[Counter[int], int]:
    words, korean = term_rules.split(text)
    counts = Counter(itertools.chain.from_iterable(map(_word_indices, words)))
    counts.update(map(term_index, korean))
    return counts, counts.total()


def passage_vector(text: str) -> SparseVector:
    counts, length = _counts(text)
    norm = K1 * (1 - B + B * length / AVG_TERMS)
    indices = sorted(counts)
    return SparseVector(indices, [counts[i] * (K1 + 1) / (counts[i] + norm) for i in indices])


def query_vector(text: str) -> SparseVector:
    counts, _ = _counts(text)
    indices = sorted(counts)
    return SparseVector(indices, [1.0] * len(indices))


def passage_vectors(texts: Sequence[str]) -> list[SparseVector]:
    return [passage_vector(t) for t in texts]
