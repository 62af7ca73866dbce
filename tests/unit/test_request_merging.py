"""The shared embedding batcher merges concurrent requests and keeps answers in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from ragserve.embed.base import TextTokenizer, Vectors
from ragserve.embed.request_merging import MergingEmbedder
from ragserve.errors import EmbeddingError


class RecordingModel:
    """Vectors that encode the text, so any mix-up shows; records each batch it ran."""

    model_id = "recording"
    max_tokens = 256
    dimension = 2

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()

    @property
    def tokenizer(self) -> TextTokenizer:
        raise NotImplementedError

    def _vectors(self, kind: str, texts: Sequence[str]) -> Vectors:
        if self.fail_on in texts:
            raise EmbeddingError("scripted failure")
        time.sleep(self.delay)
        with self.lock:
            self.batches.append((kind, list(texts)))
        return np.array([[float(len(t)), 1.0 if kind == "query" else 0.0] for t in texts],
                        dtype=np.float32)  # fmt: skip

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._vectors("passage", texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._vectors("query", texts)

    def close(self) -> None:
        pass


def test_concurrent_single_texts_share_batches_and_get_their_own_vectors() -> None:
    model = RecordingModel(delay=0.01)
    batcher = MergingEmbedder(model, max_batch=64, delay_s=0.005)
    texts = ["x" * n for n in range(1, 65)]
    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda t: batcher.embed_queries([t]), texts))
    batcher.close()
    for text, vectors in zip(texts, results, strict=True):
        assert vectors.shape == (1, 2) and vectors[0, 0] == len(text) and vectors[0, 1] == 1.0
    assert len(model.batches) < 16  # 64 requests, merged
    assert sum(len(b) for _, b in model.batches) == 64


def test_queries_and_passages_are_never_mixed_in_one_batch() -> None:
    model = RecordingModel(delay=0.005)
    batcher = MergingEmbedder(model, max_batch=64, delay_s=0.005)
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(batcher.embed_queries if i % 2 else batcher.embed_passages,
                               [f"t{i}"]) for i in range(32)]  # fmt: skip
        out = [f.result() for f in futures]
    batcher.close()
    for i, vectors in enumerate(out):
        assert vectors[0, 1] == (1.0 if i % 2 else 0.0)
    for kind, texts in model.batches:
        assert {int(t[1:]) % 2 for t in texts} == ({1} if kind == "query" else {0})


def test_bulk_work_is_split_so_questions_get_in_between() -> None:
    model = RecordingModel(delay=0.02)
    batcher = MergingEmbedder(model, max_batch=64, delay_s=0.0, piece_tokens=30)
    bulk = threading.Thread(target=batcher.embed_passages, args=([f"p{i}" for i in range(160)],))
    bulk.start()
    time.sleep(0.05)
    batcher.embed_queries(["question"])
    bulk.join()
    batcher.close()
    kinds = [kind for kind, _ in model.batches]
    assert kinds.index("query") < len(kinds) - 1  # answered before the bulk call finished
    assert max(len(texts) for kind, texts in model.batches if kind == "passage") <= 15


def test_a_failing_batch_fails_its_callers_and_the_batcher_goes_on() -> None:
    model = RecordingModel(fail_on="bad")
    batcher = MergingEmbedder(model, max_batch=8, delay_s=0.0)
    with pytest.raises(EmbeddingError):
        batcher.embed_queries(["bad"])
    assert batcher.embed_queries(["good"])[0, 0] == 4
    assert batcher.embed_queries([]).shape == (0, 2)
    batcher.close()


class StagedModel(RecordingModel):
    """A backend in stages (base.PipelinedBackend, as the CUDA embedder is): tokenising on a
    thread, ``launch`` that returns at once, ``collect`` that waits until ``gate`` opens for
    the first call, so the test can see whether the next call was launched meanwhile."""

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__(fail_on=fail_on)
        self.events: list[str] = []
        self.gate = threading.Event()
        self.pool = ThreadPoolExecutor(2)

    def tokenize_async(self, kind: str, texts: Sequence[str], done: Callable[[Any], None]) -> None:
        def tokenize() -> None:
            if "untokenisable" in texts:
                done(EmbeddingError("scripted tokenizer failure"))
            else:
                done([(kind, t) for t in texts])

        self.pool.submit(tokenize)

    def join_ids(self, parts: Sequence[Any]) -> Any:
        return [item for part in parts for item in part]

    def launch(self, ids: Any) -> Any:
        texts = [t for _, t in ids]
        self.events.append(f"launch {','.join(texts)}")
        return ids[0][0], texts

    def collect(self, launched: Any) -> tuple[Vectors, Any]:
        kind, texts = launched
        if self.events.count("collect") == 0:
            assert self.gate.wait(10)
        self.events.append("collect")
        vectors = self._vectors(kind, texts)
        return vectors, np.array([len(t) for t in texts], dtype=np.int32)

    def close(self) -> None:
        self.pool.shutdown()


def test_a_staged_backend_gets_the_next_call_launched_before_the_last_is_collected() -> None:
    model = StagedModel(fail_on="bad")
    batcher = MergingEmbedder(model, max_batch=8, delay_s=0.0)
    first = batcher.submit("passage", ["aaa"], 0)
    deadline = time.monotonic() + 10
    while "launch aaa" not in model.events and time.monotonic() < deadline:
        time.sleep(0.01)
    second = batcher.submit("passage", ["bb"], 0)  # the first call is still being collected
    while "launch bb" not in model.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert model.events == ["launch aaa", "launch bb"]  # launched while the first waits
    model.gate.set()
    assert first.result(10)[0, 0] == 3 and second.result(10)[0, 0] == 2
    # A failure at either stage reaches its own caller only, and the batcher goes on.
    with pytest.raises(EmbeddingError, match="scripted failure"):
        batcher.embed_queries(["bad"])
    with pytest.raises(EmbeddingError, match="tokenizer failure"):
        batcher.embed_queries(["untokenisable"])
    assert batcher.embed_queries(["good"])[0, 0] == 4
    batcher.close()
    model.close()
