"""Real Redis and PostgreSQL servers for the scale-out tests, from Debian's packages.

`make test` installs ``redis-server`` and ``postgresql`` (the ``services`` target). Both run
on loopback ports chosen here, in throw-away directories. PostgreSQL refuses to run as root
(initdb and pg_ctl check), so as root it runs as ``nobody`` through ``setpriv``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


class RedisServer:
    """``redis-server`` on a loopback port; ``restart()`` without persistence loses all."""

    def __init__(self, binary: str | None = None) -> None:
        binary = binary or shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: `make services` installs it")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ragserve-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # No RDB snapshots and no AOF: a restart comes back empty, like a cache-only Redis.
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port, 10, "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A PostgreSQL cluster of its own (initdb) on a loopback port, trust auth on loopback."""

    def __init__(self) -> None:
        if not PG_BIN_DIRS:
            raise RuntimeError("PostgreSQL is missing: `make services` installs it")
        self.bin = PG_BIN_DIRS[0]
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ragserve-pg-"))
        self.data = self.root / "data"
        self.root.chmod(0o777)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            shutil.chown(self.root, "nobody", "nogroup")
        self._run(["initdb", "-D", str(self.data), "-U", "ragserve", "--auth=trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"])  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://ragserve@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        command = [*self._as_user, str(self.bin / args[0]), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(["pg_ctl", "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "log"), "-w", "-t", "30", "start"])  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def create_database(self, name: str) -> str:
        """A fresh database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            f"postgresql://ragserve@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://ragserve@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def redis_server(binary: str | None = None) -> Iterator[RedisServer]:
    """A fresh Redis; ``binary``: a ``redis-server`` not on PATH (benchmark machines)."""
    server = RedisServer(binary)
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
