"""Dynamic batching in front of one embedding model, shared by everything in a process.

    /v1/embeddings ─┐
    query embedding ─┼─▶ priority queue ─▶ one model thread: merge, sort by length, embed
    ingestion ──────┘

Concurrent small requests (64 clients sending one text each) are merged into one batch after
waiting at most ``delay`` for company, as TEI and Infinity do; questions and API requests go
before ingestion batches so a long ingest does not stall answers. One thread owns the model,
so in-process backends never oversubscribe the CPU.

A backend that splits into stages (``base.PipelinedBackend``: the CUDA embedder) is run as a
pipeline instead:

    request ─▶ tokenised on arrival (worker processes) ─▶ priority queue
            ─▶ batcher thread: merge, launch on the device ─▶ finisher thread: wait, hand out

so tokenising never sits on the thread that feeds the device, and the next merged call is
launched while the previous one still runs (at most ``PIPELINE_DEPTH`` in flight; while
they are, requests gather into a bigger next merge).
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ragserve.embed.base import (
    CountingBackend,
    EmbeddingBackend,
    Ints,
    PipelinedBackend,
    TextTokenizer,
    Vectors,
)
from ragserve.observability import metrics

Kind = Literal["query", "passage"]

#: Lower runs first: questions and API calls, then answer attribution, then ingestion.
INTERACTIVE, BACKGROUND, BULK = 0, 1, 2
_PRIORITY_NAMES = {INTERACTIVE: "interactive", BACKGROUND: "background", BULK: "bulk"}
#: Merged calls launched on a pipelined backend and not yet handed out: two keep the device
#: busy (one running, one queued behind it) without making early requests wait longer.
PIPELINE_DEPTH = 2
#: Pieces of one bulk call submitted ahead: enough to keep a pipeline fed, few enough that
#: a question's tokenising does not queue behind a whole ingest batch's.
BULK_AHEAD = 2


def estimated_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token) for cutting work into pieces."""
    return len(text) // 4 + 2


@dataclass(order=True)
class _Request:
    priority: int
    seq: int
    kind: Kind = field(compare=False)
    texts: list[str] = field(compare=False)
    future: Future[Vectors] = field(compare=False)
    queued_at: float = field(compare=False, default_factory=time.perf_counter)
    #: Each text's token count, when the backend reports it (set before the future is).
    tokens: int | None = field(compare=False, default=None)
    #: Token ids, for a pipelined backend (tokenised before the request is queued).
    ids: Any = field(compare=False, default=None)


_STOP_PRIORITY = 99


