"""Benchmarks only: put this folder on PYTHONPATH and set BENCH_SWITCH_INTERVAL_MS to run
every Python process of a benchmark (servers included) with that GIL switch interval.

A server that feeds a GPU hands each request between threads several times (event loop,
tokenizer pool's task and result threads, batcher, finisher); a thread that wakes while
another holds the GIL waits up to the switch interval (5 ms by default) for it.
"""

import os
import sys

if os.environ.get("BENCH_SWITCH_INTERVAL_MS"):
    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL_MS"]) / 1000)
