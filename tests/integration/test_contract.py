"""The API contract: a live server answers only as its OpenAPI spec says.

schemathesis fuzzes every route of the real server (real embedder and store, the scripted
OpenAI-compatible server as the chat backend, a document indexed in the default collection
so chat and search reach real answers). The server never calls a host other than loopback:
the admin key is set, so the fuzzer cannot add a backend (the Resources routes refuse it),
and those routes are exercised below with loopback URLs only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app, wait_for_documents
from tests.fakes.fault_server import running_fault_server

ADMIN_KEY = "contract-admin-key"
CONFIG = Path(__file__).with_name("schemathesis.toml")
HANDBOOK = b"# Handbook\n\nEvery employee gets 25 vacation days a year.\n"
# Bounded so that the whole module adds about two minutes on 2 cores; the seed makes a
# failure reproducible (`st replay` or the same command against a server of one's own).
MAX_EXAMPLES = 25
SEED = 20261123

# RFC 3339 date-time: the offset (or Z) is required.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class Server:
    def __init__(self, url: str, fault_url: str, client: httpx.Client) -> None:
        self.url = url
        self.fault_url = fault_url
        self.client = client
        self.spec: dict[str, Any] = client.get("/openapi.json").json()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, embedder: EmbeddingBackend
) -> Iterator[Server]:
    with running_fault_server() as (fault_url, _):
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("contract") / "data",
            llm_base_url=fault_url,
            llm_model="ok",
            admin_key=ADMIN_KEY,
        )
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as c:
            uploaded = c.post(
                f"/api/collections/{settings.collection}/documents",
                files=[("files", ("handbook.md", HANDBOOK))],
            )
            assert uploaded.status_code == 202, uploaded.text
            wait_for_documents(c, settings.collection, 1)
            yield Server(url, fault_url, c)
        runtime.close()


def test_schemathesis_finds_nothing(server: Server, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(CONFIG),
        "run", f"{server.url}/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",
        "--request-timeout", "60",
        "--no-color",
    ]  # fmt: skip
    # Its cache and reports go to tmp_path; loopback is never sent through a proxy.
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr)
    summary = run.stdout[run.stdout.rfind("\n", 0, run.stdout.rfind(" SUMMARY ")) + 1 :]
    print(summary)
    # Failures with their curl reproductions; generated bodies can be huge, so lines are cut.
    found = run.stdout[run.stdout.find("=== FAILURES") : run.stdout.find("=== WARNINGS")]
    report = "\n".join(line[:400] for line in found.splitlines())
    assert run.returncode == 0, f"{report}\n{summary}\n{run.stderr[-3000:]}"
    assert re.search(r"\d+ generated, (\d+) passed", summary), summary
    assert "Tested: 55" in summary, summary  # every operation, sign-in included
    # The fuzzer could not change where the server sends requests.
    chain = server.client.get("/api/resources/backends").json()
    assert [(b["name"], b["source"]) for b in chain] == [("llm", "settings")]


def _concrete(path: str) -> str:
    """A path template with its parameters filled in with values of the right shape."""
    values = {"name": "handbook", "doc_id": str(uuid.uuid4()), "job_id": str(uuid.uuid4())}
    values["conversation_id"] = str(uuid.uuid4())
    values.update(key_id="1", kind="user", member="someone")
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_405_allow_lists_every_method_of_the_path(server: Server) -> None:
    # GET and POST of one path are two routes, and the web UI is served from "/": Allow
    # must still list exactly what the spec offers at that path.
    for path, operations in server.spec["paths"].items():
        documented = {m.upper() for m in operations}
        method = "PATCH" if "PATCH" not in documented else "TRACE"
        response = server.client.request(method, _concrete(path))
        assert response.status_code == 405, (path, response.text)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed - {"HEAD"} == documented, (path, response.headers["allow"])
        assert response.json()["error"]["type"] == "invalid_request_error"
    # `from-paths` is not a document id, so only its own POST is allowed there.
    options = server.client.options("/api/collections/c/documents/from-paths")
    assert options.status_code == 405 and options.headers["allow"] == "POST"
    # The web UI's files are still served, and only read.
    assert server.client.get("/").headers["content-type"].startswith("text/html")
    page = server.client.post("/index.html")
    assert page.status_code == 405 and page.headers["allow"] == "GET, HEAD"
    assert server.client.get("/no-such-page").status_code == 404


def test_datetimes_are_rfc3339_with_an_offset(server: Server) -> None:
    c = server.client
    created = c.post("/api/collections", json={"name": "stamps"})
    job = c.post("/api/collections/stamps/documents", files=[("files", ("a.md", HANDBOOK))])
    assert created.status_code == 201 and job.status_code == 202, job.text
    documents = c.get("/api/collections/stamps/documents").json()
    listed = c.get(f"/api/jobs/{job.json()['id']}").json()
    stamps = [created.json()["created_at"], job.json()["created_at"], listed["created_at"]]
    stamps += [documents[0]["updated_at"], c.get("/api/collections/stamps").json()["created_at"]]
    for stamp in stamps:
        assert RFC3339.match(stamp), stamp
        assert datetime.fromisoformat(stamp).utcoffset() is not None
    schemas = server.spec["components"]["schemas"]
    for model, field in [("CollectionInfo", "created_at"), ("DocumentInfo", "updated_at")]:
        assert schemas[model]["properties"][field]["format"] == "date-time"


def test_every_error_status_is_declared_with_the_error_body(server: Server) -> None:
    error_ref = "#/components/schemas/ErrorResponse"
    for path, operations in server.spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            for status, response in responses.items():
                if int(status) < 400 or (path, status) == ("/readyz", "503"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, (method, path, status)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "400" in responses, (method, path)  # what validation answers
    assert "HTTPValidationError" not in server.spec["components"]["schemas"]
    # Constraints are JSON Schema keywords (minimum...), never pydantic's names left over.
    assert not re.search(r'"(ge|le|gt|lt)":', json.dumps(server.spec))


def _declared(server: Server, method: str, template: str, response: httpx.Response) -> None:
    """``response`` has a status the spec lists for the operation, and the body it says."""
    operation = server.spec["paths"][template][method.lower()]
    assert str(response.status_code) in operation["responses"], (template, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str)


def test_inputs_the_schema_refuses_are_400_not_500(server: Server) -> None:
    # Each of these was a 500 or an undeclared status before the constraints were in the spec.
    c = server.client
    cases: list[tuple[str, str, httpx.Response, str | None]] = [
        ("GET", "/api/jobs", c.get("/api/jobs", params={"limit": 10**30}), "limit"),
        ("POST", "/api/collections", c.post("/api/collections", json={"name": "a b"}), "name"),
        ("GET", "/api/collections/{name}", c.get("/api/collections/-x"), "name"),
        (
            "POST",
            "/v1/embeddings",
            c.post("/v1/embeddings", json={"model": "default", "input": [[1, 2]]}),
            "input",
        ),
    ]
    for method, template, response, param in cases:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
        _declared(server, method, template, response)
    # Re-indexing in a collection that does not exist creates nothing.
    reindex = c.post(f"/api/collections/ghost/documents/{uuid.uuid4()}/reindex")
    assert reindex.status_code == 404 and c.get("/api/collections/ghost").status_code == 404
    # Ids are the server's UUIDs: anything else names no resource.
    assert c.get("/api/jobs/not-a-job").status_code == 404
    assert c.get(f"/api/jobs/{uuid.uuid4()}").status_code == 404


def test_resources_routes_with_loopback_backends(server: Server) -> None:
    """What the fuzzer is kept away from, with the admin key and loopback URLs only."""
    c = server.client
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    put = "/api/resources/backends/{name}"
    backend = {"kind": "openai", "base_url": server.fault_url, "model": "ok"}

    refused = c.put("/api/resources/backends/spare", json=backend)
    assert refused.status_code == 403
    _declared(server, "PUT", put, refused)
    non_ascii_key = c.put(
        "/api/resources/backends/spare", json={**backend, "api_key": "clé"}, headers=admin
    )
    assert non_ascii_key.status_code == 400, non_ascii_key.text  # was a 500
    assert non_ascii_key.json()["error"]["param"] == "api_key"
    far = c.put("/api/resources/backends/spare", json={**backend, "position": 2**63}, headers=admin)
    assert far.status_code == 400 and far.json()["error"]["param"] == "position"
    not_http = c.put(
        "/api/resources/backends/spare",
        json={**backend, "base_url": "ftp://127.0.0.1/v1"},
        headers=admin,
    )
    assert not_http.status_code == 422 and not_http.json()["error"]["param"] == "base_url"
    for response in (non_ascii_key, far, not_http):
        _declared(server, "PUT", put, response)

    added = c.put("/api/resources/backends/spare", json=backend, headers=admin)
    assert added.status_code == 200, added.text
    _declared(server, "PUT", put, added)
    tested = c.post("/api/resources/backends/spare/test")
    assert tested.status_code == 200 and tested.json()["ok"], tested.text
    assert c.post("/api/resources/backends/nope/test").status_code == 404
    removed = c.delete("/api/resources/backends/spare", headers=admin)
    assert removed.status_code == 204
    again = c.delete("/api/resources/backends/spare", headers=admin)
    assert again.status_code == 404
    _declared(server, "DELETE", put, again)
