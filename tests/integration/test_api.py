"""The REST + SSE API on a real uvicorn server, real llama.cpp and the real embedder."""

from __future__ import annotations

import json

import httpx

from tests.apiserver import sse_events, wait_for_documents
from tests.docs import make_pdf

QUESTION = "How many vacation days do Northwind employees get?"


def test_health_ready_and_openapi(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"embedder", "database", "store", "chat"}
    paths = api.get("/openapi.json").json()["paths"]
    expected = {
        "/api/chat", "/api/ingest/status", "/api/search", "/v1/models", "/v1/chat/completions",
        "/v1/embeddings", "/api/collections/{name}/documents", "/api/jobs/{job_id}",
    }  # fmt: skip
    assert expected <= set(paths)
    assert "ragserve" in api.get("/").text  # the web UI slot serves static files


def test_upload_job_reports_every_document(api: httpx.Client) -> None:
    job = api.get(f"/api/jobs/{api.headers['x-job-id']}").json()
    assert job["done"] and job["counts"] == {"ready": 5}
    assert {i["source"] for i in job["items"]} == {
        "northwind-handbook.md", "security-policy.html", "it-faq.txt",
        "northwind-benefits-2026.pdf", "onboarding-checklist.docx",
    }  # fmt: skip
    assert all(i["chunks"] > 0 for i in job["items"])
    status = api.get("/api/ingest/status").json()
    assert status["in_flight"] == 0 and status["accepting"] and status["capacity"] == 1000
    # The upload limits a client (the web UI) sizes its batches by.
    assert status["max_files"] == 100 and status["max_request_bytes"] == 512 * 2**20


def test_collections_create_list_get_delete(api: httpx.Client) -> None:
    created = api.post("/api/collections", json={"name": "crud"})
    assert created.status_code == 201
    assert created.json()["embedding_model"] == "all-MiniLM-L6-v2-int8"
    again = api.post("/api/collections", json={"name": "crud"})
    assert again.status_code == 409 and again.json()["error"]["type"] == "conflict_error"
    other = api.post("/api/collections", json={"name": "x2", "embedding_model": "bge-m3"})
    assert other.status_code == 400 and "bge-m3" in other.json()["error"]["message"]
    bad = api.post("/api/collections", json={"name": "../etc"})
    assert bad.status_code == 400
    assert "crud" in [c["name"] for c in api.get("/api/collections").json()]
    assert api.get("/api/collections/crud").json()["documents_ready"] == 0
    assert api.delete("/api/collections/crud").status_code == 204
    missing = api.get("/api/collections/crud")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}


def test_bad_files_fail_alone_with_reasons(api: httpx.Client) -> None:
    files = [
        ("files", ("good.md", b"# Parking\n\nVisitors park in lot C behind the warehouse.")),
        ("files", ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100)),
        ("files", ("tool.exe", b"MZ\x90\x00" + bytes(range(256)))),
    ]
    response = api.post("/api/collections/mixed/documents", files=files)
    assert response.status_code == 202, response.text
    items = {i["source"]: i for i in response.json()["items"]}
    assert items["tool.exe"]["status"] == "failed"
    assert "unsupported" in items["tool.exe"]["error"]
    docs = {d["source"]: d for d in wait_for_documents(api, "mixed", 2)}
    assert docs["good.md"]["status"] == "ready"
    assert docs["broken.pdf"]["status"] == "failed" and docs["broken.pdf"]["error"]
    failed = api.get("/api/collections/mixed/documents", params={"status": "failed"}).json()
    assert [d["source"] for d in failed] == ["broken.pdf"]


def test_refused_uploads_get_415_and_413(api: httpx.Client) -> None:
    binary = api.post(
        "/api/collections/refused/documents",
        files=[("files", ("notes.txt", bytes(range(256)) * 4, "text/plain"))],
    )
    assert binary.status_code == 415
    assert binary.json()["error"]["type"] == "unsupported_media_type"
    assert "notes.txt" in binary.json()["error"]["message"]
    many = [("files", (f"f{i}.txt", b"hello there")) for i in range(101)]
    too_many = api.post("/api/collections/refused/documents", files=many)
    assert too_many.status_code == 413 and "101 files" in too_many.json()["error"]["message"]
    assert api.get("/api/collections/refused").status_code == 404  # nothing was kept