class MergingEmbedder:
    """An ``EmbeddingBackend`` that funnels every call through one batching thread."""

    def __init__(
        self,
        inner: EmbeddingBackend,
        *,
        max_batch: int,
        delay_s: float,
        piece_tokens: int = 512,
    ) -> None:
        """``piece_tokens``: lower-priority work runs in pieces of about this many tokens
        (about one forward pass), so a question waits at most one piece."""
        self.inner = inner
        self.piece_tokens = piece_tokens
        self.model_id = inner.model_id
        self.max_tokens = inner.max_tokens
        self.max_batch = max_batch
        self.delay_s = delay_s
        #: The backend counts tokens while it embeds (checked once: a runtime protocol).
        self.counts_tokens = isinstance(inner, CountingBackend)
        self._pipelined = inner if isinstance(inner, PipelinedBackend) else None
        self._queue: queue.PriorityQueue[_Request] = queue.PriorityQueue()
        self._seq = itertools.count()
        self.texts_embedded = 0
        self._in_flight = threading.Semaphore(PIPELINE_DEPTH)
        self._finishing: queue.Queue[tuple[Kind, list[_Request], Any, float] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
        self._thread.start()
        self._finisher: threading.Thread | None = None
        if self._pipelined is not None:
            self._finisher = threading.Thread(
                target=self._finish_loop, name="embed-finisher", daemon=True
            )
            self._finisher.start()

    @property
    def tokenizer(self) -> TextTokenizer:
        return self.inner.tokenizer

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def submit(self, kind: Kind, texts: Sequence[str], priority: int) -> Future[Vectors]:
        return self._submit(kind, texts, priority).future

    def _submit(self, kind: Kind, texts: Sequence[str], priority: int) -> _Request:
        request = _Request(priority, next(self._seq), kind, list(texts), Future())
        if not texts:
            request.tokens = 0
            request.future.set_result(np.zeros((0, self.dimension), dtype=np.float32))
        elif self._pipelined is not None:
            self._pipelined.tokenize_async(
                kind, request.texts, lambda ids: self._tokenized(request, ids)
            )
        else:
            self._queue.put(request)
        return request

    def _tokenized(self, request: _Request, ids: Any) -> None:
        """Runs on the tokenising side's thread: a tokenised request joins the queue."""
        if isinstance(ids, BaseException):
            if request.future.set_running_or_notify_cancel():
                request.future.set_exception(ids)
            return
        request.ids = ids
        now = time.perf_counter()
        metrics.EMBED_TOKENIZE_TIME.observe(now - request.queued_at)
        request.queued_at = now  # the queue time that follows is the wait for the device
        self._queue.put(request)

    def _pieces(self, texts: Sequence[str]) -> list[Sequence[str]]:
        pieces: list[Sequence[str]] = []
        start, tokens = 0, 0
        for i, text in enumerate(texts):
            cost = estimated_tokens(text)
            if i > start and tokens + cost > self.piece_tokens:
                pieces.append(texts[start:i])
                start, tokens = i, 0
            tokens += cost
        if start < len(texts):
            pieces.append(texts[start:])
        return pieces

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        # Bulk work goes in pieces so questions can slip in between them; a few pieces are
        # submitted ahead so a pipelined backend tokenises the next while one runs.
        pending: deque[Future[Vectors]] = deque()
        parts = []
        for piece in self._pieces(texts):
            pending.append(self.submit("passage", piece, BULK))
            if len(pending) > BULK_AHEAD:
                parts.append(pending.popleft().result())
        parts.extend(f.result() for f in pending)
        return np.concatenate(parts) if parts else self.submit("passage", [], BULK).result()

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.submit("query", texts, INTERACTIVE).result()

    async def aembed(
        self, kind: Kind, texts: Sequence[str], priority: int = INTERACTIVE
    ) -> Vectors:
        """Embed from the event loop without blocking it."""
        if priority == INTERACTIVE or not texts:
            return await asyncio.wrap_future(self.submit(kind, texts, priority))
        pending: deque[Future[Vectors]] = deque()
        parts = []
        for piece in self._pieces(texts):
            pending.append(self.submit(kind, piece, priority))
            if len(pending) > BULK_AHEAD:
                parts.append(await asyncio.wrap_future(pending.popleft()))
        parts.extend([await asyncio.wrap_future(f) for f in pending])
        return np.concatenate(parts)

    async def aembed_counted(self, kind: Kind, texts: Sequence[str]) -> tuple[Vectors, int | None]:
        """Vectors and the texts' token count (None when the backend does not count)."""
        request = self._submit(kind, texts, INTERACTIVE)
        vectors = await asyncio.wrap_future(request.future)
        return vectors, request.tokens

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Stop the batching thread; the inner backend stays open (its owner closes it)."""
        if self._thread.is_alive():
            self._queue.put(_Request(_STOP_PRIORITY, next(self._seq), "query", [], Future()))
            self._thread.join(timeout=30)
        if self._finisher is not None and self._finisher.is_alive():
            self._finishing.put(None)
            self._finisher.join(timeout=30)

    def _run(self) -> None:
        while True:
            if self._pipelined is not None:
                # Wait for room in the pipeline first: requests meanwhile gather into a
                # bigger merge instead of many small calls queued on the device.
                self._in_flight.acquire()
            first = self._queue.get()
            if first.priority == _STOP_PRIORITY:
                return
            batch = [first]
            size = len(first.texts)
            tokens = sum(estimated_tokens(t) for t in first.texts)
            urgent = first.priority == INTERACTIVE
            deadline = time.monotonic() + self.delay_s
            # Wait briefly for more requests of the same kind to share this batch.
            while size < self.max_batch and (urgent or tokens < self.piece_tokens):
                timeout = deadline - time.monotonic()
                try:
                    nxt = (
                        self._queue.get(timeout=timeout)
                        if timeout > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                cost = sum(estimated_tokens(t) for t in nxt.texts)
                if (
                    nxt.kind != first.kind
                    or nxt.priority != first.priority
                    or (not urgent and tokens + cost > self.piece_tokens)  # pieces stay pieces
                ):
                    self._queue.put(nxt)  # it keeps its place: (priority, sequence)
                    break
                batch.append(nxt)
                size += len(nxt.texts)
                tokens += cost
            if self._pipelined is not None:
                self._launch(first.kind, batch)
            else:
                self._embed(first.kind, batch)

    def _start(self, kind: Kind, batch: list[_Request]) -> tuple[list[_Request], float]:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        started = time.perf_counter()
        for r in live:
            priority = _PRIORITY_NAMES.get(r.priority, "bulk")
            metrics.EMBED_QUEUE_TIME.labels(priority).observe(started - r.queued_at)
        if live:
            metrics.EMBED_BATCH_SIZE.labels(kind).observe(sum(len(r.texts) for r in live))
        return live, started

    def _launch(self, kind: Kind, batch: list[_Request]) -> None:
        assert self._pipelined is not None
        live, started = self._start(kind, batch)
        try:
            if not live:
                self._in_flight.release()
                return
            launched = self._pipelined.launch(self._pipelined.join_ids([r.ids for r in live]))
        except BaseException as exc:
            self._in_flight.release()
            for r in live:
                r.future.set_exception(exc)
            return
        self._finishing.put((kind, live, launched, started))

    def _finish_loop(self) -> None:
        assert self._pipelined is not None
        while (item := self._finishing.get()) is not None:
            kind, live, launched, started = item
            try:
                vectors, counts = self._pipelined.collect(launched)
            except BaseException as exc:
                for r in live:
                    r.future.set_exception(exc)
                continue
            finally:
                self._in_flight.release()
            self._hand_out(kind, live, vectors, counts, started)

    def _hand_out(
        self,
        kind: Kind,
        live: list[_Request],
        vectors: Vectors,
        counts: Ints | None,
        started: float,
    ) -> None:
        metrics.EMBED_BATCH_LATENCY.labels(kind).observe(time.perf_counter() - started)
        self.texts_embedded += len(vectors)
        offset = 0
        for r in live:
            if counts is not None:
                r.tokens = int(counts[offset : offset + len(r.texts)].sum())
            r.future.set_result(vectors[offset : offset + len(r.texts)])
            offset += len(r.texts)

    def _embed(self, kind: Kind, batch: list[_Request]) -> None:
        live, started = self._start(kind, batch)
        if not live:
            return
        texts = [t for r in live for t in r.texts]
        counts: Ints | None = None
        try:
            if isinstance(self.inner, CountingBackend):  # the same check; narrows the type
                vectors, counts = self.inner.embed_counted(kind, texts)
            elif kind == "query":
                vectors = self.inner.embed_queries(texts)
            else:
                vectors = self.inner.embed_passages(texts)
        except BaseException as exc:  # every waiting caller gets the error
            for r in live:
                r.future.set_exception(exc)
            return
        self._hand_out(kind, live, vectors, counts, started)
