"""The bench report as one HTML file with inline SVG plots: opens offline, no scripts."""

from __future__ import annotations

import html
from collections.abc import Callable

Level = dict[str, object]
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
W, H, PAD = 460, 260, 60


def _num(level: Level, metric: str, key: str) -> float | None:
    value = level.get(metric)
    if isinstance(value, dict):
        v = value.get(key)
        return float(v) if v is not None else None
    return float(value) if isinstance(value, int | float) else None


def _chart(
    title: str,
    unit: str,
    series: dict[str, list[tuple[float, float | None]]],
) -> str:
    points = [(x, y) for s in series.values() for x, y in s if y is not None]
    if not points:
        return f"<figure><figcaption>{html.escape(title)}: no data</figcaption></figure>"
    xs = sorted({x for x, _ in points})
    y_max = max(y for _, y in points) * 1.1 or 1.0

    def sx(x: float) -> float:
        return PAD + (xs.index(x) / max(1, len(xs) - 1)) * (W - 2 * PAD)

    def sy(y: float) -> float:
        return H - PAD - (y / y_max) * (H - 2 * PAD)

    parts = [f'<svg class="chart" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>']  # fmt: skip
    for x in xs:
        parts.append(f'<text x="{sx(x):.1f}" y="{H - PAD + 16}" text-anchor="middle" '
                     f'font-size="11">{x:g}</text>')  # fmt: skip
    for frac in (0.0, 0.5, 1.0):
        y = y_max / 1.1 * frac
        label = f"{y:,.0f}" if y >= 100 else f"{y:.3g}"
        parts.append(f'<text x="{PAD - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{label}</text>')  # fmt: skip
    for i, (name, data) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in data if y is not None)
        parts.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{pts}"><title>{html.escape(name)}</title></polyline>')  # fmt: skip
        for x, maybe_y in data:
            if maybe_y is not None:
                parts.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(maybe_y):.1f}" r="3" fill="{colour}"/>'
                )
    parts.append("</svg>")
    legend = " ".join(
        f'<span style="color:{COLOURS[i % len(COLOURS)]}">■ {html.escape(n)}</span>'
        for i, n in enumerate(series)
    )
    return (f"<figure><figcaption>{html.escape(title)} ({unit})</figcaption>"
            f"{''.join(parts)}<div class='legend'>{legend}</div></figure>")  # fmt: skip


def _slo_text(slo: object) -> str:
    if not isinstance(slo, dict):
        return "none"
    parts = [f"{k} ≤ {float(v) * 1000:g} ms" for k, v in slo.items() if v is not None]
    return ", ".join(parts) or "none"


def render(report: dict[str, object]) -> str:
    levels: list[Level] = report["levels"]  # type: ignore[assignment]
    mode = str(report.get("mode", "concurrency"))
    endpoints = list(dict.fromkeys(str(s["endpoint"]) for s in levels))

    def series(
        get: Callable[[Level], float | None], suffix: str = ""
    ) -> dict[str, list[tuple[float, float | None]]]:
        return {f"{e}{suffix}": [(float(s["level"]), get(s)) for s in levels if s["endpoint"] == e]  # type: ignore[arg-type]
                for e in endpoints}  # fmt: skip

    def ms(metric: str, key: str) -> Callable[[Level], float | None]:
        return lambda s: None if (v := _num(s, metric, key)) is None else v * 1000

    ttft = {**series(ms("ttft", "p50"), " p50"), **series(ms("ttft", "p99"), " p99")}
    charts = [
        _chart(f"Time to first token vs {mode}", "ms", ttft),
        _chart(f"Inter-token latency p50 vs {mode}", "ms", series(ms("itl", "p50"))),
        _chart(f"End-to-end latency p50 vs {mode}", "ms", series(ms("e2e", "p50"))),
        _chart(f"Output throughput vs {mode}", "tokens/s",
               series(lambda s: _num(s, "output_throughput", ""))),
        _chart(f"Goodput vs {mode}", "requests/s within SLO",
               series(lambda s: _num(s, "goodput", ""))),
    ]  # fmt: skip
    rows = []
    for s in levels:
        client = s.get("client")
        bound = isinstance(client, dict) and client.get("client_bound")
        cells = [str(s["endpoint"]), f"{s['level']:g}", f"{s['request_throughput']:.2f}",
                 f"{s['output_throughput']:.1f}", f"{s['goodput']:.2f}",
                 *(f"{v:.1f}" if (v := ms(m, k)(s)) is not None else "—"
                   for m, k in (("ttft", "p50"), ("ttft", "p99"), ("tpot", "p50"),
                                ("itl", "p50"), ("e2e", "p50"))),
                 str(s["errors"] or 0), "client-bound" if bound else "ok"]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    advice = "".join(f"<li>{html.escape(line)}</li>" for line in report.get("recommendation", []))  # type: ignore[attr-defined]
    head = ["endpoint", mode, "req/s", "out tok/s", "goodput", "TTFT p50 ms", "TTFT p99 ms",
            "TPOT p50 ms", "ITL p50 ms", "E2E p50 ms", "errors", "client"]  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ragserve bench report</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2rem;max-width:1100px}}
figure{{display:inline-block;margin:0 1rem 1rem 0}} figcaption{{font-weight:600}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
td:first-child{{text-align:left}} .legend{{font-size:12px}}
</style></head><body>
<h1>ragserve bench report</h1>
<p>SLOs: {html.escape(_slo_text(report.get("slo")))}; a level holds when at least
{float(str(report.get("slo_target", 0.95))):.0%} of its requests meet every SLO.</p>
<h2>Capacity</h2><ul id="recommendation">{advice}</ul>
<h2>Plots</h2>{"".join(charts)}
<h2>Every level</h2>
<table><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<p>Definitions (as `vllm bench serve`): TTFT = send → first content chunk; ITL = gaps
between content chunks; TPOT = (E2E − TTFT)/(tokens − 1); goodput = requests/s meeting
every SLO.</p>
</body></html>
"""
