"""Search terms of a text, for keyword (BM25) retrieval: what a query and a passage must
share to match.

Korean goes through Kiwi, a morphological analyser that runs offline (``kiwipiepy`` with
``kiwipiepy-model``): only content morphemes are kept — nouns, numerals, verb and adjective
stems, roots — so the particle and ending of "환불은" or "환불하려면" drop and both match
"환불". Other scripts are cut by rules: lower-cased words; identifiers such as
``os.path.join``, ``--dry-run``, ``E0123`` or ``snake_case`` are kept whole AND split into
their parts, so an exact name matches exactly and its pieces still match prose; Chinese and
Japanese runs (no spaces between words) become character bigrams. A few English function
words are dropped, and plain English words lose a plural ending ("functions", "libraries",
"classes" match "function", "library", "class"); there is no other stemming.

Change anything here that changes a text's terms and bump :data:`TOKENIZER_VERSION`:
collections record the version they were indexed with and refuse a different one.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

TOKENIZER_NAME = "kiwi-words"
TOKENIZER_VERSION = 2

_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
_HAS_HANGUL = re.compile(f"[{_HANGUL}]")
_HANGUL_RUN = re.compile(f"[{_HANGUL}]+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
# A flag (-v, --dry-run) where it starts a word, else a word with inner . : / - joints
# (os.path.join, 3.11, utf-8, std::vector); a joint must be followed by a word character,
# so a sentence's final full stop is not part of its last word.
_WORD = re.compile(r"(?<![\w-])--?[^\W_][\w-]*|\w+(?:(?:[.:/-]|::)\w+)*")
_PART = re.compile(r"[^\W_]+")
_LOWER_WORD = re.compile(r"[a-z]{4,}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

#: Kiwi tags of content morphemes: common/proper nouns, numerals, verb and adjective stems
#: (regular and irregular: VV-R, VA-I, ...), roots. Particles (J*), endings (E*), affixes
#: (X[PS]*), dependent nouns and pronouns carry no topic.
_KIWI_CONTENT = ("NNG", "NNP", "NR", "VV", "VA", "XR")

#: Light verbs that follow nearly every Korean noun ("환불하다", "취소되다", "있습니다").
_KOREAN_STOP_STEMS = frozenset(["하", "되", "있", "않"])

_STOPWORDS = frozenset(
    "a an and are as at be by do does for from has have how i if in into is it its of on or "
    "that the their then there these this to was what when where which who why will with "
    "you your can".split()
)


class _KiwiHolder:
    """One Kiwi per process, loaded on the first Korean text: about 5 s and 320 MB, which a
    server that never sees Korean does not pay."""

    def __init__(self) -> None:
        self._kiwi: Kiwi | None = None
        self._lock = threading.Lock()

    def morphemes(self, text: str) -> list[tuple[str, str]]:
        with self._lock:  # one analyser shared by ingestion and queries
            if self._kiwi is None:
                from kiwipiepy import Kiwi

                # Without the typo and multi-word dictionaries: 190 MB less, same morphemes
                # for search purposes (typo correction is off by default anyway).
                self._kiwi = Kiwi(load_typo_dict=False, load_multi_dict=False)
            tokens = self._kiwi.tokenize(text)
        return [(t.form, t.tag) for t in tokens]


_kiwi = _KiwiHolder()


def _korean_terms(text: str) -> Iterator[str]:
    for form, tag in _kiwi.morphemes(text):
        if (
            tag.startswith(_KIWI_CONTENT)
            and form not in _KOREAN_STOP_STEMS
            and _HAS_HANGUL.search(form)
        ):
            yield form


def _singular(word: str) -> str:
    """A plain English word without its plural ending; anything else unchanged."""
    if not _LOWER_WORD.fullmatch(word):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _word_terms(word: str) -> Iterator[str]:
    """A word, and when it is a compound (dots, dashes, underscores, camelCase), its parts."""
    if _CJK_RUN.fullmatch(word):
        if len(word) == 1:
            yield word
        yield from (word[i : i + 2] for i in range(len(word) - 1))
        return
    whole = word.lower()
    parts = [p.lower() for piece in _PART.findall(word) for p in _CAMEL.split(piece) if p]
    if whole not in _STOPWORDS:
        yield _singular(whole)
    if len(parts) > 1 or (parts and parts[0] != whole):
        yield from (_singular(p) for p in parts if p not in _STOPWORDS)


@lru_cache(maxsize=1 << 16)
def known_word_terms(word: str) -> tuple[str, ...]:
    """One word's terms (``_word_terms``), remembered: a corpus repeats its words, and
    cutting them (patterns, camelCase, plurals) was a third of the single writer thread's
    time in ingestion (benchmarks/RESULTS.md, "Ingestion without the model")."""
    return tuple(_word_terms(word))


def split(text: str) -> tuple[list[str], list[str]]:
    """``text`` as the words the rules cut (each gives ``known_word_terms``) and its Korean
    content morphemes: ``terms`` without joining them, for callers that remember per word."""
    if not text.isascii():  # NFKC leaves ASCII as it is
        text = unicodedata.normalize("NFKC", text)
    korean = _HAS_HANGUL.search(text) is not None
    rest = _HANGUL_RUN.sub(" ", text) if korean else text
    # Chinese or Japanese runs glued to Latin letters are cut apart before the word rule.
    if not rest.isascii() and _CJK_RUN.search(rest):
        rest = _CJK_RUN.sub(lambda m: f" {m.group()} ", rest)
    return _WORD.findall(rest), list(_korean_terms(text)) if korean else []


def terms(text: str) -> list[str]:
    """The search terms of ``text``, in order, repeats kept (they count as frequency)."""
    words, korean = split(text)
    # map and chain keep the per-word loop in C: this runs on every chunk ingested.
    return [*itertools.chain.from_iterable(map(known_word_terms, words)), *korean]


def tokenizer_id() -> str:
    """Name and version, as collections record it."""
    return f"{TOKENIZER_NAME}/{TOKENIZER_VERSION}"
