"""The routes the web UI uses, against a real server: real embedder, real llama.cpp.

The scripted server (tests/fakes/fault_server.py) appears once, as a chat backend that
streams slowly and records the client leaving: a real server cannot report that.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ragserve.api.security_headers import CONTENT_SECURITY_POLICY
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.runtime import Runtime
from tests.apiserver import running_app, sse_events, wait_for_documents
from tests.conftest import SAMPLES
from tests.fakes.fault_server import FaultServer, running_fault_server


@pytest.fixture(scope="module")
def fault() -> Iterator[tuple[str, FaultServer]]:
    with running_fault_server() as server:
        yield server


@pytest.fixture(scope="module")
def ui(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: EmbeddingBackend,
    llama_server: EmbeddedLlamaServer,
) -> Iterator[httpx.Client]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("ui") / "data",
        llm_base_url=llama_server.base_url,
        llm_model=EMBEDDED_MODEL_ALIAS,
        llm_max_tokens=24,
        ingest_parallel=1,
    )
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client
    runtime.close()


def _upload(client: httpx.Client, collection: str, files: list[tuple[str, bytes]]) -> str:
    response = client.post(
        f"/api/collections/{collection}/documents",
        files=[("files", (name, data)) for name, data in files],
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _long_text(topic: str, paragraphs: int = 40) -> bytes:
    """A text long enough that indexing it takes a noticeable moment."""
    body = "\n\n".join(
        f"Section {i} about {topic}: the {topic} rules say item {i} is handled by team {i % 7}, "
        f"reviewed every {i % 12 + 1} months and archived after {i % 5 + 2} years."
        for i in range(paragraphs)
    )
    return body.encode()


def test_documents_page_sort_filter_and_total(ui: httpx.Client) -> None:
    names = [f"note-{i:02d}.md" for i in range(12)] + ["travel-report.md", "Report-2026.md"]
    files = [(n, f"# {n}\n\nParking rules number {i}.".encode()) for i, n in enumerate(names)]
    files.append(("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100))
    _upload(ui, "paged", files)
    wait_for_documents(ui, "paged", len(files))

    everything = ui.get("/api/collections/paged/documents")
    assert len(everything.json()) == 15 and everything.headers["x-total-count"] == "15"

    page = ui.get("/api/collections/paged/documents", params={"limit": 5, "offset": 5})
    assert page.headers["x-total-count"] == "15"
    ordered = sorted(n for n, _ in files)
    assert [d["source"] for d in page.json()] == ordered[5:10]

    last = ui.get("/api/collections/paged/documents", params={"limit": 3, "sort": "-name"})
    assert [d["source"] for d in last.json()] == ordered[::-1][:3]

    found = ui.get("/api/collections/paged/documents", params={"q": "REPORT", "limit": 50})
    assert sorted(d["source"] for d in found.json()) == ["Report-2026.md", "travel-report.md"]
    assert found.headers["x-total-count"] == "2"

    failed = ui.get("/api/collections/paged/documents", params={"status": "failed", "limit": 10})
    assert [d["source"] for d in failed.json()] == ["broken.pdf"]
    assert failed.headers["x-total-count"] == "1"

    by_status = ui.get("/api/collections/paged/documents", params={"sort": "status", "limit": 1})
    assert by_status.json()[0]["status"] == "failed"  # "failed" sorts before "ready"
    newest = ui.get("/api/collections/paged/documents", params={"sort": "-updated", "limit": 15})
    stamps = [d["updated_at"] for d in newest.json()]
    assert stamps == sorted(stamps, reverse=True)

    bad = ui.get("/api/collections/paged/documents", params={"sort": "size"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "sort"


def test_conversations_list_create_rename_delete(ui: httpx.Client) -> None:
    _upload(ui, "talk", [("leave.md", b"# Leave\n\nEveryone gets 25 vacation days a year.")])
    wait_for_documents(ui, "talk", 1)
    empty = ui.post("/api/conversations", json={"collection": "talk"})
    assert empty.status_code == 201
    assert empty.json()["title"] == "New conversation" and empty.json()["message_count"] == 0

    question = (
        "How many vacation days do we get each year, and can the unused days be carried over "
        "into the next year?"
    )
    chat = ui.post("/api/chat", json={"message": question, "conversation_id": empty.json()["id"]})
    assert sse_events(chat)[-1][0] == "done"
    named = ui.post("/api/conversations", json={"title": "Parking", "collection": "talk"})

    listed = ui.get("/api/conversations", params={"collection": "talk"})
    assert listed.headers["x-total-count"] == "2"
    first, second = listed.json()
    assert first["id"] == named.json()["id"]  # newest first
    assert second["message_count"] == 2
    assert second["title"].startswith("How many vacation days") and second["title"].endswith("…")
    assert len(second["title"]) <= 80

    renamed = ui.patch(f"/api/conversations/{second['id']}", json={"title": "Vacation"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Vacation"
    stored = ui.get(f"/api/conversations/{second['id']}").json()
    assert stored["title"] == "Vacation" and len(stored["messages"]) == 2

    assert ui.delete(f"/api/conversations/{second['id']}").status_code == 204
    assert ui.get(f"/api/conversations/{second['id']}").status_code == 404
    assert ui.delete(f"/api/conversations/{second['id']}").status_code == 404
    assert ui.patch(f"/api/conversations/{second['id']}", json={"title": "x"}).status_code == 404
    assert ui.patch(f"/api/conversations/{first['id']}", json={"title": ""}).status_code == 400
    assert (
        ui.get("/api/conversations", params={"collection": "talk"}).json()[0]["id"] == (first["id"])
    )


def test_original_file_is_served_safely(ui: httpx.Client) -> None:
    page = b"<html><body><script>alert(1)</script><p>Badges open doors.</p></body></html>"
    pdf = (SAMPLES / "northwind-benefits-2026.pdf").read_bytes()
    _upload(ui, "files", [("page.html", page), ("benefits 2026.pdf", pdf)])
    docs = {d["source"]: d for d in wait_for_documents(ui, "files", 2)}

    served = ui.get(f"/api/collections/files/documents/{docs['page.html']['id']}/file")
    assert served.status_code == 200 and served.content == page
    assert served.headers["content-type"] == "text/plain; charset=utf-8"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"] == "inline; filename*=UTF-8''page.html"

    pdf_doc = docs["benefits 2026.pdf"]
    served = ui.get(f"/api/collections/files/documents/{pdf_doc['id']}/file")
    assert served.headers["content-type"] == "application/pdf" and served.content == pdf
    assert served.headers["content-disposition"] == ("inline; filename*=UTF-8''benefits%202026.pdf")

    assert ui.delete(f"/api/collections/files/documents/{pdf_doc['id']}").status_code == 204
    gone = ui.get(f"/api/collections/files/documents/{pdf_doc['id']}/file")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found_error"


def test_cancel_a_job_and_one_file(ui: httpx.Client) -> None:
    job_id = _upload(ui, "cancel-job", [(f"long-{i}.txt", _long_text(f"t{i}")) for i in range(5)])
    cancelled = ui.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200
    job = cancelled.json()
    assert job["done"] and sum(job["counts"].values()) == 5, job
    stopped = [i for i in job["items"] if i["status"] == "failed"]
    assert stopped and all(i["error"] == "cancelled" and i["chunks"] == 0 for i in stopped)
    assert {i["status"] for i in job["items"]} <= {"ready", "failed"}

    other = _upload(ui, "cancel-one", [(f"doc-{i}.txt", _long_text(f"d{i}")) for i in range(4)])
    last = ui.get(f"/api/jobs/{other}").json()["items"][-1]
    one = ui.post(f"/api/collections/cancel-one/documents/{last['document_id']}/cancel")
    assert one.status_code == 200
    assert one.json()["status"] == "failed" and one.json()["error"] == "cancelled"

    # The rest go on; the cancelled ones stay cancelled and out of answers.
    docs = {d["source"]: d for d in wait_for_documents(ui, "cancel-one", 4)}
    assert docs[last["source"]]["error"] == "cancelled" and docs[last["source"]]["chunks"] == 0
    assert all(d["status"] == "ready" for s, d in docs.items() if s != last["source"])
    hits = ui.post("/api/search", json={"collection": "cancel-one", "query": "d3 rules"}).json()
    assert last["source"] not in {r["source"] for r in hits["results"]}
    for doc in wait_for_documents(ui, "cancel-job", 5):
        assert doc["status"] == "ready" or doc["error"] == "cancelled"
    deadline = time.monotonic() + 30  # the last outcome is recorded just after its row
    while ui.get("/api/ingest/status").json()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ui.get("/api/ingest/status").json()["in_flight"] == 0

    again = ui.post(f"/api/collections/cancel-one/documents/{last['document_id']}/reindex")
    assert again.status_code == 202
    assert wait_for_documents(ui, "cancel-one", 4)[-1]["status"] == "ready"
    # Cancelling what is finished changes nothing.
    done = ui.post(f"/api/collections/cancel-one/documents/{last['document_id']}/cancel")
    assert done.json()["status"] == "ready"


def test_collections_show_counts_chunks_and_bytes(ui: httpx.Client) -> None:
    files = [
        ("a.md", b"# Desks\n\nHot desks are booked a day ahead."),
        ("b.md", b"# Lockers\n\nLockers are emptied on Fridays."),
        ("bad.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100),
    ]
    _upload(ui, "sizes", files)
    docs = wait_for_documents(ui, "sizes", 3)
    info = ui.get("/api/collections/sizes").json()
    assert info["documents"] == {"ready": 2, "failed": 1} and info["documents_ready"] == 2
    assert info["chunks"] == sum(d["chunks"] for d in docs) > 0
    assert info["stored_bytes"] == sum(len(data) for _, data in files)
    assert info["embedding_model"]
    listed = {c["name"]: c for c in ui.get("/api/collections").json()}
    assert listed["sizes"] == info


def test_models_probe_lists_models_or_says_why(
    ui: httpx.Client, llama_server: EmbeddedLlamaServer
) -> None:
    found = ui.post("/api/resources/models", json={"base_url": llama_server.base_url + "/"})
    assert found.status_code == 200, found.text
    assert found.json()["models"] and found.json()["base_url"] == llama_server.base_url

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = ui.post("/api/resources/models", json={"base_url": f"http://127.0.0.1:{port}"})
    assert closed.status_code == 502
    assert "cannot connect" in closed.json()["error"]["message"]
    assert f"127.0.0.1:{port}/v1/models" in closed.json()["error"]["message"]

    bad = ui.post("/api/resources/models", json={"base_url": "file:///etc/passwd"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "base_url"


def test_backends_reorder_and_keys_are_never_returned(
    ui: httpx.Client, fault: tuple[str, FaultServer]
) -> None:
    url, _ = fault
    secret = "sk-never-shown-7f3a"
    for name in ("first", "second"):
        put = ui.put(
            f"/api/resources/backends/{name}",
            json={"base_url": url, "model": "ok", "api_key": secret},
        )
        assert put.status_code == 200 and secret not in put.text
    try:
        listed = ui.get("/api/resources/backends")
        assert secret not in listed.text
        stored = [b for b in listed.json() if b["source"] == "store"]
        assert [b["name"] for b in stored] == ["first", "second"]
        assert all(b["has_api_key"] for b in stored)

        ordered = ui.put("/api/resources/order", json={"names": ["second"]})
        assert ordered.status_code == 200 and secret not in ordered.text
        assert [b["name"] for b in ordered.json()][:3] == ["second", "first", "llm"]
        again = ui.get("/api/resources/backends").json()
        assert [b["name"] for b in again][:2] == ["second", "first"]

        unknown = ui.put("/api/resources/order", json={"names": ["llm"]})
        assert unknown.status_code == 404  # settings' backends cannot be moved here
        assert secret not in ui.get("/openapi.json").text
    finally:
        for name in ("first", "second"):
            ui.delete(f"/api/resources/backends/{name}")


def test_embedding_is_described(ui: httpx.Client, embedder: EmbeddingBackend) -> None:
    info = ui.get("/api/resources/embedding").json()
    assert info["model"] == embedder.model_id and info["dimension"] == embedder.dimension
    assert info["swappable"] is False and "re-index" in info["note"]


def test_security_headers_on_pages_and_api(ui: httpx.Client) -> None:
    for path in ("/", "/api/collections", "/api/collections/missing"):
        response = ui.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY


def test_status_events_follow_documents_to_ready_and_failed(ui: httpx.Client) -> None:
    assert ui.post("/api/collections", json={"name": "live"}).status_code == 201
    seen: list[dict[str, object]] = []
    connected = threading.Event()

    def finished() -> bool:
        final = {str(d["source"]): d["status"] for d in seen}
        return final.get("ok.md") == "ready" and final.get("bad.pdf") == "failed"

    def follow() -> None:
        """Reads events as EventSource does: reconnecting with Last-Event-ID when the
        server ends an idle stream, until both documents ended."""
        last_id: str | None = None
        while not finished():
            headers = {"Last-Event-ID": last_id} if last_id else {}
            path = "/api/collections/live/documents/events"
            with ui.stream("GET", path, headers=headers) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                connected.set()
                name = ""
                for line in response.iter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:") and name == "document":
                        seen.append(json.loads(line[5:]))
                        if finished():
                            return
            time.sleep(0.2)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert connected.wait(30)
    _upload(ui, "live", [("ok.md", b"# Keys\n\nKeys are at reception."), ("bad.pdf", b"%PDF-1")])
    reader.join(60)
    assert finished(), seen
    ok = [d for d in seen if d["source"] == "ok.md"][-1]
    assert ok["chunks"] and ok["id"] in {
        d["id"]
        for d in ui.get(
            "/api/collections/live/documents", params={"status": "ready", "limit": 10}
        ).json()
    }
    bad = [d for d in seen if d["source"] == "bad.pdf"][-1]
    assert bad["error"]  # the reason, as the list shows it
    assert ui.get("/api/collections/nope/documents/events").status_code == 404


def test_closing_a_chat_stream_stops_the_backend_stream(
    ui: httpx.Client, fault: tuple[str, FaultServer]
) -> None:
    """Stop in the UI closes the /api/chat stream; the scripted backend records ragserve
    hanging up on it long before its 400-token answer would have ended."""
    url, server = fault
    _upload(ui, "stop", [("leave.md", b"# Leave\n\nEveryone gets 25 vacation days a year.")])
    wait_for_documents(ui, "stop", 1)
    model = "paced-400-50"
    assert ui.put("/api/resources/backends/slow", json={"base_url": url, "model": model}).is_success
    try:
        body = {"message": "How many vacation days?", "collection": "stop"}
        with ui.stream("POST", "/api/chat", json=body) as response:
            tokens = 0
            for line in response.iter_lines():
                tokens += line.startswith("event: token")
                if tokens == 3:
                    break  # the user pressed Stop: the connection closes here
        deadline = time.monotonic() + 15
        while not any(m == model for m, _ in server.gone) and time.monotonic() < deadline:
            time.sleep(0.1)
        sent = [n for m, n in server.gone if m == model]
        assert sent and sent[0] < 400
    finally:
        ui.delete("/api/resources/backends/slow")
