"""Dense, sparse and hybrid retrieval through the API, on Korean and English documents:
keyword search finds the exact names that embeddings miss, a collection indexed without a
keyword side says so, and each collection may pick its own mode."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.runtime import Runtime
from tests.apiserver import running_app, sse_events
from tests.integration.helpers import ingest

DOCUMENTS = {
    "refunds.md": "# Refunds\n\nCustomers can get their money back within 30 days of "
    "purchase. Send the receipt to the billing team; the refund is paid to the original "
    "card within a week.",
    "sync-errors.md": "# Sync client\n\nWhen the sync client stops with XK-4471, delete the "
    "stale lock file in the cache folder and start the client again.",
    "error-codes.md": "# Error codes\n\nXK-4417: the disk is full. XK-7144: the login token "
    "expired. XK-1474: the server is unreachable. Each code is shown in the status bar.",
    "vacation.md": "# Vacation\n\nEmployees get 25 vacation days a year; unused days carry "
    "over to the next year until March.",
    "환불-안내.md": "# 환불 안내\n\n구매 후 30일 이내에 환불을 요청할 수 있습니다. 영수증을 "
    "고객센터로 보내 주세요.",
    "배송-안내.md": "# 배송 안내\n\n주문한 상품은 보통 3일 안에 도착합니다. 배송 조회는 주문 "
    "번호로 할 수 있습니다.",
}


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: EmbeddingBackend,
    llama_server: EmbeddedLlamaServer,
) -> Iterator[httpx.Client]:
    """A server whose default mode is hybrid, with `docs` (indexed with a keyword side) and
    `old` (indexed with RAGSERVE_SPARSE=off: as a collection from before hybrid search)."""
    root = tmp_path_factory.mktemp("hybrid")
    folder = root / "docs"
    folder.mkdir()
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    common: dict[str, Any] = {
        "data_dir": root / "data",
        "llm_base_url": llama_server.base_url,
        "llm_model": EMBEDDED_MODEL_ALIAS,
        "llm_max_tokens": 16,
    }
    with Runtime(Settings(**common, sparse=False), embedder=embedder) as before:
        assert ingest(before, [folder], "old").count("ingested") == len(DOCUMENTS)
    settings = Settings(**common, retrieval_mode="hybrid")
    runtime = Runtime(settings, embedder=embedder)
    assert ingest(runtime, [folder], "docs").count("ingested") == len(DOCUMENTS)
    RUNTIMES["api"] = runtime  # the server's own parts, for a state a request cannot pin
    with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client
    runtime.close()


RUNTIMES: dict[str, Runtime] = {}


def _search(api: httpx.Client, query: str, **body: object) -> tuple[list[str], dict[str, Any]]:
    response = api.post("/api/search", json={"query": query, "collection": "docs", **body})
    assert response.status_code == 200, response.text
    data = response.json()
    return [Path(r["source"]).name for r in data["results"]], data


def test_sparse_finds_the_exact_code_dense_misses_and_hybrid_returns_both(
    api: httpx.Client,
) -> None:
    # Embeddings see "an error code" and pick the page of error codes.
    dense, data = _search(api, "error XK-4471", mode="dense", top_k=1)
    assert data["mode"] == "dense" and dense == ["error-codes.md"]
    sparse, data = _search(api, "error XK-4471", mode="sparse", top_k=1)
    assert data["mode"] == "sparse" and sparse == ["sync-errors.md"]
    question = "I want my money back after error XK-4471"
    assert _search(api, question, mode="dense", top_k=1)[0] == ["refunds.md"]
    assert _search(api, question, mode="sparse", top_k=1)[0] == ["sync-errors.md"]
    hybrid, data = _search(api, question, mode="hybrid", top_k=2)
    assert data["mode"] == "hybrid" and hybrid == ["refunds.md", "sync-errors.md"]


def test_korean_particles_do_not_stop_a_keyword_match(api: httpx.Client) -> None:
    found, _ = _search(api, "환불은 어떻게 받나요?", mode="sparse", top_k=1)
    assert found == ["환불-안내.md"]
    found, _ = _search(api, "배송을 조회하려면?", mode="hybrid", top_k=1)
    assert found == ["배송-안내.md"]


def test_a_collection_without_a_keyword_side_says_to_reindex(api: httpx.Client) -> None:
    refused = api.post(
        "/api/search", json={"query": "XK-4471", "collection": "old", "mode": "hybrid"}
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "sparse_index_missing"
    assert "'old'" in error["message"] and "re-index" in error["message"]
    # The server default (hybrid) falls back to dense for it, and says so.
    fallback = api.post("/api/search", json={"query": "XK-4471", "collection": "old"}).json()
    assert fallback["mode"] == "dense" and "re-index" in fallback["notice"]
    assert fallback["results"]
    assert api.patch("/api/collections/old", json={"retrieval_mode": "sparse"}).status_code == 409
    chat = api.post(
        "/api/chat", json={"message": "XK-4471?", "collection": "old", "mode": "sparse"}
    )
    assert chat.status_code == 409
    v1 = api.post(
        "/v1/chat/completions",
        json={
            "model": "rag:old",
            "messages": [{"role": "user", "content": "XK-4471?"}],
            "retrieval_mode": "hybrid",
        },
    )
    assert v1.status_code == 409 and v1.json()["error"]["type"] == "sparse_index_missing"
    info = api.get("/api/collections/old").json()
    assert info["sparse_encoding"] is None and info["retrieval_mode"] is None


def test_a_collection_overrides_the_server_default(api: httpx.Client) -> None:
    assert _search(api, "vacation days")[1]["mode"] == "hybrid"  # RAGSERVE_RETRIEVAL_MODE
    patched = api.patch("/api/collections/docs", json={"retrieval_mode": "dense"})
    assert patched.status_code == 200 and patched.json()["retrieval_mode"] == "dense"
    assert patched.json()["sparse_encoding"].startswith("bm25/")
    assert _search(api, "vacation days")[1]["mode"] == "dense"
    assert _search(api, "vacation days", mode="sparse")[1]["mode"] == "sparse"  # request wins
    api.patch("/api/collections/docs", json={"retrieval_mode": None})
    assert _search(api, "vacation days")[1]["mode"] == "hybrid"
    created = api.post("/api/collections", json={"name": "kw", "retrieval_mode": "sparse"})
    assert created.status_code == 201 and created.json()["retrieval_mode"] == "sparse"


def test_chat_uses_the_mode_asked_for(api: httpx.Client) -> None:
    with api.stream(
        "POST",
        "/api/chat",
        json={"message": "XK-4471", "collection": "docs", "mode": "sparse", "top_k": 1},
    ) as response:
        assert response.status_code == 200
        events = dict(sse_events(response))
    done = json.loads(events["done"])
    assert done["retrieval_mode"] == "sparse"
    assert Path(done["sources"][0]["source"]).name == "sync-errors.md"
    v1 = api.post(
        "/v1/chat/completions",
        json={
            "model": "rag:docs",
            "messages": [{"role": "user", "content": "XK-4471"}],
            "retrieval_mode": "sparse",
            "max_tokens": 8,
        },
    )
    assert v1.status_code == 200, v1.text


def test_the_server_reindexes_an_old_collection_and_then_it_searches_by_keyword(
    api: httpx.Client,
) -> None:
    """`ragserve reindex` refuses to run beside a server; the API does it in the server."""
    assert api.get("/api/collections/old/reindex").json()["status"] == "none"
    assert api.get("/api/collections/nosuch/reindex").status_code == 404
    started = api.post("/api/collections/old/reindex")
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"
    assert started.json()["documents"] == len(DOCUMENTS)
    deadline = time.monotonic() + 120
    while (status := api.get("/api/collections/old/reindex").json())["status"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == "done", status
    assert status["done"] == len(DOCUMENTS) and status["failed"] == 0
    assert status["sparse_encoding"] and status["chunks"] >= len(DOCUMENTS)
    assert api.get("/api/collections/old").json()["sparse_encoding"] == status["sparse_encoding"]
    found = api.post(
        "/api/search", json={"query": "XK-4471", "collection": "old", "mode": "sparse", "top_k": 1}
    )
    assert found.status_code == 200, found.text
    assert [Path(r["source"]).name for r in found.json()["results"]] == ["sync-errors.md"]


def test_a_collection_being_reindexed_takes_no_other_work(api: httpx.Client) -> None:
    """While a re-index runs, what would be lost or undone at its switch is refused with a
    409 that says so. The run is held open through the server's own ingest service, so the
    test does not race a re-index of six short files."""
    ingest_service = RUNTIMES["api"].ingest
    ingest_service.hold_for_reindex("docs")
    try:
        upload = api.post(
            "/api/collections/docs/documents", files=[("files", ("new.md", b"# New\n\nText."))]
        )
        assert upload.status_code == 409, upload.text
        error = upload.json()["error"]
        assert error["type"] == "collection_busy" and "re-indexed" in error["message"]
        doc = api.get("/api/collections/docs/documents").json()[0]
        assert api.delete(f"/api/collections/docs/documents/{doc['id']}").status_code == 409
        assert api.post("/api/collections/docs/reindex").status_code == 409
        assert api.delete("/api/collections/docs").status_code == 409
        assert api.post("/api/search", json={"query": "refund", "collection": "docs"}).json()[
            "results"
        ]  # searching goes on
    finally:
        ingest_service.release_reindex("docs")


def test_vectors_a_cut_short_reindex_left_are_freed_when_the_server_starts(
    tmp_path: Path, embedder: EmbeddingBackend, llama_server: EmbeddedLlamaServer
) -> None:
    """A server stopped mid-re-index leaves the half-built vectors on disk, used by no
    collection; the next start drops them and keeps every collection's own."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "refunds.md").write_text(DOCUMENTS["refunds.md"], encoding="utf-8")
    settings = Settings(
        data_dir=tmp_path / "data", llm_base_url=llama_server.base_url,
        llm_model=EMBEDDED_MODEL_ALIAS,
    )  # fmt: skip
    with Runtime(settings, embedder=embedder) as runtime:
        assert ingest(runtime, [folder], "docs").count("ingested") == 1
        live = runtime.catalog.collections.get("docs")
        assert live is not None
        half_built = f"{live.vector_collection}__r1764000000000000000"
        runtime.vectors.create(half_built, embedder.dimension, sparse=True)
        # Not derived from any collection this database knows: left alone.
        runtime.vectors.create("unknown__x__384", embedder.dimension)
        edge = settings.data_dir / "vectors" / "edge"
        assert (edge / half_built).is_dir()
        with running_app(settings, runtime) as url:
            assert not (edge / half_built).exists()
            assert (edge / "unknown__x__384").is_dir()
            found = httpx.post(
                f"{url}/api/search", json={"query": "refund", "collection": "docs"}, timeout=60
            )
            assert [Path(r["source"]).name for r in found.json()["results"]] == ["refunds.md"]