def test_names_are_sanitised_and_types_sniffed(api: httpx.Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pdf = make_pdf(tmp_path / "x.pdf", ["The canteen opens at 7:30 every weekday."])
    files = [
        ("files", ("../../../evil.md", b"# Evil\n\nThis file tried to escape.")),
        # A PDF sent as text, with a lying content type: its bytes decide.
        ("files", ("menu.txt", pdf.read_bytes(), "text/plain")),
    ]
    response = api.post("/api/collections/names/documents", files=files)
    assert response.status_code == 202
    docs = {d["source"]: d for d in wait_for_documents(api, "names", 2)}
    assert set(docs) == {"evil.md", "menu.txt.pdf"}
    assert docs["menu.txt.pdf"]["kind"] == "pdf" and docs["menu.txt.pdf"]["status"] == "ready"
    hits = api.post("/api/search", json={"collection": "names", "query": "canteen hours"}).json()
    assert hits["results"][0]["source"] == "menu.txt.pdf"


def test_search_delete_and_reindex(api: httpx.Client) -> None:
    # Dense: every query gets top_k passages with cosine scores (keyword search returns only
    # passages sharing a term, and hybrid's scores are fused ranks).
    body = {"collection": "samples", "query": "VPN setup", "top_k": 3, "mode": "dense"}
    hits = api.post("/api/search", json=body).json()
    assert len(hits["results"]) == 3 and hits["indexing"] == []
    top = hits["results"][0]
    assert top["source"] == "it-faq.txt" and top["score"] > 0.3 and top["text"]

    files = [("files", ("temp.md", b"# Temporary\n\nThe zebra crossing is painted purple."))]
    api.post("/api/collections/samples/documents", files=files)
    docs = wait_for_documents(api, "samples", 6)
    temp = next(d for d in docs if d["source"] == "temp.md")
    job = api.post(f"/api/collections/samples/documents/{temp['id']}/reindex")
    assert job.status_code == 202
    wait_for_documents(api, "samples", 6)
    assert api.get(f"/api/jobs/{job.json()['id']}").json()["counts"] == {"ready": 1}
    assert api.delete(f"/api/collections/samples/documents/{temp['id']}").status_code == 204
    after = api.post("/api/search", json={"collection": "samples", "query": "purple zebra"})
    assert all(r["source"] != "temp.md" for r in after.json()["results"])
    assert api.get(f"/api/collections/samples/documents/{temp['id']}").status_code == 404


def test_chat_streams_tokens_then_citations_then_done(api: httpx.Client) -> None:
    with api.stream("POST", "/api/chat", json={"message": QUESTION, "collection": "samples"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"token"} and len(names) > 5
    text = "".join(json.loads(d)["text"] for n, d in events if n == "token")
    assert "25" in text
    cited = json.loads(events[-2][1])["citations"]
    assert cited[0]["source"] == "northwind-handbook.md"
    done = json.loads(events[-1][1])
    assert done["answer"].startswith(text.strip()[:20])


def test_conversations_are_stored_and_continued(api: httpx.Client) -> None:
    first = sse_events(api.post("/api/chat", json={"message": QUESTION, "collection": "samples"}))
    conv_id = json.loads(first[0][1])["conversation_id"]
    second = api.post("/api/chat", json={"message": "And sick days?", "conversation_id": conv_id})
    events = sse_events(second)
    assert events[-1][0] == "done"
    stored = api.get(f"/api/conversations/{conv_id}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"] * 2
    assert stored["messages"][2]["content"] == "And sick days?"
    # Inline history works without storing anything.
    inline = api.post("/api/chat", json={
        "message": "And sick days?", "collection": "samples",
        "history": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "25."}],
    })  # fmt: skip
    inline_events = sse_events(inline)
    assert json.loads(inline_events[0][1])["conversation_id"] is None
    assert "sick" in json.loads(inline_events[-1][1])["query"].lower()


def test_chat_errors_before_the_stream_are_statuses(api: httpx.Client) -> None:
    missing = api.post("/api/chat", json={"message": "hi", "collection": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    unknown = api.post("/api/chat", json={"message": "hi", "conversation_id": "nope"})
    assert unknown.status_code == 404
    invalid = api.post("/api/chat", json={"message": ""})
    assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "message"


def test_concurrent_chats_on_the_embedded_server_all_finish(api: httpx.Client) -> None:
    """llama-cpp-python's server cuts a stream when another request arrives unless told
    not to; ragserve starts it so that concurrent users queue instead."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(_: int) -> str:
        events = sse_events(
            api.post("/api/chat", json={"message": QUESTION, "collection": "samples"})
        )
        return events[-1][0]

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(ask, range(3))) == ["done", "done", "done"]
