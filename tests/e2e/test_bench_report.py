"""A short sweep against the real llama.cpp server, and its HTML report in headless Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from ragserve.bench.client import ChatTarget, prompt_cycle
from ragserve.bench.html import render
from ragserve.bench.metrics import Slo
from ragserve.bench.runner import LoadPlan, capacity, recommendation, run_plan
from ragserve.bench.workload import synthetic
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer

CHROMIUM = "/usr/bin/chromium"


def test_sweep_on_llama_cpp_renders_a_report_chromium_can_show(
    llama_server: EmbeddedLlamaServer, tmp_path: Path
) -> None:
    slo = Slo.parse("ttft=5s,e2e=20s")
    plan = LoadPlan("concurrency", [1, 2], requests=4, warmup=1)
    target = ChatTarget(llama_server.base_url, EMBEDDED_MODEL_ALIAS, max_tokens=16)
    levels, _ = run_plan([target], prompt_cycle(synthetic(8, 32)), plan, slo)
    assert [s["completed"] for s in levels] == [4, 4], [s["errors"] for s in levels]
    for level in levels:
        assert 0 < level["ttft"]["p50"] < level["e2e"]["p50"]  # type: ignore[index,operator]
        assert level["output_tokens"] > 4  # llama.cpp reports usage
    cap = capacity(levels)
    report = {
        "mode": "concurrency",
        "slo": vars(slo),
        "slo_target": 0.95,
        "levels": levels,
        "capacity": cap,
        "recommendation": recommendation(cap, "concurrency", slo),
    }
    page_file = tmp_path / "report.html"
    page_file.write_text(render(report))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_file.as_uri())
        assert page.title() == "ragserve bench report"
        assert page.locator("svg.chart").count() == 5
        ttft = page.locator("svg.chart").first
        assert ttft.locator("polyline.series").count() == 2  # p50 and p99
        assert ttft.locator("circle").count() == 4  # two levels each
        box = ttft.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 200
        assert "holds" in page.locator("#recommendation").inner_text()
        assert page.locator("tbody tr").count() == 2
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
