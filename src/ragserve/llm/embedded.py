"""The embedded default: a llama.cpp server that ragserve starts, watches and stops.

It runs packaged SmolLM2-135M-Instruct (or any GGUF) on 127.0.0.1 and is then used through
the same OpenAI-compatible backend as vLLM, so the embedded and remote paths are one path.

The child never outlives ragserve: on Linux it gets a parent-death signal, and each child
is recorded in the data dir so that the next start ends one left behind anyway (by a
platform without the signal, or a version that predates it).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from ragserve.errors import BackendUnavailable

log = logging.getLogger(__name__)

EMBEDDED_MODEL_ALIAS = "smollm2-135m-instruct"

#: The packaged model's share of fact questions answered correctly with a correct citation,
#: measured on the English evaluation set's test half by benchmarks/answer_quality.py with
#: the compact prompt: 3 of 6 (0 of 3 with the old prompt), the same share as an extractive
#: answer at 40 times its latency (benchmarks/RESULTS.md, "Answer quality").
#: RAGSERVE_ANSWER_MODE=auto compares it with RAGSERVE_ANSWER_AUTO_MIN_ACCURACY (0.6).
PACKAGED_MODEL_ACCURACY = 0.5

#: Set in the child's environment to the folder of its pid record, so that a pid found in a
#: record is only ever taken for our server when the process itself says whose it is.
OWNER_ENV = "RAGSERVE_LLAMA_RECORDS"

_PR_SET_PDEATHSIG = 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- processes, as /proc describes them ----------------------------------------------------


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if it is gone or a zombie.

    A pid plus its start time names one process for the whole uptime: a reused pid has a
    later start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # exited; only waiting to be reaped
        return None
    return int(fields[19])


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _environ(pid: int) -> dict[str, str]:
    try:  # another user's process is unreadable, and so never ours
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (part.decode(errors="replace").partition("=") for part in raw.split(b"\0") if part)
    return {key: value for key, _, value in pairs}


@dataclass(frozen=True, slots=True)
class LlamaPidRecord:
    """One running child, as written to ``<records>/<pid>.json`` while it runs."""

    pid: int
    start_time: int
    boot_id: str
    owner_pid: int
    owner_start_time: int
    command: list[str]

    @classmethod
    def read(cls, path: Path) -> LlamaPidRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    def is_running(self, records: Path) -> bool:
        """True only if the recorded process is alive and is our llama server for ``records``.

        Every check must hold, so a pid reused by an unrelated process is never taken for
        ours: same boot, same start time, the command recorded, and our marker in its
        environment.
        """
        return (
            self.boot_id == _boot_id()
            and process_start_time(self.pid) == self.start_time
            and _cmdline(self.pid) == self.command
            and "llama_cpp.server" in self.command
            and _environ(self.pid).get(OWNER_ENV) == str(records)
        )

    def owner_alive(self) -> bool:
        return process_start_time(self.owner_pid) == self.owner_start_time


def end_stale_servers(records: Path, *, grace_s: float = 5.0) -> list[int]:
    """End llama servers recorded in ``records`` whose ragserve process has died.

    Servers of a live ragserve process (a CLI ``ask`` beside ``serve``) are left alone;
    records of processes that are gone, or that are not ours, are removed without
    signalling anything. Returns the pids ended.
    """
    ended: list[int] = []
    for path in sorted(records.glob("*.json")) if records.is_dir() else []:
        record = LlamaPidRecord.read(path)
        if record is not None and record.is_running(records):
            if record.owner_alive():
                continue
            log.warning("ending llama.cpp server %d left by a ragserve that died", record.pid)
            _terminate(record.pid, record.start_time, grace_s)
            ended.append(record.pid)
        path.unlink(missing_ok=True)
    return ended


def _terminate(pid: int, start_time: int, grace_s: float) -> None:
    def alive() -> bool:
        return process_start_time(pid) == start_time

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while alive():
            time.sleep(0.05)


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when its parent dies (Linux).

    It runs in the forked child before exec; ``prctl`` is resolved here, in the parent, so
    the child only makes one C call (no imports, no locks another thread could hold).
    SIGKILL rather than SIGTERM: with ragserve gone nobody waits for a graceful shutdown,
    and a child too busy to handle SIGTERM must not survive.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


class EmbeddedLlamaServer:
    """A supervised ``llama_cpp.server`` child process.

    A supervisor thread starts it, restarts it if it dies (at most ``max_restarts`` times)
    and stops it; the log goes to ``log_path`` so a failed start can show its last lines.
    While it runs, its pid is recorded beside the log (``llama-server.pids/``), and a
    start first ends any server recorded there whose ragserve process is gone.

    ``parent_death_signal=False`` leaves the child running past a killed ragserve, as on
    systems without the signal; only the record then ends it.
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
        parent_death_signal: bool = True,
    ) -> None:
        self.gguf = gguf
        self.log_path = log_path
        self.records = (log_path.parent / f"{log_path.stem}.pids").resolve()
        self.context = context
        self.threads = threads or os.cpu_count() or 1
        self.startup_timeout_s = startup_timeout_s
        self.alias = alias
        self.embedding = embedding
        self.max_restarts = max_restarts
        self.parent_death_signal = parent_death_signal
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._record_path: Path | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> str:
        """Start the server and wait until it answers; returns its ``/v1`` base URL."""
        if not self.gguf.exists():
            raise BackendUnavailable(f"model file {self.gguf} not found; run `make setup`")
        end_stale_servers(self.records)
        # The kernel sends the parent-death signal when the *thread* that forked the child
        # exits, not the process. start() may be called from a short-lived worker thread
        # (a thread pool's, the server's lifespan), so every launch, restarts included,
        # happens on this supervisor thread, which lives exactly as long as the child should.
        started: Future[None] = Future()
        self._stopping.clear()
        self._supervisor = threading.Thread(
            target=self._supervise, args=(started,), name="llama-supervisor", daemon=True
        )
        self._supervisor.start()
        started.result()
        return self.base_url

    def _supervise(self, started: Future[None]) -> None:
        try:
            self._launch()
        except BaseException as exc:
            started.set_exception(exc)
            self._end_child()
            return
        started.set_result(None)
        try:
            self._watch()
        finally:
            self._end_child()

    def _command(self) -> list[str]:
        return [
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

    def _launch(self) -> None:
        # A restart keeps the port, so clients holding the base URL keep working.
        self.port = self.port or _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = self._command()
        preexec = _parent_death_signal() if self.parent_death_signal else None
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, OWNER_ENV: str(self.records)},
                preexec_fn=preexec,
            )
        self._record(command)
        self._wait_ready()

    def _record(self, command: list[str]) -> None:
        process = self._process
        assert process is not None
        start_time = process_start_time(process.pid)
        owner_start_time = process_start_time(os.getpid())
        if start_time is None or owner_start_time is None:  # no /proc, or it already exited
            return
        self._forget()
        self._record_path = self.records / f"{process.pid}.json"
        LlamaPidRecord(
            pid=process.pid,
            start_time=start_time,
            boot_id=_boot_id(),
            owner_pid=os.getpid(),
            owner_start_time=owner_start_time,
            command=command,
        ).write(self._record_path)

    def _forget(self) -> None:
        if self._record_path is not None:
            self._record_path.unlink(missing_ok=True)
            self._record_path = None

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
            if self._stopping.wait(0.1):
                raise BackendUnavailable("embedded llama.cpp server stopped while starting")
        raise BackendUnavailable(
            f"embedded llama.cpp server did not start within {self.startup_timeout_s:.0f} s:\n"
            + self.log_tail()
        )

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            process = self._process
            if process is None or process.poll() is None:
                continue
            self._forget()
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
                # One that never became ready is ended too, so the next round retries it.
                self._terminate_process()

    def _end_child(self) -> None:
        self._terminate_process()
        self._process = None
        self._forget()

    def _terminate_process(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        self._stopping.set()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join()
        self._end_child()

    def __enter__(self) -> EmbeddedLlamaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
