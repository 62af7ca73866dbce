"""Parsing (and chunking) in a child process, so a hostile file costs bounded time and memory.

A :class:`ParseWorker` owns one child process. A file that runs past the timeout, or drives
the child past its memory cap, fails alone: the child is killed and replaced.

Given a :class:`ChunkPlan`, the child also cuts the document into chunks and streams them
back a window at a time (``parse_chunked``): chunking is Python work, and done in the
ingesting process it took turns for that process's one GIL with the thread feeding the
embedder (benchmarks/RESULTS.md, "Ingestion on the GPU machine"). The pipe's own buffer
bounds what is in flight, so memory stays flat however long the document.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import resource
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TypeVar

from ragserve.embed.base import TextTokenizer
from ragserve.embed.sparse import SparseVector, passage_vector
from ragserve.errors import (
    CorruptFile,
    FileVanished,
    IngestError,
    ParserCrashed,
    ParseTimeout,
    TooLarge,
)
from ragserve.ingest.chunking import Chunk, count_tokens, iter_chunks
from ragserve.ingest.document import ParsedDocument
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import parse_bytes
from ragserve.plugins import load_plugins


def read_file(path: Path, max_bytes: int) -> bytes:
    """Read a whole file within the size limit; the errors name the file."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TooLarge(
                path,
                f"{size / 2**20:.1f} MiB is over the {max_bytes / 2**20:.0f} MiB limit "
                "(RAGSERVE_MAX_FILE_MB)",
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise FileVanished(path, "file disappeared before it could be read") from exc
    except IsADirectoryError as exc:
        raise CorruptFile(path, "is a directory") from exc
    except PermissionError as exc:
        raise FileVanished(path, "permission denied") from exc
    if len(data) > max_bytes:
        raise TooLarge(path, "file grew past the size limit while being read")
    return data


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


@dataclass(frozen=True)
class ChunkPlan:
    """How the child cuts documents: the embedding model's tokenizer (picklable), chunk
    size and overlap in tokens, the token limit of one document, chunks per window."""

    tokenizer: TextTokenizer
    size: int
    overlap: int
    max_document_tokens: int
    window: int


@dataclass(frozen=True, slots=True)
class ChunkWindow:
    """Consecutive chunks of one document, with their keyword (BM25) vectors when the
    collection has a keyword side and the child cut them (else None: the writer cuts them)."""

    chunks: list[Chunk]
    sparse: Sequence[SparseVector] | None = None


@dataclass(frozen=True, slots=True)
class ParsedHeader:
    """What the ingesting process keeps of a document parsed and chunked in the child."""

    title: str | None
    kind: str
    pages: int | None
    truncated: bool
    text_chars: int


def check_tokens(path: Path, document: ParsedDocument, plan: ChunkPlan) -> None:
    """Refuse a document past the token limit before any of it is chunked or embedded."""
    limit = plan.max_document_tokens
    # Every token covers at least one character: a text no longer than the limit is within
    # it, and only longer ones need counting (which stops just past the limit).
    if len(document.text) > limit and (
        count_tokens(document, plan.tokenizer, stop_above=limit) > limit
    ):
        raise TooLarge(
            path,
            f"more than {limit:,} tokens, the limit for one document "
            "(RAGSERVE_INGEST_MAX_DOCUMENT_TOKENS); split it or raise the limit",
        )


def header_of(document: ParsedDocument) -> ParsedHeader:
    return ParsedHeader(
        document.title, document.kind, document.pages, document.truncated, len(document.text)
    )


def chunk_windows(
    document: ParsedDocument, plan: ChunkPlan, sparse: bool = False
) -> Generator[ChunkWindow, None, None]:
    """The document's chunks, cut lazily, ``plan.window`` at a time; with ``sparse``, each
    window carries its chunks' keyword vectors too."""
    chunks = iter_chunks(document, plan.tokenizer, plan.size, plan.overlap)
    while window := list(itertools.islice(chunks, plan.window)):
        vectors = [passage_vector(c.embedding_text()) for c in window] if sparse else None
        yield ChunkWindow(window, vectors)


def _parse(path: str, data: bytes, limits: ParseLimits) -> ParsedDocument | IngestError:
    try:
        return parse_bytes(Path(path), data, limits)
    except IngestError as exc:
        return exc
    except MemoryError:
        return TooLarge(path, "parsing needed more memory than the per-file limit")
    except OSError as exc:
        return CorruptFile(path, f"could not be parsed ({exc})")
    except RecursionError:
        return CorruptFile(path, "structure nested too deeply")
    except Exception as exc:  # a loader bug must not take the worker down
        return CorruptFile(path, f"could not be parsed ({type(exc).__name__}: {exc})")


