"""In-process embeddings on a CUDA GPU: sentence-transformers models in fp16/bf16.

    texts ─▶ tokenizer thread: tokenise a wave, sort by length, cut token-budget batches,
             pad each into pinned host memory
          ─▶ caller's thread: async copy to the GPU, forward (PyTorch SDPA attention),
             pooling in fp32 on the GPU, async copy of the pooled rows back
          ─▶ one synchronisation per call, rows back in input order

The GPU never waits on Python between batches of one call: kernels are queued ahead while
the tokenizer thread (Rust, GIL released) prepares the next wave. ``encode()`` in
sentence-transformers, by contrast, synchronises after every batch and pads to a fixed
count, which is why it leaves most of an H100 idle.

The same class runs unchanged on a machine without CUDA (device ``cpu``, fp32): that is how
the CPU-only tests exercise every line but the copies' pinning, and how the GPU's output is
checked against the CPU path on the lent machine.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from tokenizers import Encoding, Tokenizer

from ragserve.embed.base import HFTokenizer, PrefixedEmbedder, Vectors, normalize
from ragserve.embed.batch_planning import plan_batches
from ragserve.errors import ConfigError

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}

#: Padded tokens in one forward pass on the GPU. Measured on an H100 (benchmarks/RESULTS.md,
#: "CUDA embedder"): best for BERT-base, within 3 % of the best (32k) for MiniLM-L6; smaller
#: batches leave the GPU waiting on kernel launches.
CUDA_BATCH_TOKENS = 65536
#: Texts in one forward pass at most; the token budget is what normally cuts batches.
CUDA_MAX_BATCH = 4096
#: Texts tokenised in one go while the previous wave runs on the GPU: a wave of chunks
#: (~100k tokens) fills one or two batches, so a merged request of a few thousand texts
#: already overlaps tokenising with the forward passes; 256, 1024 and 2048 measured slower.
WAVE_TEXTS = 512


def cuda_available() -> bool:
    """True when this PyTorch build can reach a CUDA GPU (False on CPU-only builds)."""
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver install reads as "no GPU", not as a crash
        return False


def resolve_device(requested: Device) -> Literal["cpu", "cuda"]:
    """The device to run on; ``cuda`` without a GPU falls back to the CPU with a log line."""
    if requested == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if requested == "cuda":
        log.warning(
            "RAGSERVE_EMBED_DEVICE=cuda but PyTorch %s sees no CUDA GPU; embedding on the CPU",
            torch.__version__,
        )
    else:
        log.info("no CUDA GPU visible to PyTorch %s; embedding on the CPU", torch.__version__)
    return "cpu"


@dataclass
class BatchStats:
    """What the embedder has done so far, for benchmarks and /metrics-style reporting."""

    batches: int = 0
    texts: int = 0
    tokens: int = 0  # real tokens, special tokens included
    padded_tokens: int = 0  # tokens the forward passes computed (batch × longest)
    largest_batch_tokens: int = 0

    @property
    def padding_efficiency(self) -> float:
        return self.tokens / self.padded_tokens if self.padded_tokens else 1.0


@dataclass
class _Prepared:
    """One batch ready to go to the device: its rows' positions in the call, padded ids."""

    rows: list[int]
    ids: torch.Tensor
    mask: torch.Tensor
    tokens: int


