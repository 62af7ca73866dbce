"""The embedded default: a llama.cpp server that ragserve starts, watches and stops.

It runs packaged SmolLM2-135M-Instruct (or any GGUF) on 127.0.0.1 and is then used through
the same OpenAI-compatible backend as vLLM, so the embedded and remote paths are one path.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from ragserve.errors import BackendUnavailable

log = logging.getLogger(__name__)

EMBEDDED_MODEL_ALIAS = "smollm2-135m-instruct"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedLlamaServer:
    """A supervised ``llama_cpp.server`` child process.

    A watchdog thread restarts it if it dies (at most ``max_restarts`` times); the log goes
    to ``log_path`` so a failed start can show its last lines.
    """

    def __init__(
        self,
        gguf: Path,
        *,
        log_path: Path,
        context: int = 4096,
        threads: int | None = None,
        startup_timeout_s: float = 120.0,
        alias: str = EMBEDDED_MODEL_ALIAS,
        embedding: bool = False,
        max_restarts: int = 3,
    ) -> None:
        self.gguf = gguf
        self.log_path = log_path
        self.context = context
        self.threads = threads or os.cpu_count() or 1
        self.startup_timeout_s = startup_timeout_s
        self.alias = alias
        self.embedding = embedding
        self.max_restarts = max_restarts
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.restarts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> str:
        """Start the server and wait until it answers; returns its ``/v1`` base URL."""
        if not self.gguf.exists():
            raise BackendUnavailable(f"model file {self.gguf} not found; run `make setup`")
        self._launch()
        self._watchdog = threading.Thread(target=self._watch, name="llama-watchdog", daemon=True)
        self._watchdog.start()
        return self.base_url

    def _launch(self) -> None:
        # A restart keeps the port, so clients holding the base URL keep working.
        self.port = self.port or _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.gguf),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.context),
            "--n_threads", str(self.threads),
            "--embedding", str(self.embedding),
            "--verbose", "False",
            # Its default cuts a streaming answer off whenever another request arrives;
            # concurrent users must queue instead.
            "--interrupt_requests", "False",
        ]  # fmt: skip
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BackendUnavailable(
                    f"embedded llama.cpp server exited with code {self._process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise BackendUnavailable(
            f"embedded llama.cpp server did not start within {self.startup_timeout_s:.0f} s:\n"
            + self.log_tail()
        )

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            process = self._process
            if process is None or process.poll() is None:
                continue
            if self.restarts >= self.max_restarts:
                log.error(
                    "embedded llama.cpp server keeps dying; giving up (see %s)", self.log_path
                )
                return
            self.restarts += 1
            log.warning("embedded llama.cpp server exited (%s); restarting", process.returncode)
            try:
                self._launch()
            except BackendUnavailable as exc:
                log.error("restart failed: %s", exc)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        self._stopping.set()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> EmbeddedLlamaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