def _send_chunks(
    conn: Connection, path: str, doc: ParsedDocument, plan: ChunkPlan, sparse: bool
) -> None:
    """Header, then windows of chunks, then ``None``; or an error in place of any of them."""
    try:
        check_tokens(Path(path), doc, plan)
        conn.send(header_of(doc))
        for window in chunk_windows(doc, plan, sparse):
            conn.send(window)
    except IngestError as exc:
        conn.send(exc)
        return
    except MemoryError:
        conn.send(TooLarge(path, "chunking needed more memory than the per-file limit"))
        return
    except Exception as exc:  # a chunking bug fails this document, not the worker
        conn.send(CorruptFile(path, f"could not be chunked ({type(exc).__name__}: {exc})"))
        return
    conn.send(None)


def _child(conn: Connection, memory_bytes: int, plan: ChunkPlan | None = None) -> None:
    # A spawned child starts empty: load the plugins here so it reads what the parent reads,
    # and before the cap, which is for parsing one file, not for the libraries. The parent
    # has already reported a broken plugin; the child's unconfigured logging would repeat it.
    logging.getLogger(load_plugins.__module__).setLevel(logging.ERROR)
    load_plugins()
    limit = _address_space() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        path, data, limits, chunked, sparse = request
        del request  # else the file's bytes stay alive through the chunking below
        result = _parse(path, data, limits)
        del data
        if chunked and plan is not None and isinstance(result, ParsedDocument):
            _send_chunks(conn, path, result, plan, sparse)
        else:
            conn.send(result)
        del result


_T = TypeVar("_T")


class ParseWorker:
    """One parsing child process; not thread-safe, use one per thread."""

    def __init__(
        self, timeout_s: float, memory_bytes: int = 2 * 2**30, plan: ChunkPlan | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        #: Set: ``parse_chunked`` works (the child loads the tokenizer once, at its start).
        self.plan = plan
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_child, args=(child, self.memory_bytes, self.plan), daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def parse(self, path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
        conn = self._conn or self._start()
        self._send(conn, path, (str(path), data, limits, False, False))
        result = self._receive(conn, path)
        if isinstance(result, IngestError):
            raise result
        return self._expect(result, ParsedDocument, path)

    def parse_chunked(
        self, path: Path, data: bytes, limits: ParseLimits, sparse: bool = False
    ) -> tuple[ParsedHeader, ChunkStream]:
        """Parse and chunk in the child (a ``plan`` is required): the document's header,
        and its chunks a window at a time as the child cuts them. Errors before the header
        raise here; later ones (a crash, a stall) raise from the stream. Each message gets
        ``timeout_s``: the parse before the header, then each window's chunking (bounded by
        the document token limit). Close the stream before its end and the child goes with
        it, since the child is still sending. ``sparse``: cut keyword vectors there too."""
        assert self.plan is not None, "parse_chunked needs a ChunkPlan"
        conn = self._conn or self._start()
        self._send(conn, path, (str(path), data, limits, True, sparse))
        header = self._receive(conn, path)
        if isinstance(header, IngestError):
            raise header
        return self._expect(header, ParsedHeader, path), ChunkStream(self, conn, path)

    def _expect(self, message: object, kind: type[_T], path: Path) -> _T:
        """The message, if of the kind the protocol expects here; else the child is out of
        step with this side, and is replaced."""
        if isinstance(message, kind):
            return message
        self._kill()
        raise ParserCrashed(path, f"the parser sent {type(message).__name__}, not {kind.__name__}")

    def _send(self, conn: Connection, path: Path, request: object) -> None:
        try:
            conn.send(request)
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._kill()
            raise ParserCrashed(path, "the parser ran out of its memory limit or crashed") from exc

    def _receive(self, conn: Connection, path: Path, doing: str = "parsing") -> object:
        try:
            if not conn.poll(self.timeout_s):
                self._kill()
                raise ParseTimeout(
                    path,
                    f"{doing} took longer than {self.timeout_s:.0f} s (RAGSERVE_PARSE_TIMEOUT_S)",
                )
            return conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            self._kill()
            raise ParserCrashed(path, "the parser ran out of its memory limit or crashed") from exc

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(None)
        if self._process is not None:
            self._process.join(2)
        self._kill()


class ChunkStream:
    """One document's chunk windows as its child sends them; ``close`` before the end stops
    the child (it is still sending), whether or not the stream was started."""

    def __init__(self, worker: ParseWorker, conn: Connection, path: Path) -> None:
        self._worker = worker
        self._conn = conn
        self._path = path
        self._finished = False

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> ChunkWindow:
        if self._finished:
            raise StopIteration
        try:
            window = self._worker._receive(self._conn, self._path, "chunking one window")
        except IngestError:
            self._finished = True  # the child was killed on the way
            raise
        if window is None:
            self._finished = True
            raise StopIteration
        if isinstance(window, IngestError):
            self._finished = True  # the child reported it and waits for the next file
            raise window
        try:
            return self._worker._expect(window, ChunkWindow, self._path)
        except IngestError:
            self._finished = True
            raise

    def close(self) -> None:
        if not self._finished:
            self._finished = True
            self._worker._kill()
