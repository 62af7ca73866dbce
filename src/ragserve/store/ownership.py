"""One writer per data directory: a running server holds an exclusive lock on it.

The embedded vector store is opened per process, so a CLI ingest next to a running server
would write the same files from two processes. The CLI checks the lock and points at the
API instead.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ragserve.errors import ConfigError

LOCK_NAME = "server.lock"


class DataDirLock:
    """Held by ``ragserve serve`` for its lifetime; released by the OS if it dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"another ragserve server, or a ragserve command writing to it (ingest, "
                f"reindex...), is using {self.path.parent}; stop it or give this server "
                "another RAGSERVE_DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


#: The shared lock the CLI's writing commands hold until the process exits, per data dir.
_HELD: dict[Path, int] = {}


def ensure_no_server(data_dir: Path) -> None:
    """Raise if a server owns ``data_dir`` (CLI commands that write call this); otherwise
    hold a shared lock on it until this process exits, so that no server starts on it while
    this command writes (its start would sweep a half-built re-index, say). A server in
    this same process could not start on it either: one command per process, as the CLI
    runs."""
    path = data_dir / LOCK_NAME
    if path in _HELD:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)  # flock needs no write access
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"a ragserve server is running on {data_dir}; upload through its API "
            "(POST /api/collections/NAME/documents) or stop it first"
        ) from None
    _HELD[path] = fd