class CudaEmbedder(PrefixedEmbedder):
    """A sentence-transformers model run by hand: half precision, length-sorted batches.

    Only the first module (the Hugging Face encoder) runs in ``dtype``; pooling, dense
    layers and normalisation run in fp32 on its output, as on the CPU, so the vectors
    match the CPU path (cosine ≥ 0.999 in fp16, checked in benchmarks/gpu_embed.py).
    """

    def __init__(
        self,
        name_or_path: str,
        *,
        model_id: str,
        device: Device = "auto",
        dtype: str = "float16",
        batch_tokens: int = CUDA_BATCH_TOKENS,
        max_batch: int = CUDA_MAX_BATCH,
        wave_texts: int = WAVE_TEXTS,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.device = resolve_device(device)
        # Half precision is for the GPU; CPUs run fp16 slowly and the CPU path is fp32.
        self.dtype = DTYPES[dtype] if self.device == "cuda" else torch.float32
        try:
            model = SentenceTransformer(name_or_path, device=self.device)
        except OSError as exc:
            raise ConfigError(
                f"cannot load sentence-transformers model {name_or_path!r}: {exc}. Give a "
                "local folder, or a hub name with network access to download it once."
            ) from exc
        modules = list(model)
        first = modules[0]
        encoder = getattr(first, "auto_model", None) or getattr(first, "model", None)
        fast = getattr(getattr(first, "tokenizer", None), "backend_tokenizer", None)
        if not isinstance(encoder, torch.nn.Module) or fast is None:
            raise ConfigError(
                f"{name_or_path!r} does not start with a Hugging Face encoder with a fast "
                "tokenizer; run it with RAGSERVE_EMBED_DEVICE=cpu"
            )
        self._encoder: torch.nn.Module = encoder.to(self.dtype).eval()
        _use_sdpa(self._encoder)
        # Pooling, Dense, Normalize...: sentence-transformers' own modules, kept in fp32.
        self._heads = [m.float().eval() for m in modules[1:]]
        self._takes_token_types = "token_type_ids" in _forward_args(self._encoder)

        self.max_tokens = int(model.max_seq_length or 512)
        raw = Tokenizer.from_str(fast.to_str())
        self.tokenizer = HFTokenizer(Tokenizer.from_str(raw.to_str()))
        raw.no_padding()
        raw.enable_truncation(self.max_tokens)
        self._ids = raw
        pad = raw.token_to_id("[PAD]")
        self._pad_id = int(pad) if pad is not None else 0

        self.model_id = model_id
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.wave_texts = wave_texts
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.stats = BatchStats()
        self._pin = self.device == "cuda"
        self._tokenizing = ThreadPoolExecutor(1, thread_name_prefix="embed-prepare")
        # Tokenising is what bounds this backend (benchmarks/RESULTS.md): it runs on every
        # core through our own threads, each encoding a slice with the GIL released. The
        # tokenizers' own thread pool is not relied on: ragserve.runtime turns it off
        # (TOKENIZERS_PARALLELISM=false) for the CPU backends, which left one core at work.
        self._cores = os.cpu_count() or 1
        self._slices = ThreadPoolExecutor(self._cores, thread_name_prefix="embed-tokenize")
        # One call at a time owns the device; the MergingEmbedder already serialises, and
        # this keeps direct callers (benchmarks, the CLI) safe too.
        self._lock = threading.Lock()
        self._dimension = int(self._embed(["x"]).shape[1])
        self.stats = BatchStats()
        log.info(
            "embedding with %s on %s in %s, %d tokens a batch",
            model_id,
            _device_name(self.device),
            str(self.dtype).removeprefix("torch."),
            batch_tokens,
        )

    @property
    def dimension(self) -> int:
        return self._dimension

    def close(self) -> None:
        self._tokenizing.shutdown(wait=True)
        self._slices.shutdown(wait=True)

    # -- the pipeline --------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, getattr(self, "_dimension", 1)), dtype=np.float32)
        with self._lock, torch.inference_mode():
            out: list[tuple[list[int], torch.Tensor]] = []
            waves = [
                (start, texts[start : start + self.wave_texts])
                for start in range(0, len(texts), self.wave_texts)
            ]
            pending: Future[list[_Prepared]] | None = None
            for k in range(len(waves)):
                # A single wave (an API request, a question) skips the hop to the thread.
                batches = pending.result() if pending else self._prepare(*waves[k])
                if k + 1 < len(waves):  # tokenise the next wave while this one runs
                    pending = self._tokenizing.submit(self._prepare, *waves[k + 1])
                out.extend((b.rows, self._run(b)) for b in batches)
            if self.device == "cuda":
                torch.cuda.current_stream().synchronize()
            vectors = np.empty((len(texts), out[0][1].shape[1]), dtype=np.float32)
            for rows, pooled in out:
                vectors[rows] = pooled.numpy()
        return normalize(vectors)

    def _prepare(self, offset: int, texts: list[str]) -> list[_Prepared]:
        """Tokenise, sort by length, cut token-budget batches, pad into (pinned) memory."""
        encodings = self._tokenize(texts)
        lengths = [len(e) for e in encodings]
        batches = []
        for batch in plan_batches(lengths, self.batch_tokens, self.max_batch):
            ids, mask = self._pad([encodings[i] for i in batch], max(lengths[i] for i in batch))
            tokens = sum(lengths[i] for i in batch)
            batches.append(_Prepared([offset + i for i in batch], ids, mask, tokens))
        return batches

    def _tokenize(self, texts: list[str]) -> list[Encoding]:
        """``encode_batch`` on slices of at least 32 texts, one slice a core, in parallel."""
        n = min(self._cores, len(texts) // 32)
        if n <= 1:
            return list(self._ids.encode_batch(texts, add_special_tokens=True))
        step = -(-len(texts) // n)
        parts = self._slices.map(
            lambda start: self._ids.encode_batch(
                texts[start : start + step], add_special_tokens=True
            ),
            range(0, len(texts), step),
        )
        return [e for part in parts for e in part]

    def _pad(self, encodings: Sequence[Encoding], width: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=len(encodings))
        for row, e in enumerate(encodings):
            ids[row, : lengths[row]] = e.ids
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
        if self._pin:  # pinned pages let the copy to the GPU run asynchronously
            ids_t, mask_t = ids_t.pin_memory(), mask_t.pin_memory()
        return ids_t, mask_t

    def _run(self, batch: _Prepared) -> torch.Tensor:
        """Queue one batch on the device; returns the pooled rows (in host memory on CUDA,
        valid once the stream is synchronised)."""
        ids = batch.ids.to(self.device, non_blocking=True)
        mask = batch.mask.to(self.device, non_blocking=True)
        inputs: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": mask}
        if self._takes_token_types:
            inputs["token_type_ids"] = torch.zeros_like(ids)
        hidden = self._encoder(**inputs, return_dict=True).last_hidden_state
        features: dict[str, Any] = {"token_embeddings": hidden.float(), "attention_mask": mask}
        for head in self._heads:
            features = head(features)
        pooled: torch.Tensor = features["sentence_embedding"].float()
        self._count(batch, int(ids.shape[0] * ids.shape[1]))
        if self.device != "cuda":
            return pooled
        host = torch.empty(pooled.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(pooled, non_blocking=True)
        return host

    def _count(self, batch: _Prepared, padded: int) -> None:
        s = self.stats
        s.batches += 1
        s.texts += len(batch.rows)
        s.tokens += batch.tokens
        s.padded_tokens += padded
        s.largest_batch_tokens = max(s.largest_batch_tokens, padded)


def _use_sdpa(encoder: torch.nn.Module) -> None:
    """Ask the Hugging Face model for PyTorch's fused attention (flash / memory-efficient)."""
    config = getattr(encoder, "config", None)
    if config is not None and hasattr(config, "_attn_implementation"):
        try:
            encoder.set_attn_implementation("sdpa")  # type: ignore[operator]
        except (AttributeError, ValueError, TypeError):
            config._attn_implementation = "sdpa"


def _forward_args(module: torch.nn.Module) -> set[str]:
    import inspect

    return set(inspect.signature(module.forward).parameters)


def _device_name(device: str) -> str:
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()})"
    return f"cpu ({os.cpu_count()} cores)"
