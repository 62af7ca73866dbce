"""The documents list at 20 vs 20,000 documents: one page of 50 through the real server.

Two collections are written straight into the catalog's tables (no parsing or embedding:
the list reads only rows), 20 and 20,000 documents, then ``ragserve serve`` runs in its own
process and the page route is timed from a client on the same machine: sorted by name, by
newest, filtered by status, by a name fragment, and a page deep into the collection.
Baseline in the same run: the same route without ``limit`` (every row, as before paging),
and the floor, a round trip to ``/healthz``. Goal (issue 11): p99 < 100 ms at 20,000.

    python -m benchmarks.document_list [--requests 200]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import httpx

from benchmarks._common import machine, percentiles, save
from benchmarks._servers import ragserve, scripted_llm
from ragserve.config import Settings
from ragserve.store.db import Database
from ragserve.store.tables import CollectionRow, DocumentRow, DocumentStatus, utcnow
from ragserve.store.vectors import vector_collection_name

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"small": 20, "large": 20_000}
WORDS = ["budget", "handbook", "policy", "report", "minutes", "contract", "invoice", "plan"]


def fill(data_dir: Path) -> None:
    """The two collections' rows, as ingestion would leave them (5 % failed)."""
    settings = Settings(data_dir=data_dir)
    model, dimension = settings.embed_model, 384
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.in_dir(data_dir)
    rng = random.Random(0)
    now = utcnow()
    with db.transaction() as session:
        for name, count in SIZES.items():
            session.add(
                CollectionRow(
                    name=name,
                    embed_model=model,
                    dimension=dimension,
                    vector_collection=vector_collection_name(name, model, dimension),
                )
            )
            session.flush()
            for i in range(count):
                failed = rng.random() < 0.05
                session.add(
                    DocumentRow(
                        id=str(uuid.uuid4()),
                        collection=name,
                        source=f"{rng.choice(WORDS)}-{i:05d}.pdf",
                        kind="pdf",
                        status=(DocumentStatus.failed if failed else DocumentStatus.ready).value,
                        error="corrupt PDF" if failed else None,
                        chunks=0 if failed else rng.randint(1, 200),
                        pages=rng.randint(1, 40),
                        updated_at=now - timedelta(seconds=rng.randint(0, 10**7)),
                        size_bytes=rng.randint(10_000, 5_000_000),
                    )
                )
    db.close()


def timed(client: httpx.Client, path: str, params: Mapping[str, str | int], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    n = args.requests
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        started = time.perf_counter()
        fill(data_dir)
        print(
            f"wrote {sum(SIZES.values()):,} document rows in {time.perf_counter() - started:.1f} s"
        )
        logs = ROOT / "benchmarks" / "logs"
        logs.mkdir(exist_ok=True)
        with (
            scripted_llm(logs / "document_list_llm.log") as llm,
            ragserve(
                data_dir, logs / "document_list_server.log", llm_base_url=llm, llm_model="ok"
            ) as url,
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            cases: dict[str, dict[str, str | int]] = {
                "page 1 by name": {"limit": 50},
                "newest first": {"limit": 50, "sort": "-updated"},
                "failed only": {"limit": 50, "status": "failed"},
                "name contains": {"limit": 50, "q": "report"},
                "deep page (offset 80 %)": {"limit": 50, "offset": 0},
            }
            results: dict[str, dict[str, dict[str, float]]] = {}
            floor = percentiles(timed(client, "/healthz", {}, n))
            print(f"\nfloor, GET /healthz: p50 {floor['p50']:.2f} ms, p99 {floor['p99']:.2f} ms")
            print(f"\n{'case':<26}{'20 p50':>9}{'20 p99':>9}{'20k p50':>10}{'20k p99':>10}"
                  f"{'p99 ratio':>11}")  # fmt: skip
            for case, params in cases.items():
                row: dict[str, dict[str, float]] = {}
                for name, count in SIZES.items():
                    p = dict(params)
                    if case.startswith("deep"):
                        p["offset"] = int(count * 0.8)
                    path = f"/api/collections/{name}/documents"
                    timed(client, path, p, 5)  # warm
                    row[name] = percentiles(timed(client, path, p, n))
                results[case] = row
                s, big = row["small"], row["large"]
                print(f"{case:<26}{s['p50']:>9.2f}{s['p99']:>9.2f}{big['p50']:>10.2f}"
                      f"{big['p99']:>10.2f}{big['p99'] / s['p99']:>10.2f}x")  # fmt: skip
            unpaged = percentiles(timed(client, "/api/collections/large/documents", {}, 10))
            print(f"\nbaseline, no limit (all 20,000 rows, the route before paging): "
                  f"p50 {unpaged['p50']:.0f} ms, p99 {unpaged['p99']:.0f} ms")  # fmt: skip
            worst = max(r["large"]["p99"] for r in results.values())
            verdict = "met" if worst < 100 else "NOT met"
            print(f"worst p99 at 20,000 documents: {worst:.1f} ms (goal < 100 ms: {verdict}); "
                  f"{unpaged['p50'] / results['page 1 by name']['large']['p50']:.0f}x faster "
                  "than listing every row")  # fmt: skip
    saved = save("document_list", {
        "requests": n, "floor_ms": floor, "cases": results, "unpaged_20k_ms": unpaged,
    })  # fmt: skip
    print(f"saved {saved}")


if __name__ == "__main__":
    main()
