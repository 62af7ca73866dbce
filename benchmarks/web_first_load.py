"""Bytes transferred for the first load of the web UI's chat page (issue 11 goal: < 150 KB
before pdf.js), counted from Chromium's own network events (encoded bytes on the wire,
headers included) with the cache empty.

Baseline, measured in the same run: the same page with pdf.js loaded eagerly (its module and
worker fetched at start, as a UI that bundles its viewer does). Floor: the HTML document alone.

    python -m benchmarks.web_first_load
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

from benchmarks._common import machine, save
from benchmarks._servers import ragserve, scripted_llm

CHROMIUM = "/usr/bin/chromium"
PDFJS = "/static/vendor/pdfjs-dist-6.5.438/build/"
GOAL_KB = 150


def transferred(browser: Browser, url: str, eager_pdfjs: bool) -> dict[str, Any]:
    """Encoded bytes of every response the page loads until the network is idle."""
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    urls: dict[str, str] = {}
    sizes: dict[str, float] = {}
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto(url + "/#/chat", wait_until="networkidle")
    page.wait_for_selector("#chat-input")
    if eager_pdfjs:
        page.evaluate(
            """async (base) => {
                const lib = await import(base + "pdf.min.mjs");
                await (await fetch(base + "pdf.worker.min.mjs")).arrayBuffer();
                return lib.version;
            }""",
            PDFJS,
        )
        page.wait_for_load_state("networkidle")
    context.close()
    by_url = {urls.get(rid, rid): size for rid, size in sizes.items()}
    return {"bytes": sum(by_url.values()), "requests": len(by_url), "by_url": by_url}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "servers.log"
        with (
            scripted_llm(log) as llm,
            ragserve(Path(tmp) / "data", log, llm_base_url=llm, llm_model="ok") as url,
        ):
            # A collection, so the chat page shows what a user sees (picker, conversations).
            httpx.post(
                f"{url}/api/collections", json={"name": "docs"}, timeout=60
            ).raise_for_status()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                ui = transferred(browser, url, eager_pdfjs=False)
                eager = transferred(browser, url, eager_pdfjs=True)
                browser.close()
            html = len(httpx.get(url + "/", timeout=10).content)
    kb = ui["bytes"] / 1024
    base_kb = eager["bytes"] / 1024
    print(f"machine: {machine()}")
    for u, size in sorted(ui["by_url"].items(), key=lambda kv: -kv[1]):
        print(f"  {size / 1024:7.1f} KB  {u.split('127.0.0.1')[-1]}")
    print(
        f"chat page, first load:   {kb:7.1f} KB in {ui['requests']} requests (goal < {GOAL_KB} KB)"
    )
    print(f"baseline, pdf.js eager:  {base_kb:7.1f} KB in {eager['requests']} requests")
    print(
        f"ratio: {kb / base_kb:.3f} of the baseline; floor (the HTML alone): {html / 1024:.1f} KB"
    )
    print("goal met" if kb < GOAL_KB else "goal NOT met")
    save("web_first_load", {"kb": kb, "baseline_kb": base_kb, "requests": ui["requests"],
                            "html_kb": html / 1024, "by_url": ui["by_url"]})  # fmt: skip


if __name__ == "__main__":
    main()
