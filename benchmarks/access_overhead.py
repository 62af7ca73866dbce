"""What a user's key costs per request: one indexed key lookup, the user's groups and the
policy's shares, against the single shared key (a constant-time compare) on the same server.

``ragserve serve`` runs in its own process with RAGSERVE_API_KEY; 20 collections are made.
Timed from a client on the same machine: ``GET /api/collections`` with the single key before
any user exists; then users are created with the CLI while the server runs, alice is made
owner of 10 collections and viewer of 5 more, and these are timed in interleaved rounds (so
load from elsewhere falls on all alike): the floor (``GET /healthz``, no key), the baseline
(the collections list with the single key), the list with alice's key (filtered to her 15),
and ``GET /api/me`` with her key.

    python -m benchmarks.access_overhead [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks._common import machine, percentiles, save
from benchmarks._servers import ragserve, scripted_llm

ROOT = Path(__file__).resolve().parent.parent
SINGLE_KEY = "bench-single-key"
ROUNDS = 10


def timed(client: httpx.Client, path: str, key: str | None, n: int) -> list[float]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    for _ in range(5):  # warm
        client.get(path, headers=headers)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return samples


def cli(data_dir: Path, *args: str) -> str:
    env = {**os.environ, "RAGSERVE_DATA_DIR": str(data_dir)}
    run = subprocess.run(
        [sys.executable, "-m", "ragserve", *args], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return run.stdout.splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    n = parser.parse_args().requests
    print(f"machine: {machine()}")
    logs = ROOT / "benchmarks" / "logs"
    logs.mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        scripted_llm(logs / "access_overhead_llm.log") as llm,
        ragserve(
            Path(tmp) / "data", logs / "access_overhead_server.log",
            llm_base_url=llm, llm_model="ok", api_key=SINGLE_KEY, rate_limit_per_minute="0",
        ) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):  # fmt: skip
        data_dir = Path(tmp) / "data"
        single = {"Authorization": f"Bearer {SINGLE_KEY}"}
        for i in range(20):
            client.post("/api/collections", json={"name": f"team-{i}"}, headers=single)
        before_users = percentiles(timed(client, "/api/collections", SINGLE_KEY, n))

        cli(data_dir, "users", "create", "root", "--admin")
        cli(data_dir, "users", "create", "bob")
        alice_key = cli(data_dir, "users", "create", "alice")
        alice = {"Authorization": f"Bearer {alice_key}"}
        time.sleep(1.1)  # "does any user exist" is cached for up to a second
        for i in range(15):
            shared = client.put(
                f"/api/collections/team-{i}/members",
                json={"type": "user", "name": "alice", "role": "owner" if i < 10 else "viewer"},
                headers=single,
            )
            assert shared.status_code == 200, shared.text
        assert len(client.get("/api/collections", headers=alice).json()) == 15
        cases = {
            "floor: GET /healthz, no key": ("/healthz", None),
            "baseline: /api/collections, single key": ("/api/collections", SINGLE_KEY),
            "user key: /api/collections (15 of 20)": ("/api/collections", alice_key),
            "user key: /api/me": ("/api/me", alice_key),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, (path, key) in cases.items():
                samples[name] += timed(client, path, key, n // ROUNDS)

    rows = [("single key, before any user", before_users)]
    rows += [(name, percentiles(found)) for name, found in samples.items()]
    floor, baseline, user_list = (dict(rows)[name] for name in list(cases)[:3])
    print(f"\n{'case':<44}{'p50 ms':>9}{'p99 ms':>9}{'vs baseline p50':>17}")
    for name, p in rows:
        print(f"{name:<44}{p['p50']:>9.2f}{p['p99']:>9.2f}{p['p50'] / baseline['p50']:>16.2f}x")
    extra = user_list["p50"] - baseline["p50"]
    print(f"\na user key adds {extra:.2f} ms p50 to the collections list over the single key; "
          f"the floor (a round trip with no work) is {floor['p50']:.2f} ms")  # fmt: skip
    saved = save("access_overhead", {"requests": n, **{name: p for name, p in rows}})
    print(f"saved {saved}")


if __name__ == "__main__":
    main()
