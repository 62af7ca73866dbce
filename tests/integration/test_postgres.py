"""ragserve on PostgreSQL (RAGSERVE_DATABASE_URL): a real server from Debian's package, a real
uvicorn server, the real embedder. No chat model: only routes that need none.

The database is stopped under a running ragserve: requests answer 503 with ``Retry-After``
and a message naming the database, within seconds, and work again once it is back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from ragserve.store.db import MIGRATIONS
from tests.apiserver import running_app, wait_for_documents
from tests.conftest import ROOT, SAMPLES
from tests.services import PostgresServer, postgres_server

#: A request against a stopped database must answer well within this (never hang).
ANSWER_WITHIN_S = 30


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), *sys.path])
    return {**env, **extra}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragserve", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_four_processes_migrate_one_empty_database_at_once(pg: PostgresServer) -> None:
    """The API and its workers start together: one migrates, the others wait, none fails."""
    url = pg.create_database("race")
    opens = "from ragserve.store.db import Database; Database(__import__('sys').argv[1]).close()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", opens, url],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    with psycopg.connect(_libpq(url)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
    assert {"collections", "documents", "jobs", "conversations", "users", "api_keys"} <= tables


def test_api_on_postgres_answers_503_while_it_is_down_and_recovers(
    pg: PostgresServer, tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    # Trust auth takes any password: this one must never appear in an answer.
    url = pg.create_database("app").replace("ragserve@", "ragserve:s3cret-pw@")
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        # Timestamps come back in the session's zone: the API must still answer in UTC.
        conn.execute("ALTER DATABASE app SET timezone TO 'Asia/Seoul'")
    data_dir = tmp_path / "data"
    # The command line writes the same database as the server: the admin it makes signs in.
    env = _env(RAGSERVE_DATABASE_URL=url, RAGSERVE_DATA_DIR=str(data_dir))
    created = _cli(env, "users", "create", "root", "--admin")
    assert created.returncode == 0, created.stderr
    assert "created admin 'root'" in created.stdout
    admin_key = created.stdout.splitlines()[-1]

    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        # No chat model is used: a closed port, reported by /readyz, never called.
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="none",
    )
    runtime = Runtime(settings, embedder=embedder)
    headers = {"Authorization": f"Bearer {admin_key}"}
    with (
        running_app(settings, runtime) as base,
        httpx.Client(base_url=base, timeout=120, headers=headers) as c,
    ):
        assert httpx.get(f"{base}/api/collections", timeout=30).status_code == 401
        assert c.post("/api/collections", json={"name": "docs"}).status_code == 201
        files = [
            ("files", (name, (SAMPLES / name).read_bytes()))
            for name in ("northwind-handbook.md", "it-faq.txt")
        ]
        # A title longer than its column: PostgreSQL, unlike SQLite, would refuse it whole.
        files.append(("files", ("long.md", b"# " + b"Parking rules " * 100 + b"\n\nText.")))
        assert c.post("/api/collections/docs/documents", files=files).status_code == 202
        docs = wait_for_documents(c, "docs", 3)
        assert {d["status"] for d in docs} == {"ready"}, docs
        long_title = next(d["title"] for d in docs if d["source"] == "long.md")
        assert long_title.startswith("Parking rules") and len(long_title) == 1000
        # Case-insensitive name filter (ILIKE here, LIKE on SQLite) and the UI's paging.
        page = c.get("/api/collections/docs/documents", params={"q": "HANDBOOK", "limit": "50"})
        assert [d["source"] for d in page.json()] == ["northwind-handbook.md"]
        assert page.headers["X-Total-Count"] == "1"
        newest = c.get("/api/collections/docs/documents", params={"sort": "-updated"}).json()
        assert all(d["updated_at"].endswith("Z") for d in newest), newest
        assert newest[0]["updated_at"] >= newest[1]["updated_at"]

        # The collections page: counts and sums grouped in SQL.
        (listed,) = c.get("/api/collections").json()
        assert listed["documents"] == {"ready": 3} and listed["documents_ready"] == 3
        assert listed["chunks"] == sum(int(d["chunks"]) for d in docs) > 0
        assert listed["stored_bytes"] > 0

        hits = c.post("/api/search", json={"collection": "docs", "query": "vacation days"})
        assert hits.status_code == 200 and hits.json()["results"], hits.text
        conversation = c.post("/api/conversations", json={"collection": "docs"})
        assert conversation.status_code == 201, conversation.text
        key = c.post("/api/keys", json={"name": "ci", "scopes": ["read"]})
        assert key.status_code == 201, key.text
        reader = {"Authorization": f"Bearer {key.json()['key']}"}
        assert c.get("/api/conversations", headers=reader).status_code == 200

        pg.stop()
        try:
            for method, path, kwargs in [
                ("POST", "/api/search", {"json": {"collection": "docs", "query": "vacation"}}),
                # The web UI's documents page asks this.
                ("GET", "/api/collections/docs/documents", {"params": {"limit": 50}}),
                ("GET", "/api/conversations", {}),
            ]:
                started = time.monotonic()
                down = c.request(method, path, timeout=ANSWER_WITHIN_S, **kwargs)
                assert time.monotonic() - started < ANSWER_WITHIN_S
                assert down.status_code == 503, (path, down.text)
                assert int(down.headers["Retry-After"]) > 0
                error = down.json()["error"]
                assert error["type"] == "database_unavailable"
                # Names the database (without credentials) so an operator knows what to fix.
                assert f"database app at 127.0.0.1:{pg.port}" in error["message"], error
                assert "s3cret-pw" not in down.text
            listed = _cli(env, "users", "list")  # the command line says so too, no traceback
            said = " ".join(listed.stderr.split())  # rich wraps lines
            assert listed.returncode == 1 and "database app" in said and "unavailable" in said
            assert "Traceback" not in listed.stderr
            ready = c.get("/readyz", timeout=ANSWER_WITHIN_S).json()
            assert ready["checks"]["database"].startswith("down"), ready
            assert "s3cret-pw" not in str(ready)
        finally:
            pg.start()

        # The same ragserve, not restarted: stale pooled connections are replaced.
        back = c.get("/api/collections/docs/documents", params={"limit": "50"})
        assert back.status_code == 200 and len(back.json()) == 3, back.text
        policy = ("security-policy.html", (SAMPLES / "security-policy.html").read_bytes())
        assert (
            c.post("/api/collections/docs/documents", files=[("files", policy)]).status_code == 202
        )
        assert {d["status"] for d in wait_for_documents(c, "docs", 4)} == {"ready"}
        # /readyz reuses its answer for a few seconds: the recovery shows on a later probe.
        deadline = time.monotonic() + 30
        while not (ready := c.get("/readyz").json())["checks"]["database"].startswith("ok"):
            assert time.monotonic() < deadline, ready
            time.sleep(0.5)
    runtime.close()
