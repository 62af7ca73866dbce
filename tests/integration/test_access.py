"""Users, keys and per-collection access on one real server (real embedder, real llama.cpp).

User A (alice) owns a private collection; user B (bob) meets it with no share, as a viewer
and as an editor. Every route is asked in every cell; what B may not see must answer exactly
as a missing collection, conversation or job does (the body compared with the name or id
swapped, since the message names what was asked for).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from ragserve.access.directory import KEY_CACHE_TTL_S, UserDirectory
from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.llm.embedded import EMBEDDED_MODEL_ALIAS, EmbeddedLlamaServer
from ragserve.runtime import Runtime
from ragserve.store.db import Database
from ragserve.store.tables import BackendRow
from tests.apiserver import running_app, wait_for_documents

SECRET_KEY = "server-secret-for-fernet-0f3c"
BACKEND_KEY = "sk-backend-key-that-must-stay-hidden-7d1e"
HANDBOOK = b"# Handbook\n\nEvery employee gets 25 vacation days a year.\n"
MEMO = b"# Memo\n\nThe office closes at six.\n"
MISSING = "no-such-collection"


class Recorder(logging.Handler):
    """Every log record of the run, formatted, to search for secrets."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class World:
    url: str
    data_dir: Path
    env: dict[str, str]
    keys: dict[str, str]
    doc_id: str
    alice_job: str
    alice_conversation: str
    bodies: list[str] = field(default_factory=list)

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}

        def keep(response: httpx.Response) -> None:
            response.read()
            self.bodies.append(response.text)

        return httpx.Client(
            base_url=self.url, headers=headers, timeout=120, event_hooks={"response": [keep]}
        )


