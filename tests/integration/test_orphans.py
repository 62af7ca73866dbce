"""The embedded llama.cpp server never outlives ragserve, and a start ends one left behind.

Real processes throughout: ``ragserve serve`` in a subprocess, killed with SIGKILL, and
llama.cpp servers found the way an operator would, in ``/proc``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ragserve.embed.packaged import smollm2_gguf
from ragserve.llm.embedded import (
    OWNER_ENV,
    EmbeddedLlamaServer,
    LlamaPidRecord,
    process_start_time,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes counts as gone)."""
    return process_start_time(pid) is not None


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _llama_servers(records: Path) -> list[int]:
    """Live llama.cpp servers started for the data dir whose records folder is ``records``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _alive(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"llama_cpp.server" in cmdline and f"{OWNER_ENV}={records}".encode() in environ:
            found.append(int(entry.name))
    return found


def _wait_until(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ragserve", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during startup:\n" + log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready:\n" + log.read_text()[-3000:])


def test_sigkilled_server_takes_its_llama_child_along_and_a_restart_runs_one(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    records = (data_dir / "logs" / "llama-server.pids").resolve()
    log = tmp_path / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RAGSERVE_DATA_DIR": str(data_dir),
        "RAGSERVE_EMBEDDED_CONTEXT": "1024",
        "RAGSERVE_EMBEDDED_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    first = _serve(env, port, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_ready(url, first, log)
        children = [pid for pid in _llama_servers(records) if _ppid(pid) == first.pid]
        assert len(children) == 1, children
        [child] = children

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        _wait_until(lambda: not _alive(child), 5, "llama.cpp server outlived a SIGKILLed parent")

        second = _serve(env, port, log)
        _wait_ready(url, second, log)
        servers = _llama_servers(records)
        assert len(servers) == 1, servers
        assert _ppid(servers[0]) == second.pid
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) in (0, -signal.SIGTERM)
        _wait_until(lambda: not _llama_servers(records), 10, "llama.cpp server left after stop")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


_LEAVE_ORPHAN = """
import sys, time
from pathlib import Path
from ragserve.embed.packaged import smollm2_gguf
from ragserve.llm.embedded import EmbeddedLlamaServer
server = EmbeddedLlamaServer(smollm2_gguf(), log_path=Path(sys.argv[1]), context=1024,
                             threads=1, parent_death_signal=False)
server.start()
print(server.pid, flush=True)
time.sleep(600)
"""


def test_a_start_ends_the_server_a_killed_ragserve_left_and_nothing_else(
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "data" / "logs" / "llama-server.log"
    records = (log_path.parent / "llama-server.pids").resolve()
    # A ragserve on a system without a parent-death signal, killed: its server lives on.
    parent = subprocess.Popen(
        [sys.executable, "-c", _LEAVE_ORPHAN, str(log_path)], stdout=subprocess.PIPE, cwd=ROOT
    )
    unrelated = None
    try:
        assert parent.stdout is not None
        orphan = int(parent.stdout.readline())
        parent_start = process_start_time(parent.pid)
        parent.kill()
        parent.wait()
        time.sleep(1)
        assert _alive(orphan), "precondition: the server outlives its killed parent"
        assert _llama_servers(records) == [orphan]

        # A stale record whose pid now belongs to something else: every field matches the
        # process except that it is not our server for this data dir. It must survive.
        unrelated = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)", "-m", "llama_cpp.server"]
        )
        _wait_until(lambda: process_start_time(unrelated.pid) is not None, 5, "sleeper")
        unrelated_start = process_start_time(unrelated.pid)
        assert unrelated_start is not None and parent_start is not None
        cmdline = Path(f"/proc/{unrelated.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        LlamaPidRecord(
            pid=unrelated.pid,
            start_time=unrelated_start,
            boot_id=Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
            owner_pid=parent.pid,
            owner_start_time=parent_start,
            command=cmdline,
        ).write(records / f"{unrelated.pid}.json")

        server = EmbeddedLlamaServer(smollm2_gguf(), log_path=log_path, context=1024, threads=1)
        with server:
            assert not _alive(orphan), "the stale server was left running"
            assert unrelated.poll() is None, "an unrelated process was killed"
            assert _llama_servers(records) == [server.pid]
            assert httpx.get(f"{server.base_url}/models", timeout=5).is_success

            # A server whose ragserve is alive (a CLI `ask` beside `serve`) is not stale.
            with EmbeddedLlamaServer(
                smollm2_gguf(), log_path=log_path, context=1024, threads=1
            ) as beside:
                assert sorted(_llama_servers(records)) == sorted([server.pid, beside.pid])
        assert _llama_servers(records) == []
        assert list(records.glob("*.json")) == [], "records outlived their servers"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        assert parent.stdout is not None
        parent.stdout.close()
        if unrelated is not None:
            unrelated.kill()
            unrelated.wait()
        for pid in _llama_servers(records):
            os.kill(pid, signal.SIGKILL)
