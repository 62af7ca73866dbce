"""Servers the API benchmarks run against, each in its own process (as in production)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> None:
    """Thousands of concurrent streams need thousands of sockets (children inherit this)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


@contextmanager
def _process(args: list[str], ready_url: str, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            _wait(ready_url, proc)
        except RuntimeError as exc:  # say why, from the server's own log
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{exc}; its log ({log}) ends:\n{tail}") from None
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def scripted_llm(log: Path) -> Iterator[str]:
    """The scripted OpenAI-compatible server from the tests; yields its /v1 URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    args = [sys.executable, "-m", "tests.fakes.fault_server", str(port)]
    with _process(args, f"{url}/models", dict(os.environ), log):
        yield url


@contextmanager
def ragserve(data_dir: Path, log: Path, **settings: str) -> Iterator[str]:
    """``ragserve serve`` with RAGSERVE_* settings; yields its base URL once ready."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGSERVE_DATA_DIR": str(data_dir)}
    env.update({f"RAGSERVE_{k.upper()}": v for k, v in settings.items()})
    args = [sys.executable, "-m", "ragserve", "serve", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with _process(args, f"{url}/readyz", env, log):
        yield url