def cli(env: dict[str, str], *args: str) -> str:
    """``ragserve ARGS`` in its own process against the running server's data dir."""
    run = subprocess.run(
        [sys.executable, "-m", "ragserve", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    root, ours = logging.getLogger(), logging.getLogger("ragserve")
    root.addHandler(handler)
    level = ours.level
    ours.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    ours.setLevel(level)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: EmbeddingBackend,
    llama_server: EmbeddedLlamaServer,
    recorder: Recorder,
) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("access") / "data"
    settings = Settings(
        data_dir=data_dir,
        llm_base_url=llama_server.base_url,
        llm_model=EMBEDDED_MODEL_ALIAS,
        llm_max_tokens=4,
        secret_key=SECRET_KEY,
        auth_failures_per_minute=20,
    )
    env = {**os.environ, "RAGSERVE_DATA_DIR": str(data_dir)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=120) as c:
        # Before any user: open mode, as before; what is made now goes to the first admin.
        c.post("/api/collections/legacy/documents", files=[("files", ("h.md", HANDBOOK))])
        wait_for_documents(c, "legacy", 1)
        assert c.post("/api/conversations", json={"collection": "legacy"}).status_code == 201

        # The command line, while the server runs: the key is the last line printed.
        keys = {"root": cli(env, "users", "create", "root", "--admin").splitlines()[-1]}
        keys["alice"] = cli(env, "users", "create", "alice").splitlines()[-1]
        db = Database.in_dir(data_dir)
        _, bob = UserDirectory(db).create_user("bob", False, "test")
        keys["bob"] = bob.secret
        db.close()

        alice = httpx.Client(base_url=url, timeout=120, headers=_bearer(keys["alice"]))
        assert alice.post("/api/collections", json={"name": "private"}).json()["role"] == "owner"
        job = alice.post(
            "/api/collections/private/documents", files=[("files", ("handbook.md", HANDBOOK))]
        ).json()
        docs = wait_for_documents(alice, "private", 1)
        conversation = alice.post("/api/conversations", json={"collection": "private"}).json()
        alice.close()
        yield World(url, data_dir, env, keys, str(docs[0]["id"]), job["id"], conversation["id"])
    runtime.close()


def _named(kw: dict[str, object], name: str) -> dict[str, object]:
    """The request's JSON body with ``{c}`` in its top-level strings naming ``name``."""
    body = kw.get("json")
    if not isinstance(body, dict):
        return kw
    named = {k: v.format(c=name) if isinstance(v, str) else v for k, v in body.items()}
    return {**kw, "json": named}


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_once_a_user_exists_every_route_needs_a_key(world: World) -> None:
    with world.client(None) as anonymous:
        for method, path in [("GET", "/api/collections"), ("GET", "/v1/models"),
                             ("GET", "/api/me"), ("GET", "/openapi.json")]:  # fmt: skip
            response = anonymous.request(method, path)
            assert response.status_code == 401, (path, response.text)
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/readyz").status_code == 200
        assert anonymous.get("/metrics").status_code == 403  # no token or network configured
    with world.client("bob") as bob:
        me = bob.get("/api/me").json()
        assert me["name"] == "bob" and me["via"] == "key" and not me["admin"]
        assert bob.get("/openapi.json").status_code == 200


def test_what_existed_before_users_belongs_to_the_first_admin(world: World) -> None:
    with world.client("root") as root, world.client("alice") as alice:
        mine = {c["name"]: c["role"] for c in root.get("/api/collections").json()}
        assert mine == {"legacy": "owner", "private": "owner"}  # admins see everything
        assert root.get("/api/collections/legacy/members").json()[0] == {
            "type": "user", "name": "root", "role": "owner",
        }  # fmt: skip
        assert [c["collection"] for c in root.get("/api/conversations").json()] == ["legacy"]
        assert [c["name"] for c in alice.get("/api/collections").json()] == ["private"]
        assert alice.get("/api/collections/legacy").status_code == 404


def _share(world: World, role: str | None) -> None:
    with world.client("alice") as alice:
        if role is None:
            alice.delete("/api/collections/private/members/user/bob")
        else:
            shared = alice.put(
                "/api/collections/private/members",
                json={"type": "user", "name": "bob", "role": role},
            )
            assert shared.status_code == 200, shared.text
            assert {"type": "user", "name": "bob", "role": role} in shared.json()


@pytest.mark.parametrize("role", [None, "viewer", "editor"])
def test_access_matrix(world: World, role: str | None) -> None:
    _share(world, role)
    see = role is not None
    edit = role == "editor"
    c, doc = "private", world.doc_id
    with world.client("bob") as bob:

        def refused(method: str, path: str, **kw: object) -> None:
            """404 exactly as for a missing collection, or 403 naming the role needed."""
            got = bob.request(method, path.format(c=c), **_named(kw, c))  # type: ignore[arg-type]
            if not see:
                other = bob.request(method, path.format(c=MISSING), **_named(kw, MISSING))  # type: ignore[arg-type]
                assert got.status_code == 404 and other.status_code == 404, got.text
                assert got.content.replace(c.encode(), MISSING.encode()) == other.content
            else:
                assert got.status_code == 403, (path, got.text)
                assert "role" in got.json()["error"]["message"]

        def allowed(method: str, path: str, status: int = 200, **kw: object) -> httpx.Response:
            got = bob.request(method, path.format(c=c), **_named(kw, c))  # type: ignore[arg-type]
            if not see:
                other = bob.request(method, path.format(c=MISSING), **_named(kw, MISSING))  # type: ignore[arg-type]
                assert got.status_code == 404 and other.status_code == 404, (path, got.text)
                assert got.content.replace(c.encode(), MISSING.encode()) == other.content
            else:
                assert got.status_code == status, (path, got.text)
            return got

        listed = {x["name"]: x["role"] for x in bob.get("/api/collections").json()}
        assert listed == ({c: role} if see else {})
        models = {m["id"] for m in bob.get("/v1/models").json()["data"]}
        assert ("rag:private" in models) == see and "rag:legacy" not in models

        # Viewer: read, search, chat.
        allowed("GET", "/api/collections/{c}")
        allowed("GET", "/api/collections/{c}/documents")
        allowed("GET", f"/api/collections/{{c}}/documents/{doc}")
        allowed("GET", f"/api/collections/{{c}}/documents/{doc}/file")
        allowed("GET", "/api/collections/{c}/documents/events")
        allowed("POST", "/api/search", json={"collection": "{c}", "query": "vacation days"})
        allowed("POST", "/api/chat", json={"collection": "{c}", "message": "Vacation days?"})
        allowed(
            "POST", "/v1/chat/completions",
            json={"model": "rag:{c}", "messages": [{"role": "user", "content": "Vacation?"}]},
        )  # fmt: skip
        made = bob.post("/api/conversations", json={"collection": c})
        assert made.status_code == (201 if see else 404), made.text

        # Editor: documents.
        upload = {"files": [("files", ("memo.md", MEMO))]}
        if edit:
            memo = allowed("POST", "/api/collections/{c}/documents", 202, **upload).json()
            allowed("POST", f"/api/collections/{{c}}/documents/{doc}/cancel")
            allowed("POST", f"/api/collections/{{c}}/documents/{doc}/reindex", 202)
            wait_for_documents(bob, c, 2)
            memo_id = memo["items"][0]["document_id"]
            allowed("DELETE", f"/api/collections/{{c}}/documents/{memo_id}", 204)
        else:
            if see:
                refused("POST", "/api/collections/{c}/documents", **upload)
            else:  # a missing collection would be made by an upload: compared with a GET's 404
                got = bob.post(f"/api/collections/{c}/documents", **upload)  # type: ignore[arg-type]
                other = bob.get(f"/api/collections/{MISSING}")
                assert got.content.replace(c.encode(), MISSING.encode()) == other.content
            refused("POST", f"/api/collections/{{c}}/documents/{doc}/cancel")
            refused("POST", f"/api/collections/{{c}}/documents/{doc}/reindex")
            refused("DELETE", f"/api/collections/{{c}}/documents/{doc}")

        # Owner only: sharing, reconfiguring, deleting.
        refused("GET", "/api/collections/{c}/members")
        refused("PUT", "/api/collections/{c}/members",
                json={"type": "user", "name": "bob", "role": "owner"})  # fmt: skip
        refused("DELETE", "/api/collections/{c}/members/user/alice")
        refused("PATCH", "/api/collections/{c}", json={"retrieval_mode": None})
        refused("DELETE", "/api/collections/{c}")

        # Alice's conversation is hers alone, in every cell.
        conv, other_conv = world.alice_conversation, str(uuid.uuid4())
        assert conv not in bob.get("/api/conversations").text
        for method, body in [("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)]:
            got = bob.request(method, f"/api/conversations/{conv}", json=body)
            other = bob.request(method, f"/api/conversations/{other_conv}", json=body)
            assert got.status_code == other.status_code == 404
            assert got.content.replace(conv.encode(), other_conv.encode()) == other.content
        chat = bob.post("/api/chat", json={"conversation_id": conv, "message": "Hi"})
        other = bob.post("/api/chat", json={"conversation_id": other_conv, "message": "Hi"})
        assert chat.status_code == 404
        assert chat.content.replace(conv.encode(), other_conv.encode()) == other.content

        # Alice's job: seen and cancellable by the collection's editors only.
        job, other_job = world.alice_job, str(uuid.uuid4())
        assert (job in bob.get("/api/jobs").text) == edit
        for method, path in [("GET", "/api/jobs/{}"), ("POST", "/api/jobs/{}/cancel")]:
            got = bob.request(method, path.format(job))
            if edit:
                assert got.status_code == 200
            else:
                other = bob.request(method, path.format(other_job))
                assert got.status_code == other.status_code == 404
                assert got.content.replace(job.encode(), other_job.encode()) == other.content

        # Not collection-bound: any key with the read (or ingest) scope; admin routes refused.
        model = next(m for m in models if not m.startswith("rag:"))
        assert bob.post("/v1/embeddings", json={"input": "hi", "model": model}).status_code == 200
        assert bob.get("/api/ingest/status").status_code == 200
        for path in ("/api/resources/backends", "/api/doctor", "/api/audit"):
            assert bob.get(path).status_code == 403, path
        assert bob.get("/api/collections/legacy").status_code == 404


def test_keys_revoked_expired_or_of_a_disabled_user_are_refused(world: World) -> None:
    with world.client("alice") as alice:
        made = alice.post("/api/keys", json={"name": "laptop", "scopes": ["read"]})
        assert made.status_code == 201, made.text
        key, key_id = made.json()["key"], made.json()["id"]
        listed = alice.get("/api/keys").json()
        assert key not in alice.get("/api/keys").text and key_id in [k["id"] for k in listed]
        read_only = httpx.Client(base_url=world.url, headers=_bearer(key), timeout=60)
        assert read_only.get("/api/collections").status_code == 200
        assert read_only.delete("/api/collections/private").status_code == 403  # no ingest scope
        assert alice.delete(f"/api/keys/{key_id}").status_code == 204
        assert read_only.get("/api/collections").status_code == 401  # at once
        read_only.close()
        old = alice.post(
            "/api/keys", json={"scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}
        )
        assert old.status_code == 201, old.text
        expired = httpx.get(f"{world.url}/api/me", headers=_bearer(old.json()["key"]))
        assert expired.status_code == 401

    # The command line revokes a key of the running server: refused within a second.
    fresh = cli(world.env, "keys", "create", "alice", "--scope", "read", "--name", "cli")
    fresh_key = fresh.splitlines()[-1]
    assert httpx.get(f"{world.url}/api/me", headers=_bearer(fresh_key)).status_code == 200
    key_number = fresh.split("key ", 1)[1].split(" ", 1)[0]
    cli(world.env, "keys", "revoke", key_number)
    time.sleep(KEY_CACHE_TTL_S)  # the server reuses a key's principal for at most this long
    assert httpx.get(f"{world.url}/api/me", headers=_bearer(fresh_key)).status_code == 401


def test_backend_keys_are_encrypted_and_metadata_addresses_refused(world: World) -> None:
    with world.client("root") as root:
        blocked = root.put(
            "/api/resources/backends/meta",
            json={"kind": "openai", "base_url": "http://169.254.169.254/v1", "model": "m"},
        )
        assert blocked.status_code == 422 and "169.254.0.0/16" in blocked.text
        put = root.put(
            "/api/resources/backends/extra",
            json={"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                  "api_key": BACKEND_KEY},
        )  # fmt: skip
        assert put.status_code == 200, put.text
        db = Database.in_dir(world.data_dir)
        with db.session() as s:
            stored = s.scalar(select(BackendRow).where(BackendRow.name == "extra"))
            assert stored is not None and stored.spec["api_key"].startswith("fernet:")
            assert BACKEND_KEY not in str(stored.spec)
        db.close()
        assert root.delete("/api/resources/backends/extra").status_code == 204
        actions = [e["action"] for e in root.get("/api/audit").json()]
        assert {"backend.put", "backend.delete", "collection.share", "key.revoke"} <= set(actions)


def test_secrets_never_reach_logs_or_responses(world: World, recorder: Recorder) -> None:
    """Runs after the others: searches every log line and response body of the module."""
    logs = "\n".join(recorder.lines)
    answers = "\n".join(world.bodies)
    for secret in (BACKEND_KEY, SECRET_KEY, *world.keys.values()):
        assert secret not in logs
    for secret in (BACKEND_KEY, SECRET_KEY):
        assert secret not in answers


def test_a_wrong_key_flood_gets_429_with_retry_after(world: World) -> None:
    """Last: it leaves this client's address locked out for a while."""
    codes: list[int] = []
    with httpx.Client(base_url=world.url, timeout=30) as client:
        for n in range(30):
            response = client.get("/api/collections", headers=_bearer(f"rsk_bad_{n}"))
            codes.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json()["error"]["type"] == "rate_limit_error"
    assert codes[0] == 401 and codes[-1] == 429 and set(codes) == {401, 429}
    # Waiting it out lets the right key in again.
    time.sleep(int(response.headers["Retry-After"]))
    assert httpx.get(f"{world.url}/api/me", headers=_bearer(world.keys["bob"])).status_code == 200
