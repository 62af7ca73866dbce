"""The chat page shows an extractive answer for what it is: labelled, with the question's
words marked, in headless Chromium against the real app (real embedder). The chat backend
is down (nothing listens on its port), so the default `auto` mode quotes the passages."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app, wait_for_documents
from tests.conftest import SAMPLES
from tests.e2e.web_fixtures import CHROMIUM, GuardedPage, unused_port


def test_an_extractive_answer_is_labelled_and_its_matched_words_marked(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        llm_base_url=f"http://127.0.0.1:{unused_port()}/v1",
        llm_model="gone",
    )
    runtime = Runtime(settings, embedder=embedder)
    handbook = Path(SAMPLES) / "northwind-handbook.md"
    with running_app(settings, runtime) as url, sync_playwright() as pw:
        with httpx.Client(base_url=url, timeout=60) as client:
            files = [("files", (handbook.name, handbook.read_bytes()))]
            assert client.post("/api/collections/hr/documents", files=files).status_code == 202
            wait_for_documents(client, "hr", 1)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        guarded = GuardedPage(browser, url, width=1280)
        page = guarded.page
        page.set_default_timeout(30_000)
        page.goto(url + "/#/chat")
        page.get_by_label("Your question").fill("How many paid vacation days do we get?")
        page.get_by_label("Your question").press("Enter")
        answer = page.locator(".msg.assistant")
        expect(answer.locator(".answer-mode")).to_have_text("Extractive answer")
        expect(answer.locator(".body")).to_contain_text("25 paid vacation days")
        marked = [m.lower() for m in answer.locator(".body mark").all_text_contents()]
        assert {"paid", "vacation", "days"} <= set(marked)
        expect(answer.locator(".body .chip").first).to_have_text("[1]")
        guarded.shoot("chat-extractive")
        guarded.check()
        guarded.close()
        browser.close()
    runtime.close()
