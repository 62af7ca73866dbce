"""Bench results out: a console table, JSON (the documented shape) and CSV per request."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.table import Table

from ragserve.bench.metrics import RequestRecord


def _ms(stat: object, key: str = "p50") -> str:
    value = stat.get(key) if isinstance(stat, dict) else None
    return "—" if value is None else f"{value * 1000:.1f}"


def level_table(levels: list[dict[str, object]]) -> Table:
    table = Table(
        "endpoint",
        "load",
        "req/s",
        "out tok/s",
        "goodput",
        "TTFT p50",
        "p99",
        "TPOT p50",
        "ITL p50",
        "p99",
        "E2E p50",
        "errors",
        "client",
        title="latencies in ms",
    )
    for s in levels:
        client = s["client"]
        flag = "BOUND" if isinstance(client, dict) and client.get("client_bound") else "ok"
        errors = s["errors"]
        shown = ", ".join(f"{k}:{v}" for k, v in errors.items()) if errors else "0"  # type: ignore[attr-defined]
        table.add_row(
            str(s["endpoint"]),
            f"{s['mode'][0]}={s['level']:g}",  # type: ignore[index]
            f"{s['request_throughput']:.2f}",
            f"{s['output_throughput']:.1f}",
            f"{s['goodput']:.2f}",
            _ms(s["ttft"]),
            _ms(s["ttft"], "p99"),
            _ms(s["tpot"]),
            _ms(s["itl"]),
            _ms(s["itl"], "p99"),
            _ms(s["e2e"]),
            shown,
            flag,
        )
    return table


def write_json(path: Path, report: dict[str, object]) -> None:
    path.write_text(json.dumps(report, indent=2, default=str))


def write_csv(path: Path, rows: list[tuple[str, float, RequestRecord]]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "endpoint",
                "level",
                "ok",
                "error",
                "ttft_s",
                "tpot_s",
                "e2e_s",
                "output_tokens",
                "prompt_tokens",
                "chunks",
                "itl_mean_s",
            ]
        )
        for endpoint, level, r in rows:
            itl = r.itl
            out.writerow(
                [
                    endpoint,
                    level,
                    r.ok,
                    r.error or "",
                    r.ttft,
                    r.tpot,
                    r.e2e,
                    r.tokens,
                    r.prompt_tokens,
                    len(r.chunk_times),
                    sum(itl) / len(itl) if itl else None,
                ]
            )
