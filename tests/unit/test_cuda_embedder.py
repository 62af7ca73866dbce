"""The CUDA embedder's CPU-side behaviour: device choice, fallback, batching by tokens, and
vectors equal to the sentence-transformers CPU path. Its CUDA kernels run on the lent GPU
machine (benchmarks/gpu_embed.py), where the same comparison is made in fp16."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from ragserve.config import EmbedBackendKind, Settings
from ragserve.embed import packaged
from ragserve.embed.cuda import BatchStats, CudaEmbedder, resolve_device
from ragserve.embed.onnx import OnnxEmbedder
from ragserve.embed.registry import build_embedder
from ragserve.embed.sentence_transformers import SentenceTransformerEmbedder

WORDS = (
    "the finance team reviews quarterly budget forecasts before the end of each quarter so "
    "that nothing is approved twice because auditors ask for a written trail"
).split()


def passage(n_words: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, n_words))


@pytest.fixture(scope="module")
def minilm() -> Iterator[CudaEmbedder]:
    embedder = CudaEmbedder(
        str(packaged.minilm_folder()), model_id="all-MiniLM-L6-v2", device="cpu"
    )
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def pooled() -> Iterator[CudaEmbedder]:
    """Tokenising in two worker processes, as on a GPU machine (forced on here)."""
    embedder = CudaEmbedder(
        str(packaged.minilm_folder()),
        model_id="all-MiniLM-L6-v2",
        device="cpu",
        tokenize_processes=2,
    )
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def reference() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(
        str(packaged.minilm_folder()), model_id="all-MiniLM-L6-v2", threads=2
    )


def test_without_a_gpu_cuda_falls_back_to_cpu_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert not torch.cuda.is_available(), "this test describes a machine without CUDA"
    with caplog.at_level(logging.WARNING, logger="ragserve.embed.cuda"):
        assert resolve_device("cuda") == "cpu"
    assert "sees no CUDA GPU; embedding on the CPU" in caplog.text
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"


def test_auto_picks_the_gpu_when_pytorch_sees_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"
    settings = Settings(embed_model="all-MiniLM-L6-v2")
    assert settings.embeds_on_gpu
    assert settings.resolved_embed_batch_tokens == 65536
    # The int8 ONNX default is its own model: it stays on the CPU whatever the device.
    assert not Settings(embed_device="cuda").embeds_on_gpu
    assert not Settings(embed_model="all-MiniLM-L6-v2", embed_device="cpu").embeds_on_gpu


def test_settings_asking_for_cuda_on_a_cpu_machine_get_the_cpu_backend(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGSERVE_EMBED_DEVICE", "cuda")
    monkeypatch.setenv("RAGSERVE_EMBED_MODEL", "all-MiniLM-L6-v2")
    settings = Settings()
    assert settings.resolved_embed_backend is EmbedBackendKind.sentence_transformers
    assert settings.resolved_embed_batch_tokens == 4096  # the CPU's budget, not the GPU's
    with caplog.at_level(logging.WARNING, logger="ragserve.embed.registry"):
        embedder = build_embedder(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert "sees no CUDA GPU; embedding on the CPU" in caplog.text
    assert embedder.embed_queries(["hotel limit"]).shape == (1, 384)


def test_the_int8_default_stays_on_the_cpu_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="ragserve.embed.registry"):
        embedder = build_embedder(Settings(embed_device="cuda"))
    assert isinstance(embedder, OnnxEmbedder)
    assert "the int8 ONNX model runs on the CPU" in caplog.text


def test_vectors_match_sentence_transformers_on_the_cpu(
    minilm: CudaEmbedder, reference: SentenceTransformerEmbedder
) -> None:
    # Lengths deliberately shuffled: rows must come back in input order after sorting.
    texts = [passage(n, seed) for seed, n in enumerate([40, 3, 120, 17, 300, 8, 64, 1])]
    ours, theirs = minilm.embed_passages(texts), reference.embed_passages(texts)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 0.99999, cosine
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_queries_get_their_prefix(minilm: CudaEmbedder) -> None:
    minilm.query_prefix = "query: "
    try:
        prefixed = minilm.embed_queries(["hotel limit"])
    finally:
        minilm.query_prefix = ""
    assert np.allclose(prefixed, minilm.embed_passages(["query: hotel limit"]), atol=1e-6)
    assert not np.allclose(prefixed, minilm.embed_passages(["hotel limit"]), atol=1e-3)


def test_batches_are_cut_by_tokens_not_by_count(minilm: CudaEmbedder) -> None:
    short = [passage(4, seed) for seed in range(64)]  # ~6 tokens each with [CLS] and [SEP]
    long = [passage(400, seed) for seed in range(8)]  # truncated to MiniLM's 256 tokens
    minilm.batch_tokens, minilm.max_batch = 1024, 4096
    try:
        minilm.stats = BatchStats()
        minilm.embed_passages(short)
        assert minilm.stats.batches == 1, "64 short texts fit one 1,024-token batch"
        minilm.stats = BatchStats()
        minilm.embed_passages(long)
        assert minilm.stats.batches == 2, "8 × 256 tokens need two 1,024-token batches"
        assert minilm.stats.largest_batch_tokens <= 1024
        assert minilm.stats.tokens == 8 * 256
    finally:
        minilm.batch_tokens, minilm.max_batch = 65536, 4096


def test_waves_overlapped_with_tokenisation_give_the_same_vectors(minilm: CudaEmbedder) -> None:
    texts = [passage(5 + (seed * 37) % 90, seed) for seed in range(30)]
    whole = minilm.embed_passages(texts)
    minilm.wave_texts = 7  # five waves: each tokenised while the previous one runs
    try:
        waved = minilm.embed_passages(texts)
    finally:
        minilm.wave_texts = 512
    assert np.allclose(whole, waved, atol=1e-6)
    assert minilm.embed_passages([]).shape == (0, 384)


def test_worker_process_tokenising_gives_the_same_vectors_and_counts_tokens(
    minilm: CudaEmbedder, pooled: CudaEmbedder, reference: SentenceTransformerEmbedder
) -> None:
    """Big calls on a GPU tokenise in worker processes: the vectors and the token counts do
    not depend on which path tokenised them."""
    texts = [passage(3 + (seed * 13) % 40, seed) for seed in range(40)]
    texts[5] = "Café résumé, 환불은 가능합니다. " + texts[5]  # leaves the ASCII fast path
    pooled.pool_min_texts, pooled.pool_wave_texts = 8, 16  # a small call, three waves
    try:
        vectors, counts = pooled.embed_counted("passage", texts)
    finally:
        pooled.pool_min_texts, pooled.pool_wave_texts = 256, 2048
    assert np.allclose(vectors, minilm.embed_passages(texts), atol=1e-5)
    assert (vectors * reference.embed_passages(texts)).sum(axis=1).min() > 0.99999
    # The counts are what the CPU path reports in /v1/embeddings usage.
    assert counts.tolist() == [len(o) for o in reference.tokenizer.token_offsets(texts)]


@pytest.mark.parametrize("tokenizing", ["threads", "processes"])
def test_the_batcher_hands_each_request_its_own_token_count(
    minilm: CudaEmbedder, pooled: CudaEmbedder, tokenizing: str
) -> None:
    """The batcher runs this backend as a pipeline (each request tokenised on arrival, the
    next merged call launched before the last is handed out): every request still gets its
    own vectors and tokens, whichever side tokenised it."""
    import asyncio

    from ragserve.embed.request_merging import MergingEmbedder

    backend = pooled if tokenizing == "processes" else minilm
    batcher = MergingEmbedder(backend, max_batch=64, delay_s=0.05, piece_tokens=4096)
    requests = [[passage(n, seed) for n in (5, 30)] for seed in range(4)]
    requests.append(["Café résumé, 환불은 가능합니다."] + [passage(4, 9)] * 130)  # two slices

    async def together() -> list[tuple[np.ndarray, int | None]]:
        return list(await asyncio.gather(*(batcher.aembed_counted("passage", r) for r in requests)))

    try:
        assert batcher.counts_tokens
        results = asyncio.run(together())
    finally:
        batcher.close()
    for texts, (vectors, tokens) in zip(requests, results, strict=True):
        assert tokens == sum(len(o) for o in minilm.tokenizer.token_offsets(texts))
        assert np.allclose(vectors, minilm.embed_passages(texts), atol=1e-5)
