"""Parsing in a child process, so a hostile file costs bounded time and memory.

A :class:`ParseWorker` owns one child process. A file that runs past the timeout, or drives
the child past its memory cap, fails alone: the child is killed and replaced.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import resource
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from ragserve.errors import (
    CorruptFile,
    FileVanished,
    IngestError,
    ParserCrashed,
    ParseTimeout,
    TooLarge,
)
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


def _child(conn: Connection, memory_bytes: int) -> None:
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
        path, data, limits = request
        try:
            result: ParsedDocument | IngestError = parse_bytes(Path(path), data, limits)
        except IngestError as exc:
            result = exc
        except MemoryError:
            result = TooLarge(path, "parsing needed more memory than the per-file limit")
        except OSError as exc:
            result = CorruptFile(path, f"could not be parsed ({exc})")
        except RecursionError:
            result = CorruptFile(path, "structure nested too deeply")
        except Exception as exc:  # a loader bug must not take the worker down
            result = CorruptFile(path, f"could not be parsed ({type(exc).__name__}: {exc})")
        conn.send(result)


class ParseWorker:
    """One parsing child process; not thread-safe, use one per thread."""

    def __init__(self, timeout_s: float, memory_bytes: int = 2 * 2**30) -> None:
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_child, args=(child, self.memory_bytes), daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def parse(self, path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
        conn = self._conn or self._start()
        try:
            conn.send((str(path), data, limits))
            if not conn.poll(self.timeout_s):
                self._kill()
                raise ParseTimeout(
                    path,
                    f"parsing took longer than {self.timeout_s:.0f} s (RAGSERVE_PARSE_TIMEOUT_S)",
                )
            result = conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            self._kill()
            raise ParserCrashed(path, "the parser ran out of its memory limit or crashed") from exc
        if isinstance(result, IngestError):
            raise result
        assert isinstance(result, ParsedDocument)
        return result

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
