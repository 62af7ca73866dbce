"""The Resources store cannot wedge the server: refused changes store nothing, and an entry
that no longer builds is reported and skipped instead of stopping the start. Backends are the
scripted fault server on loopback (no other host is ever configured here)."""

from __future__ import annotations

from pathlib import Path

import httpx

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from ragserve.store.tables import BackendRow
from tests.apiserver import running_app
from tests.fakes.fault_server import running_fault_server


def test_refused_changes_store_nothing_and_later_changes_still_work(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    with running_fault_server() as (url, _):
        settings = Settings(data_dir=tmp_path / "d", llm_base_url=url, llm_model="ok")
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as base, httpx.Client(base_url=base) as c:
            put = "/api/resources/backends/"
            missing = c.put(put + "x", json={"kind": "openai"})
            assert missing.status_code == 422, missing.text
            assert missing.json()["error"]["param"] == "base_url"
            assert "needs a base_url" in missing.json()["error"]["message"]
            unknown = c.put(put + "x", json={"kind": "nope", "base_url": url})
            assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "kind"
            not_http = c.put(put + "x", json={"kind": "openai", "base_url": "ftp://h/v1"})
            assert not_http.status_code == 422 and not_http.json()["error"]["param"] == "base_url"
            assert c.put(put + "bad name!", json={"base_url": url}).status_code == 400
            names = [b["name"] for b in c.get("/api/resources/backends").json()]
            assert names == ["llm"]  # nothing of the refused changes was kept

            good = c.put(put + "gpu", json={"kind": "openai", "base_url": url, "model": "ok"})
            assert good.status_code == 200
            assert [b["name"] for b in good.json()] == ["gpu", "llm"]
        runtime.close()


def test_an_entry_that_no_longer_builds_is_reported_and_can_be_fixed(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    with running_fault_server() as (url, _):
        settings = Settings(data_dir=tmp_path / "d", llm_base_url=url, llm_model="ok")
        # Entries an older version (or a hand edit) left behind.
        with Runtime(settings, embedder=embedder) as setup:
            backends = setup.catalog.backends
            backends.save(BackendRow(name="old", spec={"kind": "gone-kind"}, position=0))
            backends.save(BackendRow(name="edit", spec={"context_window": 5}, position=1))
        runtime = Runtime(settings, embedder=embedder)
        with running_app(settings, runtime) as base, httpx.Client(base_url=base) as c:
            ready = c.get("/readyz", timeout=30)
            assert ready.status_code == 200, ready.text  # the settings' backend serves
            assert ready.json()["checks"]["chat:old"].startswith("broken")
            assert "gone-kind" in ready.json()["checks"]["chat:old"]
            listed = {b["name"]: b for b in c.get("/api/resources/backends").json()}
            assert listed["old"]["state"] == "broken" and "gone-kind" in listed["old"]["error"]
            assert listed["edit"]["state"] == "broken" and listed["llm"]["state"] == "closed"

            fixed = c.put(
                "/api/resources/backends/old",
                json={"kind": "openai", "base_url": url, "model": "ok"},
            )
            assert fixed.status_code == 200, fixed.text
            assert c.delete("/api/resources/backends/edit").status_code == 204
            states = {b["name"]: b["state"] for b in c.get("/api/resources/backends").json()}
            assert states == {"old": "closed", "llm": "closed"}
        runtime.close()
