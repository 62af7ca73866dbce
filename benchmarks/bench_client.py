"""How much load `ragserve bench` itself can drive before it, not the server, is measured.

Against the scripted server in its own process with a known schedule (first token after
100 ms, then one every 20 ms, 10 tokens): concurrency levels up to 1,000 streams, each
reporting how far the measured TTFT and ITL are from the schedule; then Poisson rates
until the client's self-check (event-loop lag p99 > 10 ms or CPU > 90 %) flags a level.
Issue 5's goal: 1,000 concurrent streams with timing within 1 ms of the schedule on 2 cores.

    python -m benchmarks.bench_client
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, cast

from benchmarks._common import machine, save
from benchmarks._servers import raise_fd_limit, scripted_llm
from ragserve.bench.client import ChatTarget, prompt_cycle
from ragserve.bench.metrics import Slo
from ragserve.bench.runner import LoadPlan, run_plan
from ragserve.bench.workload import synthetic

SCHEDULE = "timed-100-20-10-1"
TTFT, ITL = 0.100, 0.020


def main() -> None:
    raise_fd_limit()
    prompts = prompt_cycle(synthetic(100, 16))
    work = Path(tempfile.mkdtemp())
    print(f"machine: {machine()}")
    with scripted_llm(work / "llm.log") as url:
        target = ChatTarget(url, SCHEDULE, max_tokens=10)
        conc = [1, 100, 500, 1000]
        # Two requests per stream slot keep every level short.
        levels: list[dict[str, Any]] = []
        for c in conc:
            got, _ = run_plan([target], prompts, LoadPlan("concurrency", [c], requests=2 * c,
                                                          warmup=2), Slo())  # fmt: skip
            levels += got
        print(f"{'streams':>7} {'TTFT p50':>9} {'dev':>7} {'ITL p50':>8} {'dev':>7} "
              f"{'ITL p99':>8} {'lag p99':>8} {'CPU':>5} {'errors':>6} flagged")  # fmt: skip
        rows = []
        for s in levels:
            t, i, i99 = s["ttft"]["p50"], s["itl"]["p50"], s["itl"]["p99"]
            client = s["client"]
            rows.append({"streams": s["level"], "ttft_dev_ms": (t - TTFT) * 1000,
                         "itl_dev_ms": (i - ITL) * 1000, "itl_p99_ms": i99 * 1000,
                         "client": client, "errors": s["errors"]})  # fmt: skip
            print(f"{s['level']:>7g} {t * 1000:>9.2f} {(t - TTFT) * 1000:>+7.2f} "
                  f"{i * 1000:>8.2f} {(i - ITL) * 1000:>+7.2f} {i99 * 1000:>8.2f} "
                  f"{client['loop_lag_p99_s'] * 1000:>8.2f} {client['cpu_share']:>5.0%} "
                  f"{sum(s['errors'].values()):>6} {client['client_bound']}")  # fmt: skip
        rates = [25.0, 50.0, 100.0, 200.0, 400.0, 800.0]
        rate_rows = []
        highest = None
        for rate in rates:
            (s,), _ = run_plan([ChatTarget(url, "timed-10-5-5-1", max_tokens=5)], prompts,
                               LoadPlan("rate", [rate], duration=4.0, warmup=2), Slo())  # fmt: skip
            client = cast(dict[str, Any], s["client"])
            achieved = s["request_throughput"]
            rate_rows.append({"rate": rate, "achieved": achieved, "client": client})
            print(f"rate {rate:>5g}/s: achieved {achieved:.1f}/s, lag p99 "
                  f"{client['loop_lag_p99_s'] * 1000:.2f} ms, CPU {client['cpu_share']:.0%}, "
                  f"flagged {client['client_bound']}")  # fmt: skip
            if client["client_bound"]:
                break
            highest = rate
    top = rows[-1]
    print(f"at {top['streams']:g} streams: TTFT {top['ttft_dev_ms']:+.2f} ms and ITL "
          f"{top['itl_dev_ms']:+.2f} ms from the schedule (goal: within 1 ms); "
          f"ITL ratio measured/scheduled {(ITL + top['itl_dev_ms'] / 1000) / ITL:.3f}")  # fmt: skip
    print(f"highest Poisson rate before the self-check flagged the client: {highest} req/s")
    save("bench_client", {"concurrency": rows, "rates": rate_rows, "highest_rate": highest})


if __name__ == "__main__":
    main()
