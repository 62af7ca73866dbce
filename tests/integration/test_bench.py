"""`ragserve bench` reports what a server with a known schedule really did."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragserve.bench.client import ChatTarget, prompt_cycle
from ragserve.bench.metrics import Slo
from ragserve.bench.runner import LoadPlan, capacity, run_plan
from ragserve.bench.workload import synthetic
from tests.conftest import ROOT
from tests.fakes.fault_server import FaultServer, running_fault_server

PROMPTS = prompt_cycle(synthetic(50, 32))


@pytest.fixture
def fault() -> Iterator[tuple[str, FaultServer]]:
    with running_fault_server() as server:
        yield server


@pytest.fixture(scope="module")
def scheduled() -> Iterator[str]:
    """The scripted server in its own process: its schedule does not share this process's
    GIL with the client being checked."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.fault_server", str(port)],
                            cwd=ROOT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _level(url: str, model: str, slo: str | None = None, **plan: object) -> dict:  # type: ignore[type-arg]
    values: dict[str, object] = {"mode": "concurrency", "levels": [4], "requests": 40}
    values.update(plan)
    levels, _ = run_plan([ChatTarget(url, model, max_tokens=64)], PROMPTS,
                         LoadPlan(**values), Slo.parse(slo))  # type: ignore[arg-type]  # fmt: skip
    return levels[0]


def test_ttft_itl_tpot_match_the_servers_schedule(scheduled: str) -> None:
    # First token after 100 ms, then one token every 20 ms, 10 tokens.
    level = _level(scheduled, "timed-100-20-10-1", slo="ttft=250ms,itl=100ms")
    assert level["completed"] == 40 and level["errors"] == {}
    # A token cannot be seen before it is sent; later is the machine's scheduling noise
    # (server and client share CI's two cores), so the upper margins are wider: a clean-clone
    # run measured a mean of 143 ms on a busy machine (stop 26).
    assert 0.098 <= level["ttft"]["mean"] <= 0.160
    assert level["itl"]["p50"] == pytest.approx(0.020, abs=0.006)
    assert level["tpot"]["mean"] == pytest.approx(0.020, abs=0.006)
    # TPOT is (E2E - TTFT) / (tokens - 1) for every request, so also for the means.
    assert level["tpot"]["mean"] == pytest.approx(
        (level["e2e"]["mean"] - level["ttft"]["mean"]) / 9, rel=1e-9
    )
    assert level["output_tokens"] == 400  # from the server's usage
    assert level["goodput"] == pytest.approx(level["request_throughput"])


def test_multi_token_chunks_are_one_gap_but_every_token_counts(scheduled: str) -> None:
    # 5 chunks of 2 tokens, one chunk every 40 ms.
    level = _level(scheduled, "timed-100-40-5-2")
    assert level["output_tokens"] == 40 * 10
    assert level["itl"]["p50"] == pytest.approx(0.040, abs=0.008)
    # TPOT spreads the 4 gaps over 9 tokens (about 160 ms / 9), not over 4 chunks.
    assert level["tpot"]["mean"] == pytest.approx(0.160 / 9, abs=0.005)
    assert level["tpot"]["mean"] == pytest.approx(
        (level["e2e"]["mean"] - level["ttft"]["mean"]) / 9, rel=1e-9
    )


def test_errors_are_counted_and_excluded_from_goodput(fault: tuple[str, FaultServer]) -> None:
    level = _level(fault[0], "timed-50-10-5-1-err10", slo="ttft=1s")
    assert level["errors"] == {"http_5xx": 4}  # every tenth of 40 requests
    assert level["completed"] == 36
    assert level["slo_attainment"] == pytest.approx(36 / 40)
    assert level["goodput"] == pytest.approx(level["request_throughput"])


def test_poisson_rate_is_the_requested_rate(fault: tuple[str, FaultServer]) -> None:
    level = _level(fault[0], "timed-10-5-3-1", mode="rate", levels=[20.0], requests=80)
    assert level["request_throughput"] == pytest.approx(20.0, rel=0.35)


def test_capacity_is_the_highest_level_within_the_slos(fault: tuple[str, FaultServer]) -> None:
    url, _ = fault
    plan = LoadPlan("concurrency", [1, 4], requests=12, warmup=1)
    for slo, holds in (("ttft=200ms", 4.0), ("ttft=50ms", None)):
        levels, _ = run_plan([ChatTarget(url, "timed-100-20-3-1")], PROMPTS, plan, Slo.parse(slo))
        cap = capacity(levels)
        assert cap[next(iter(cap))]["holds"] == holds  # type: ignore[index]


def test_cli_compares_two_endpoints_into_json_and_csv(
    fault: tuple[str, FaultServer], tmp_path: Path
) -> None:
    url, _ = fault
    with running_fault_server() as (other, _):
        result = subprocess.run(
            [sys.executable, "-m", "ragserve", "bench", "chat", "--base-url", url,
             "--model", "timed-50-10-5-1", "--concurrency", "1,2", "--requests", "6",
             "--slo", "ttft=200ms", "--compare", f"{other}=timed-300-10-5-1",
             "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv"),
             "--html", str(tmp_path / "r.html")],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["levels"]) == 4
    for level in report["levels"]:
        for metric in ("ttft", "tpot", "itl", "e2e"):
            assert set(level[metric]) == {"mean", "p50", "p90", "p99"}
    holds = {k: v["holds"] for k, v in report["capacity"].items()}
    assert sorted(holds.values(), key=str) == [2.0, None]  # the slow one misses the SLO
    assert "holds 2 concurrent users" in result.stdout
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 1 + 4 * 6  # header + rows
    page = (tmp_path / "r.html").read_text()
    assert page.count('<svg class="chart"') == 5 and "holds 2 concurrent users" in page


def test_query_prints_the_response_usage_and_time(fault: tuple[str, FaultServer]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ragserve", "query", "hello", "--base-url", fault[0],
         "--model", "ok"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"Hello from the fault server."' in result.stdout
    assert "HTTP 200, usage {'prompt_tokens': 5" in result.stdout and " s" in result.stdout


def test_find_capacity_bisects_to_the_servers_slot_count(fault: tuple[str, FaultServer]) -> None:
    from ragserve.bench.runner import find_capacity

    # 6 slots, 200 ms per answer: past 6 in flight, requests wait a whole answer or more.
    target = ChatTarget(fault[0], "slots-6-200", max_tokens=2)
    levels, holds = find_capacity(target, PROMPTS, Slo.parse("ttft=150ms"), requests_per_level=12)
    assert holds == 6
    assert [int(float(s["level"])) for s in levels] == [1, 2, 4, 6, 7, 8]  # doubled, then bisected


def test_bench_embed_reports_sequences_and_latency(
    fault: tuple[str, FaultServer], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ragserve", "bench", "embed", "--base-url", fault[0],
         "--model", "ok", "--concurrency", "1,4", "--requests", "20", "--batch", "2",
         "--json", str(tmp_path / "e.json")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    levels = json.loads((tmp_path / "e.json").read_text())["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 4]
    assert all(lv["errors"] == 0 and lv["sequences_per_s"] > 0 for lv in levels)
    assert fault[1].calls["ok"] == 40  # 20 requests per level
    assert "seq/s" in result.stdout
