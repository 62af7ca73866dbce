"""The web UI in headless Chromium against the real app: real embedder, real llama.cpp.

One server and one browser for the module; the journeys run in order on the same data (the
collection made by the first is used by the rest). Every journey checks that no request left
the server's origin, that no dialog opened and that no script failed. Screenshots of every
page (desktop and phone, light and dark, English and Korean) go to tests/e2e/artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.runtime import Runtime
from tests.apiserver import running_app
from tests.e2e.web_fixtures import (
    CHROMIUM,
    MARKUP,
    GuardedPage,
    journey_documents,
    unused_port,
)
from tests.fakes.fault_server import FaultServer, running_fault_server

COLLECTION = "handbook"
PageFactory = Callable[..., GuardedPage]


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[str, FaultServer]]:
    with running_fault_server() as started:
        yield started


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: EmbeddingBackend,
    llama_server: EmbeddedLlamaServer,
) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("web") / "data",
        llm_base_url=llama_server.base_url,
        llm_model=EMBEDDED_MODEL_ALIAS,
        llm_max_tokens=24,  # short answers: the journeys look at citations, not prose
    )
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url:
        yield url
    runtime.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser, server: str) -> Iterator[PageFactory]:
    """Pages for one journey; each is checked (origin, dialogs, script errors) at the end."""
    pages: list[GuardedPage] = []

    def make(width: int = 1280, dark: bool = False, path: str = "/") -> GuardedPage:
        guarded = GuardedPage(browser, server, width=width, dark=dark)
        guarded.page.set_default_timeout(30_000)
        guarded.page.goto(server + path)
        pages.append(guarded)
        return guarded

    yield make
    for guarded in pages:
        guarded.check()
        guarded.close()


@pytest.fixture
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


def scripted_backend(api: httpx.Client, url: str, model: str) -> None:
    """Put the scripted server first in the chain, answering as ``model`` says."""
    body = {"kind": "openai", "base_url": url, "model": model}
    assert api.put("/api/resources/backends/scripted", json=body).status_code == 200


def ask(guarded: GuardedPage, question: str) -> None:
    guarded.page.get_by_label("Your question").fill(question)
    guarded.page.get_by_label("Your question").press("Enter")


def test_create_a_collection_then_upload_three_documents_and_watch_them_index(
    open_page: PageFactory, tmp_path: Path
) -> None:
    guarded = open_page(path="/#/collections")
    page = guarded.page
    expect(page.locator(".embedding-model")).not_to_have_text("–")  # the model it will use
    page.get_by_label("Name", exact=True).fill(COLLECTION)
    page.get_by_role("button", name="Create collection").click()
    row = page.locator(f'tr[data-name="{COLLECTION}"]')
    expect(row).to_contain_text("all-MiniLM-L6-v2")
    page.get_by_role("link", name="Documents", exact=True).click()
    expect(page.locator("#collection-picker")).to_have_value(COLLECTION)
    page.locator("#pick-files").set_input_files(journey_documents(tmp_path / "docs"))
    expect(page.locator(".upload")).to_have_count(3)
    # Live status: two become ready, the corrupt one fails and says why.
    expect(page.locator('tr[data-status="ready"]')).to_have_count(2, timeout=120_000)
    failed = page.locator('tr[data-status="failed"]')
    expect(failed).to_have_count(1, timeout=60_000)
    expect(failed.locator(".doc-name")).to_have_text("broken.pdf")
    expect(failed.locator(".reason")).not_to_be_empty()
    expect(page.locator("table.documents")).to_contain_text("notes.txt")
    guarded.shoot("documents-desktop")
    page.goto(guarded.origin + "/#/collections")
    expect(row).to_be_visible()
    guarded.shoot("collections-desktop")


def test_retrieval_test_shows_passages_with_scores_document_and_page(
    open_page: PageFactory,
) -> None:
    guarded = open_page(path="/#/retrieval")
    page = guarded.page
    page.get_by_label("Question").fill("How many days of paid vacation do employees receive?")
    page.get_by_label("Passages (top-k)").fill("3")
    page.get_by_role("button", name="Search").click()
    first = page.locator(".passages li").first
    expect(first.locator(".doc-name")).to_have_text("policy.pdf")
    expect(first).to_contain_text("Page 2")
    expect(first.locator(".score")).to_have_text(re.compile(r"Score \d\.\d{3}"))
    expect(first.locator(".passage")).to_contain_text("twenty-five days")
    assert page.locator(".passages li").count() <= 3
    guarded.shoot("retrieval-desktop")
    # A passage carrying markup is shown as the text it is.
    page.get_by_label("Question").fill("attackers hide markup inside documents")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".passage").first).to_contain_text(MARKUP)
    assert page.locator(".results img, .results script").count() == 0
    # Keyword search, picked in the page, is the mode the server says it used.
    page.get_by_label("Search mode").select_option("sparse")
    page.get_by_label("Question").fill("twenty-five days")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".ret-summary")).to_contain_text("Keywords (BM25)")
    expect(page.locator(".passages li").first.locator(".doc-name")).to_have_text("policy.pdf")


def test_markup_in_an_answer_renders_as_text_on_a_phone(
    open_page: PageFactory,
    api: httpx.Client,
    scripted: tuple[str, FaultServer],
) -> None:
    """The scripted server answers with markup (a real model cannot be told to)."""
    answer = f"답변: {MARKUP} 입니다 [1]"
    scripted_backend(api, scripted[0], f"say:{answer}")
    try:
        guarded = open_page(width=375, path="/#/chat")
        page = guarded.page
        ask(guarded, "Show me the markup")
        body = page.locator(".msg.assistant .body")
        expect(page.locator(".msg.assistant .chip")).to_have_text("[1]")
        expect(body).to_contain_text(answer.removesuffix(" [1]"))
        assert page.locator(".thread img, .thread script").count() == 0
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways at 375 px ({width} px)"
        guarded.shoot("chat-phone")
        page.locator(".msg.assistant .chip").click()
        panel = page.locator(".cite-panel")
        expect(panel).to_be_visible()
        expect(panel.locator(".passage")).not_to_be_empty()
        box = panel.bounding_box()
        assert box is not None and box["width"] >= 370  # the source covers the screen
        guarded.shoot("citation-phone")
        page.get_by_role("button", name="Close").click()
        expect(panel).to_be_hidden()
    finally:
        api.delete("/api/resources/backends/scripted")


def test_stop_ends_the_generation_at_the_backend(
    open_page: PageFactory,
    api: httpx.Client,
    scripted: tuple[str, FaultServer],
) -> None:
    """The scripted server streams 300 paced tokens and records the client going away."""
    url, fault = scripted
    before = len(fault.gone)
    scripted_backend(api, url, "paced-300-50")
    try:
        guarded = open_page(path="/#/chat")
        page = guarded.page
        ask(guarded, "Tell me everything")
        body = page.locator(".msg.assistant .body")
        expect(body).to_contain_text("w3")  # tokens arrive one by one
        expect(body).to_contain_text("w6")
        page.get_by_role("button", name="Stop").click()
        expect(page.locator(".msg.assistant .stopped")).to_have_text("Stopped.")
        deadline = time.monotonic() + 20
        while len(fault.gone) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [model for model, _ in fault.gone[before:]] == ["paced-300-50"]  # left mid-stream
        assert "w299" not in body.inner_text()
        expect(page.get_by_role("button", name="Send")).to_be_enabled()
    finally:
        api.delete("/api/resources/backends/scripted")


def test_a_citation_opens_the_passage_and_the_highlighted_pdf_page(
    open_page: PageFactory,
) -> None:
    for dark in (False, True):
        guarded = open_page(dark=dark, path="/#/chat")
        page = guarded.page
        if not dark:
            ask(guarded, "How many days of paid vacation does a Northwind employee receive?")
            source = page.locator(".sources button", has_text="policy.pdf").first
            expect(source).to_be_visible(timeout=120_000)
            expect(page.locator(".msg.assistant .body")).not_to_be_empty()
        else:
            # The stored conversations: one renamed, one deleted, one reopened (dark mode).
            markup = page.locator(".conv-list li", has_text="Show me the markup")
            markup.get_by_role("button", name="Delete").click()
            page.locator("dialog").get_by_role("button", name="Delete").click()
            expect(markup).to_have_count(0)
            asked = page.locator(".conv-list li", has_text="How many days")
            asked.get_by_role("button", name="Rename").click()
            page.locator("dialog").get_by_label("New title").fill("휴가 질문")
            page.locator("dialog").get_by_role("button", name="Save").click()
            renamed = page.locator(".conv-open", has_text="휴가 질문")
            expect(renamed).to_have_count(1)
            renamed.click()
            expect(page.locator(".msg.assistant")).to_have_count(1)
            ask(guarded, "How many vacation days?")
            source = page.locator(".sources button", has_text="policy.pdf").first
            expect(source).to_be_visible(timeout=120_000)
        source.click()
        panel = page.locator(".cite-panel")
        expect(panel.locator(".passage")).to_contain_text("vacation")
        expect(panel.locator("dl.facts")).to_contain_text("policy.pdf")
        hits = panel.locator(".textLayer span.hit")
        expect(hits.first).to_be_visible(timeout=30_000)
        highlighted = " ".join(hits.all_inner_texts())
        assert "vacation" in highlighted.lower(), highlighted
        guarded.shoot("chat-citation-pdf-" + ("dark" if dark else "desktop"))


def test_register_backends_and_test_them(
    open_page: PageFactory, llama_server: EmbeddedLlamaServer
) -> None:
    guarded = open_page(path="/#/resources")
    page = guarded.page
    expect(page.locator(".backend")).to_have_count(1)  # the settings' llama.cpp
    expect(page.locator(".backend .state")).to_have_text("up")

    def add(name: str, kind: str, address: str) -> None:
        page.get_by_role("button", name="Add backend").click()
        form = page.locator(".backend-form")
        form.get_by_label("Name").fill(name)
        form.get_by_label("Kind").select_option(kind)
        form.get_by_label("Base URL").fill(address)
        form.get_by_label("Base URL").blur()

    # Typed the way people do: no scheme, no /v1.
    host_port = llama_server.base_url.removeprefix("http://").removesuffix("/v1")
    add("local-llama", "llamacpp", host_port)
    form = page.locator(".backend-form")
    expect(form.get_by_label("Base URL")).to_have_value(llama_server.base_url)
    form.get_by_role("button", name="Load models").click()
    expect(form.get_by_label("Model")).to_have_value(EMBEDDED_MODEL_ALIAS)
    form.get_by_role("button", name="Save").click()
    card = page.locator('.backend[data-name="local-llama"]')
    card.get_by_role("button", name="Test").click()
    expect(card.locator(".diagnosis li").first).to_be_visible(timeout=60_000)
    expect(card.locator(".diagnosis li.bad")).to_have_count(0)

    add("nowhere", "vllm", f"http://127.0.0.1:{unused_port()}/v1")
    page.locator(".backend-form").get_by_label("Model").fill("some-model")
    page.locator(".backend-form").get_by_role("button", name="Save").click()
    dead = page.locator('.backend[data-name="nowhere"]')
    dead.get_by_role("button", name="Test").click()
    problem = dead.locator(".diagnosis li.bad").first
    expect(problem).to_contain_text("Problem:", timeout=60_000)
    expect(dead.locator(".fix").first).to_contain_text("What to do:")
    guarded.shoot("resources-desktop")
    names = page.locator(".backend-name")
    expect(names).to_have_text(["1. local-llama", "2. nowhere", "3. llm"])
    page.get_by_role("button", name="Move down: local-llama").click()
    expect(names).to_have_text(["1. nowhere", "2. local-llama", "3. llm"])
    for name in ("nowhere", "local-llama"):
        page.locator(f'.backend[data-name="{name}"]').get_by_role("button", name="Remove").click()
        page.locator("dialog").get_by_role("button", name="Remove").click()
        expect(page.locator(f'.backend[data-name="{name}"]')).to_have_count(0)


PAGES = ["chat", "documents", "collections", "resources", "retrieval", "status"]


def test_every_page_at_phone_width_in_dark_and_in_korean(open_page: PageFactory) -> None:
    phone = open_page(width=375, path="/#/status")
    expect(phone.page.locator("progress").first).to_be_visible()
    expect(phone.page.locator(".diagnosis li").first).to_be_visible(timeout=60_000)
    for name in PAGES:
        phone.page.goto(f"{phone.origin}/#/{name}")
        expect(phone.page.locator(f'main[data-page="{name}"]')).to_be_visible()
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{name} scrolls sideways at 375 px ({width} px)"
        phone.shoot(f"page-{name}-phone")
    dark = open_page(dark=True, path="/#/documents")
    expect(dark.page.locator('tr[data-status="ready"]').first).to_be_visible()
    dark.shoot("documents-dark")
    dark.page.goto(f"{dark.origin}/#/status")
    expect(dark.page.locator(".diagnosis li").first).to_be_visible(timeout=60_000)
    dark.shoot("status-desktop")
    dark.page.get_by_label("Language").select_option("ko")
    expect(dark.page.get_by_role("link", name="채팅")).to_be_visible()
    dark.page.goto(f"{dark.origin}/#/documents")
    expect(dark.page.get_by_role("heading", name="문서")).to_be_visible()
    dark.shoot("documents-korean-dark")


def test_the_api_key_is_asked_once_and_kept_for_the_tab(
    browser: Browser,
    tmp_path: Path,
    embedder: EmbeddingBackend,
    scripted: tuple[str, FaultServer],
) -> None:
    """A server of its own with RAGSERVE_API_KEY set; its chat backend is the scripted one
    (no answer is asked for: only the key prompt is under test)."""
    settings = Settings(
        data_dir=tmp_path / "data", api_key="s3cret-key", llm_base_url=scripted[0], llm_model="ok"
    )
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url:
        httpx.post(
            f"{url}/api/collections",
            json={"name": "private"},
            headers={"Authorization": "Bearer s3cret-key"},
        ).raise_for_status()
        guarded = GuardedPage(browser, url, width=1280)
        page = guarded.page
        page.goto(url + "/#/collections")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Sign in")
        dialog.get_by_label("API key").fill("wrong")
        dialog.get_by_role("button", name="Use this key").click()
        expect(page.get_by_role("dialog")).to_contain_text("That key was refused")
        page.get_by_role("dialog").get_by_label("API key").fill("s3cret-key")
        page.get_by_role("dialog").get_by_role("button", name="Use this key").click()
        expect(page.locator('tr[data-name="private"]')).to_be_visible()
        page.reload()  # the same tab: the key is kept, nothing is asked
        expect(page.locator('tr[data-name="private"]')).to_be_visible()
        expect(page.get_by_role("dialog")).to_have_count(0)
        guarded.check()
        guarded.close()
    runtime.close()


def test_large_selections_go_in_batches_and_wait_out_a_full_queue(
    browser: Browser,
    tmp_path: Path,
    embedder: EmbeddingBackend,
    scripted: tuple[str, FaultServer],
) -> None:
    """A server of its own taking 2 files per request and 2 documents in its queue: five
    files are sent in batches of the size /api/ingest/status gives, and a 429 is waited out."""
    settings = Settings(
        data_dir=tmp_path / "data",
        llm_base_url=scripted[0],
        llm_model="ok",
        ingest_max_files=2,
        ingest_queue_capacity=2,
    )
    files = []
    for i in range(5):
        path = tmp_path / f"memo-{i}.txt"
        path.write_text(f"Memo {i}: the parking garage closes at {18 + i % 3} o'clock.\n" * 20)
        files.append(path)
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url:
        httpx.post(f"{url}/api/collections", json={"name": "memos"}).raise_for_status()
        guarded = GuardedPage(browser, url, width=1280)
        page = guarded.page
        statuses: list[int] = []
        page.on(
            "response",
            lambda r: (
                statuses.append(r.status)
                if r.request.method == "POST" and r.url.endswith("/documents")
                else None
            ),
        )
        page.goto(url + "/#/documents")
        page.locator("#pick-files").set_input_files(files)
        expect(page.locator('tr[data-status="ready"]')).to_have_count(5, timeout=120_000)
        expect(page.locator(".upload.sent")).to_have_count(5)
        assert 413 not in statuses  # batches sized by the server's own limit
        assert statuses.count(202) == 3  # 2 + 2 + 1
        assert 429 in statuses  # the queue was full, and the batch was sent again after
        guarded.check()
        guarded.close()
    runtime.close()


def test_an_owner_re_indexes_a_collection_from_the_collections_page(
    open_page: PageFactory, api: httpx.Client
) -> None:
    assert api.post("/api/collections", json={"name": "legacy"}).status_code == 201
    files = {"files": ("rules.txt", b"Visitors sign in at the front desk before 9 am.\n" * 30)}
    assert api.post("/api/collections/legacy/documents", files=files).status_code == 202
    deadline = time.monotonic() + 60
    while [d["status"] for d in api.get("/api/collections/legacy/documents").json()] != ["ready"]:
        assert time.monotonic() < deadline, "the document did not become ready"
        time.sleep(0.2)
    guarded = open_page(path="/#/collections")
    page = guarded.page
    row = page.locator('tr[data-name="legacy"]')
    expect(row).to_contain_text("bm25/")  # its keyword index, by name
    row.get_by_role("button", name="Re-index: legacy").click()
    page.get_by_role("button", name="Re-index", exact=True).click()  # the dialog's
    expect(page.locator("#coll-status")).to_have_text(
        re.compile(r"“legacy” re-indexed: \d+ chunks\."), timeout=60_000
    )
    assert api.get("/api/collections/legacy/reindex").json()["status"] == "done"
    guarded.shoot("collections-reindexed")
