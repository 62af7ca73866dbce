"""In-process embeddings on a CUDA GPU: sentence-transformers models in fp16/bf16.

    texts ─▶ tokenising ahead of the GPU: worker processes for big calls (token_ids.py),
             a thread for small ones; ids come back as flat int32 arrays
          ─▶ caller's thread: sort by length, cut token-budget batches, pad with numpy into
             pinned host memory, async copy to the GPU, forward (PyTorch SDPA attention),
             pooling in fp32 on the GPU, async copy of the pooled rows back
          ─▶ one synchronisation per call, rows back in input order

The GPU never waits on Python between batches of one call: kernels are queued ahead while
the next wave is tokenised. ``encode()`` in sentence-transformers, by contrast, synchronises
after every batch and pads to a fixed count, which is why it leaves most of an H100 idle.

The same class runs unchanged on a machine without CUDA (device ``cpu``, fp32): that is how
the CPU-only tests exercise every line but the copies' pinning, and how the GPU's output is
checked against the CPU path on the lent machine.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from tokenizers import Tokenizer

from ragserve.embed.base import HFTokenizer, Ints, PrefixedEmbedder, Vectors, normalize
from ragserve.embed.batch_planning import plan_batches
from ragserve.embed.token_ids import (
    SLICE_TEXTS,
    AsciiFastPath,
    SpecialTokens,
    TokenIds,
    TokenizerPool,
    pad_rows,
)
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
#: With tokenising in worker processes: texts in one wave of batches (~400k tokens, a few
#: forward passes), and the least a call must have to be worth the hop to the processes.
POOL_WAVE_TEXTS = 2048
#: Pinned buffers the batches are copied to the GPU from, used in turn (_PinnedStaging).
STAGING_SLOTS = 16
#: Merged calls launched and not yet collected at most (the batcher's pipeline): each holds
#: a pinned buffer its pooled rows are copied back into.
OUTPUT_SLOTS = 4
POOL_MIN_TEXTS = 256
#: Fewest texts a tokenising thread takes of a call (smaller calls stay whole).
THREAD_SLICE_TEXTS = 32


def default_tokenize_processes(device: str, cores: int) -> int:
    """Worker processes for tokenising: on a GPU every core but the one that feeds it; on
    the CPU none (the model, not the tokenizer, is what takes the cores there)."""
    return max(cores - 1, 1) if device == "cuda" and cores > 2 else 0


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
    ids: npt.NDArray[np.int32]  # batch × longest, padded
    lengths: npt.NDArray[np.int32]  # tokens of each row after truncation
    tokens: int


class _PinnedStaging:
    """A few pinned host buffers, reused in turn, that batches are copied to the GPU from.

    Pinning fresh memory for every batch (``Tensor.pin_memory()``) cost ~3 ms a batch on the
    H200, a quarter of the feeding thread's time; pageable memory would make every copy
    wait for the GPU. A slot is written again only once the copy out of it has finished.
    """

    def __init__(self, slots: int, capacity: int) -> None:
        self._buffers = [
            torch.empty(capacity, dtype=torch.int32).pin_memory() for _ in range(slots)
        ]
        self._copied: list[torch.cuda.Event | None] = [None] * slots
        self._next = 0

    def to_device(self, arrays: Sequence[npt.NDArray[np.int32]]) -> list[torch.Tensor]:
        k = self._next
        self._next = (k + 1) % len(self._buffers)
        copied = self._copied[k]
        if copied is not None:
            copied.synchronize()  # that copy left long ago: this almost never waits
        total = sum(a.size for a in arrays)
        if total > self._buffers[k].numel():
            self._buffers[k] = torch.empty(total, dtype=torch.int32).pin_memory()
        host = self._buffers[k].numpy()
        position = 0
        for a in arrays:
            host[position : position + a.size] = a.ravel()
            position += a.size
        on_device = self._buffers[k][:total].to("cuda", non_blocking=True)
        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record()
        self._copied[k] = event
        out, position = [], 0
        for a in arrays:
            out.append(on_device[position : position + a.size].view(a.shape))
            position += a.size
        return out


class _PinnedOutputs:
    """Pinned host buffers that launched calls copy their pooled rows back into.

    The copy back is asynchronous only into pinned memory; a plain ``.cpu()`` would wait
    for everything queued on the device, including calls launched after this one. Taking a
    buffer blocks while every one is in use, which bounds the calls in flight.
    """

    def __init__(self, slots: int) -> None:
        self._buffers: list[torch.Tensor | None] = [None] * slots
        self._free: queue.Queue[int] = queue.Queue()
        for k in range(slots):
            self._free.put(k)

    def take(self, rows: int, width: int) -> tuple[int, torch.Tensor]:
        k = self._free.get()
        buffer = self._buffers[k]
        if buffer is None or buffer.numel() < rows * width:
            buffer = torch.empty(max(rows, 1024) * width, dtype=torch.float32).pin_memory()
            self._buffers[k] = buffer
        return k, buffer[: rows * width].view(rows, width)

    def give_back(self, k: int) -> None:
        self._free.put(k)


@dataclass
class Launched:
    """A merged call queued on the device: where its rows go, and where they will arrive."""

    rows: npt.NDArray[np.int64]
    pooled: torch.Tensor  # pinned host rows once ``copied`` has fired (on the CPU: the rows)
    copied: torch.cuda.Event | None
    slot: int | None
    full: Ints


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
        tokenize_processes: int | None = None,
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
        # Truncation happens in pad_rows (token_ids.py), so the full lengths stay known.
        raw.no_padding()
        raw.no_truncation()
        self._ids = raw
        self._fast_ids = AsciiFastPath(raw)
        self._specials = SpecialTokens.of(raw)
        pad = raw.token_to_id("[PAD]")
        self._pad_id = int(pad) if pad is not None else 0

        self.model_id = model_id
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.wave_texts = wave_texts
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.stats = BatchStats()
        self._staging = (
            _PinnedStaging(STAGING_SLOTS, max(batch_tokens, self.max_tokens) + max_batch)
            if self.device == "cuda"
            else None
        )
        self._outputs = _PinnedOutputs(OUTPUT_SLOTS) if self.device == "cuda" else None
        self._tokenizing = ThreadPoolExecutor(1, thread_name_prefix="embed-prepare")
        # Tokenising is what bounds this backend (benchmarks/RESULTS.md): it runs on every
        # core through our own threads, each encoding a slice with the GIL released. The
        # tokenizers' own thread pool is not relied on: ragserve.runtime turns it off
        # (TOKENIZERS_PARALLELISM=false) for the CPU backends, which left one core at work.
        self._cores = os.cpu_count() or 1
        self._slices = ThreadPoolExecutor(self._cores, thread_name_prefix="embed-tokenize")
        # Threads share one GIL for handing ids to Python; on a GPU that caps tokenising
        # below the forward pass, so big calls go to worker processes (token_ids.py).
        processes = default_tokenize_processes(self.device, self._cores)
        if tokenize_processes is not None:
            processes = tokenize_processes
        self._pool = TokenizerPool(raw, processes) if processes > 0 else None
        self.pool_wave_texts = POOL_WAVE_TEXTS
        self.pool_min_texts = POOL_MIN_TEXTS
        # One call at a time owns the device; the MergingEmbedder already serialises, and
        # this keeps direct callers (benchmarks, the CLI) safe too.
        self._lock = threading.Lock()
        if self.device == "cuda":
            _avoid_cudnn_attention()
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
        if self._pool is not None:
            self._pool.close()

    # -- the pipeline --------------------------------------------------------------------------
    def embed_counted(self, kind: str, texts: Sequence[str]) -> tuple[Vectors, Ints]:
        """Vectors and each text's token count (special tokens excluded, before truncation),
        from the one tokenisation the model needs, so callers need not tokenise again."""
        prefix = self.query_prefix if kind == "query" else self.passage_prefix
        vectors, full = self._embed_with_lengths([prefix + t for t in texts])
        return vectors, np.maximum(full - self._specials.total, 0)

    def _embed(self, texts: list[str]) -> Vectors:
        return self._embed_with_lengths(texts)[0]

    def _embed_with_lengths(self, texts: list[str]) -> tuple[Vectors, Ints]:
        if not texts:
            empty = np.zeros((0, getattr(self, "_dimension", 1)), dtype=np.float32)
            return empty, np.zeros(0, dtype=np.int32)
        with self._lock, torch.inference_mode():
            rows: list[int] = []
            pooled: list[torch.Tensor] = []
            lengths: list[Ints] = []
            for offset, ids in self._waves(texts):
                lengths.append(ids.full)
                for batch in self._batches(offset, ids):
                    rows.extend(batch.rows)
                    pooled.append(self._run(batch))
            # The pooled rows stay on the device until the end: one copy back, one wait.
            vectors = np.empty((len(texts), pooled[0].shape[1]), dtype=np.float32)
            vectors[rows] = torch.cat(pooled).cpu().numpy()
        return normalize(vectors), np.concatenate(lengths)

    # -- the pipelined path: the batcher overlaps these stages (base.PipelinedBackend) -------
    def tokenize_async(
        self, kind: str, texts: Sequence[str], done: Callable[[TokenIds | BaseException], None]
    ) -> None:
        prefix = self.query_prefix if kind == "query" else self.passage_prefix
        prefixed = [prefix + t for t in texts]
        if self._pool is None:
            # Small calls (API requests) each take a thread of their own, so concurrent
            # requests tokenise side by side where the Rust tokenizer runs (it releases the
            # GIL; remembered words hold it, at a quarter of the cost); a big call goes to
            # the one preparing thread, which spreads it over those threads itself.
            small = len(prefixed) < 2 * THREAD_SLICE_TEXTS
            runner = self._slices if small else self._tokenizing
            work = self._fast_ids.encode if small else self._tokenize
            future = runner.submit(work, prefixed)
            future.add_done_callback(lambda f: done(f.exception() or f.result()))
            return
        self._pool.encode_async(prefixed, done)

    def join_ids(self, parts: Sequence[TokenIds]) -> TokenIds:
        return TokenIds.join(parts)

    def launch(self, ids: TokenIds) -> Launched:
        with self._lock, torch.inference_mode():
            rows: list[int] = []
            pooled: list[torch.Tensor] = []
            for batch in self._batches(0, ids):
                rows.extend(batch.rows)
                pooled.append(self._run(batch))
            on_device = torch.cat(pooled)
            if self._outputs is None:
                return Launched(np.asarray(rows), on_device, None, None, ids.full)
            slot, host = self._outputs.take(*on_device.shape)
            host.copy_(on_device, non_blocking=True)
            copied = torch.cuda.Event()  # type: ignore[no-untyped-call]
            copied.record()
        return Launched(np.asarray(rows), host, copied, slot, ids.full)

    def collect(self, launched: Launched) -> tuple[Vectors, Ints]:
        try:
            if launched.copied is not None:
                launched.copied.synchronize()
            vectors = np.empty((len(launched.rows), self._dimension), dtype=np.float32)
            vectors[launched.rows] = launched.pooled.numpy()
        finally:
            if launched.slot is not None and self._outputs is not None:
                self._outputs.give_back(launched.slot)
        return normalize(vectors), np.maximum(launched.full - self._specials.total, 0)

    def _waves(self, texts: list[str]) -> Iterator[tuple[int, TokenIds]]:
        """(offset, token ids) of consecutive waves of texts, tokenised ahead of the GPU.

        With worker processes, every slice is handed out at once (up to two per process in
        flight) and waves are cut from what comes back in order; otherwise one thread
        tokenises the next wave while the caller's thread queues this one's batches.
        """
        if self._pool is not None and len(texts) >= self.pool_min_texts:
            yield from self._pooled_waves(texts)
            return
        starts = range(0, len(texts), self.wave_texts)
        pending: Future[TokenIds] | None = None
        for k, start in enumerate(starts):
            wave = texts[start : start + self.wave_texts]
            # A single wave (an API request, a question) skips the hop to the thread.
            ids = pending.result() if pending else self._tokenize(wave)
            if k + 1 < len(starts):
                nxt = texts[starts[k + 1] : starts[k + 1] + self.wave_texts]
                pending = self._tokenizing.submit(self._tokenize, nxt)
            yield start, ids

    def _pooled_waves(self, texts: list[str]) -> Iterator[tuple[int, TokenIds]]:
        assert self._pool is not None
        slices = [
            (start, texts[start : start + SLICE_TEXTS])
            for start in range(0, len(texts), SLICE_TEXTS)
        ]
        window = 2 * self._pool.processes
        futures = deque(self._pool.submit(part) for _, part in slices[:window])
        queued = len(futures)
        wave: list[TokenIds] = []
        wave_start = wave_texts = 0
        for _start, part in slices:
            wave.append(futures.popleft().get())
            if queued < len(slices):
                futures.append(self._pool.submit(slices[queued][1]))
                queued += 1
            wave_texts += len(part)
            if wave_texts >= self.pool_wave_texts:
                yield wave_start, TokenIds.join(wave)
                wave, wave_start, wave_texts = [], wave_start + wave_texts, 0
        if wave:
            yield wave_start, TokenIds.join(wave)

    def _tokenize(self, texts: list[str]) -> TokenIds:
        """``encode_batch_fast`` on slices of at least 32 texts, one slice a core, in threads."""
        n = min(self._cores, len(texts) // THREAD_SLICE_TEXTS)
        if n <= 1:
            return self._fast_ids.encode(texts)
        step = -(-len(texts) // n)
        # Remembered words hold the GIL, so these slices mostly take turns: 2.8 M tok/s on
        # the lent machine's 16 cores, against 3.7 M on one thread and 4.2 M for the Rust
        # tokenizer on every core — too close to keep two paths; worker processes (the
        # default on a GPU) reach 27 M (benchmarks/RESULTS.md, fifth pass).
        parts = self._slices.map(
            lambda start: self._fast_ids.encode(texts[start : start + step]),
            range(0, len(texts), step),
        )
        return TokenIds.join(list(parts))

    def _batches(self, offset: int, ids: TokenIds) -> list[_Prepared]:
        """Sort by length, cut token-budget batches, pad each (numpy, no Python loops)."""
        kept = np.minimum(ids.full, self.max_tokens)
        batches = []
        for batch in plan_batches(kept.tolist(), self.batch_tokens, self.max_batch):
            matrix, lengths = pad_rows(
                ids,
                batch,
                max_tokens=self.max_tokens,
                closing=self._specials.after,
                pad_id=self._pad_id,
            )
            tokens = int(lengths.sum())
            batches.append(_Prepared([offset + i for i in batch], matrix, lengths, tokens))
        return batches

    def _run(self, batch: _Prepared) -> torch.Tensor:
        """Queue one batch on the device; returns its pooled rows, still on the device.

        Nothing here waits for the GPU: the mask is built there from the lengths, and the
        encoder gets it already 4-D — given a 2-D mask, transformers asks whether it has
        any padding (``mask.all()``), which waits for every batch queued before it.
        """
        if self._staging is not None:
            ids, lengths = self._staging.to_device([batch.ids, batch.lengths])
        else:
            ids, lengths = torch.from_numpy(batch.ids), torch.from_numpy(batch.lengths)
        width = ids.shape[1]
        mask = torch.arange(width, device=ids.device)[None, :] < lengths[:, None]
        inputs: dict[str, torch.Tensor] = {
            "input_ids": ids,
            "attention_mask": mask[:, None, None, :],  # True: attend
        }
        if self._takes_token_types:
            inputs["token_type_ids"] = torch.zeros_like(ids)
        hidden = self._encoder(**inputs, return_dict=True).last_hidden_state
        features: dict[str, Any] = {
            "token_embeddings": hidden.float(),
            "attention_mask": mask.long(),
        }
        for head in self._heads:
            features = head(features)
        pooled: torch.Tensor = features["sentence_embedding"].float()
        self._count(batch, int(ids.shape[0] * width))
        return pooled

    def _count(self, batch: _Prepared, padded: int) -> None:
        s = self.stats
        s.batches += 1
        s.texts += len(batch.rows)
        s.tokens += batch.tokens
        s.padded_tokens += padded
        s.largest_batch_tokens = max(s.largest_batch_tokens, padded)


def _avoid_cudnn_attention() -> None:
    """Keep PyTorch's attention off its cuDNN backend (process-wide; this is the process's
    model). On Hopper GPUs PyTorch prefers cuDNN, which builds a plan for every new
    (batch, length) shape: merged requests make nearly every batch a new shape, and the
    thread feeding the GPU spent most of its time building plans while the GPU sat idle
    (py-spy on the lent H200, benchmarks/RESULTS.md). The memory-efficient kernel takes the
    padding mask with no per-shape cost."""
    torch.backends.cuda.enable_cudnn_sdp(False)


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
