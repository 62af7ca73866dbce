"""Token ids as flat arrays (the CUDA embedder's tokenising): the ASCII fast path gives the
model tokenizer's exact ids, truncation matches the tokenizer's own, and worker processes
return what this process computes."""

from __future__ import annotations

import functools
import json
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from ragserve.embed import packaged, token_ids
from ragserve.embed.token_ids import (
    AsciiFastPath,
    SpecialTokens,
    TokenizerPool,
    encode,
    pad_rows,
)

#: What chunks of real documents hold: case, digits, punctuation, tabs and newlines, and
#: text the fast path must leave to the full normalizer (accents, Korean, CJK, controls).
TEXTS = [
    "Employees get 25 vacation days per year; see §4.2 (HR-Policy v3.1).",
    "os.makedirs(name, mode=0o777, exist_ok=False)\n\tRaises FileExistsError!",
    "CAPITALS and MiXeD case, e-mail: hr@northwind.example, 10,000 EUR.",
    "Café résumé naïve — accents are stripped by BERT's normalizer.",
    "환불은 구매 후 14일 이내에 가능합니다. 영수증을 지참하세요.",
    "中文字符 are spaced out by handle_chinese_chars.",
    "a control\x07character and a form\x0cfeed are deleted",
    "",
    "   leading and trailing spaces   ",
    "emoji 🙂 and symbols ™ ∑",
    # The fast path's own edges: added tokens written out, an over-long word, every
    # punctuation mark, unknown pieces.
    "a literal [SEP] and [cls] and [MASK]ed text",
    "x" * 101 + " and " + "y" * 100,
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ a_b c-d e.f",
    "qzxj zzzzqqq 123abc456 under_score_name",
]


@functools.cache
def _tokenizer() -> Tokenizer:
    raw = Tokenizer.from_file(str(packaged.minilm_folder() / "tokenizer.json"))
    raw.no_truncation()
    raw.no_padding()
    return raw


@functools.cache
def _fast() -> AsciiFastPath:
    return AsciiFastPath(_tokenizer())


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return _tokenizer()


def ids_of(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=True)]


def rows(ids: object) -> list[list[int]]:
    from ragserve.embed.token_ids import TokenIds

    assert isinstance(ids, TokenIds)
    return [ids.flat[s : s + n].tolist() for s, n in zip(ids.starts, ids.full, strict=True)]


def test_the_ascii_fast_path_gives_the_tokenizers_own_ids(tokenizer: Tokenizer) -> None:
    fast = AsciiFastPath(tokenizer)
    assert fast.plain, "MiniLM's BertNormalizer qualifies for the fast path"
    assert rows(fast.encode(TEXTS)) == ids_of(tokenizer, TEXTS)
    ascii_only = [t for t in TEXTS if t.isascii() and "\x07" not in t and "\x0c" not in t]
    assert rows(fast.encode(ascii_only)) == ids_of(tokenizer, ascii_only)
    assert fast.words, "the ASCII texts went through the remembered words"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(string.printable, max_size=60), min_size=1, max_size=4))
def test_remembered_words_give_the_tokenizers_ids_for_any_ascii_text(texts: list[str]) -> None:
    tok = _tokenizer()
    assert rows(_fast().encode(texts)) == ids_of(tok, texts)


def test_a_cased_bert_tokenizer_keeps_its_case_on_the_fast_path(tokenizer: Tokenizer) -> None:
    spec = json.loads(tokenizer.to_str())
    spec["normalizer"]["lowercase"] = False
    cased = Tokenizer.from_str(json.dumps(spec))
    fast = AsciiFastPath(cased)
    texts = [*TEXTS, "Upper Case WORDS stay [UNK] when the vocabulary is lower-case"]
    assert rows(fast.encode(texts)) == ids_of(cased, texts)
    assert fast.words, "the cased tokenizer still goes through remembered words"


def test_a_tokenizer_with_normalised_added_words_keeps_the_tokenizer(tokenizer: Tokenizer) -> None:
    # "Café" added as a normalised token matches "cafe" after BERT's normalizer strips the
    # accent: the raw text cannot show that, so the fast path must stand aside.
    extended = Tokenizer.from_str(tokenizer.to_str())
    extended.add_tokens(["Café"])
    fast = AsciiFastPath(extended)
    texts = ["I like cafe", "CAFE au lait", "no match here"]
    assert rows(fast.encode(texts)) == ids_of(extended, texts)
    assert not fast.plain


def test_the_word_memory_is_bounded(tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_ids, "WORD_CACHE_WORDS", 50)
    fast = AsciiFastPath(tokenizer)
    texts = [" ".join(f"w{i}x{j}" for j in range(20)) for i in range(10)]
    texts.append("a" * 30 + " " + "b" * 24)  # only words of at most 24 letters are kept
    assert rows(fast.encode(texts)) == ids_of(tokenizer, texts)
    assert fast.words is not None and len(fast.words) == 50
    fresh = AsciiFastPath(tokenizer)
    fresh.encode([texts[-1]])
    assert fresh.words is not None and set(fresh.words) == {"b" * 24}


def test_long_rows_are_truncated_as_the_tokenizer_truncates(tokenizer: Tokenizer) -> None:
    texts = ["word " * 300, "short one", "Another long text. " * 90]
    ids = encode(tokenizer, texts)
    specials = SpecialTokens.of(tokenizer)
    assert (specials.before, specials.after) == (1, 1)  # [CLS] … [SEP]
    matrix, lengths = pad_rows(ids, [0, 1, 2], max_tokens=256, closing=1, pad_id=0)
    truncating = Tokenizer.from_str(tokenizer.to_str())
    truncating.enable_truncation(256)
    expected = ids_of(truncating, texts)
    assert matrix.shape == (3, 256)
    assert lengths.tolist() == [len(want) for want in expected]
    for row, want in enumerate(expected):
        assert matrix[row, : len(want)].tolist() == want
        assert (matrix[row, len(want) :] == 0).all()
    # The full lengths survive truncation: usage counts what was sent, as on the CPU path.
    assert ids.full.tolist() == [len(x) for x in ids_of(tokenizer, texts)]


def test_worker_processes_return_what_this_process_computes(tokenizer: Tokenizer) -> None:
    texts = [f"{TEXTS[i % len(TEXTS)]} number {i}" for i in range(300)]
    pool = TokenizerPool(tokenizer, processes=2)
    try:
        pooled = pool.encode(texts)
    finally:
        pool.close()
    local = encode(tokenizer, texts)
    assert np.array_equal(pooled.full, local.full)
    assert np.array_equal(pooled.flat, local.flat)
