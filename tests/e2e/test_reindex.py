"""`ragserve reindex`: a collection made without a keyword side (as before hybrid search)
gets one from its files, and keyword search then works on it; a collection whose files are
gone is refused and left as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.sparse import SPARSE_ENCODING
from ragserve.errors import SparseIndexMissing
from ragserve.rag.retrieve import Retriever
from ragserve.runtime import Runtime
from tests.integration.helpers import ingest

DOCUMENTS = {
    "sync-errors.md": "# Sync client\n\nWhen the sync client stops with XK-4471, delete the "
    "stale lock file in the cache folder and start the client again.",
    "error-codes.md": "# Error codes\n\nXK-4417: the disk is full. XK-7144: the login token "
    "expired. Each code is shown in the status bar.",
    "refunds.md": "# Refunds\n\nCustomers can get their money back within 30 days of purchase.",
    "환불-안내.md": "# 환불 안내\n\n구매 후 30일 이내에 환불을 요청할 수 있습니다.",
}


def reindex(cwd: Path, collection: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    env.update({"RAGSERVE_DATA_DIR": str(cwd / "data"), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "ragserve", "reindex", "-c", collection],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def search(runtime: Runtime, collection: str, query: str, mode: str) -> list[str]:
    retriever = Retriever(runtime.catalog, runtime.embedder)
    hits = retriever.retrieve(collection, query, 1, mode=mode)  # type: ignore[arg-type]
    return [Path(h.source).name for h in hits]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, embedder: EmbeddingBackend) -> Path:
    """Two collections indexed with RAGSERVE_SPARSE=off (sources relative to the folder, as
    `ragserve ingest docs` records them): `old`, from `docs/` (one file of which, not a real
    PDF, failed), and `gone`, whose one file is deleted afterwards."""
    root = tmp_path_factory.mktemp("reindex")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCUMENTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    (root / "lost").mkdir()
    (root / "lost" / "lost.md").write_text("# Lost\n\nThis file is deleted after ingest.")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        with Runtime(Settings(data_dir=root / "data", sparse=False), embedder=embedder) as rt:
            report = ingest(rt, [Path("docs")], "old")
            assert report.count("ingested") == len(DOCUMENTS) and len(report.failed) == 1
            assert ingest(rt, [Path("lost")], "gone").count("ingested") == 1
    finally:
        os.chdir(cwd)
    (root / "lost" / "lost.md").unlink()
    return root


def test_reindex_gives_an_old_collection_keyword_search(
    workdir: Path, embedder: EmbeddingBackend
) -> None:
    with Runtime(Settings(data_dir=workdir / "data"), embedder=embedder) as runtime:
        with pytest.raises(SparseIndexMissing, match="ragserve reindex -c old"):
            search(runtime, "old", "XK-4471", "sparse")
        before = runtime.catalog.collections.get("old")
        assert before is not None and before.sparse_encoding is None

    done = reindex(workdir, "old")
    assert done.returncode == 0, done.stderr
    assert "4 documents re-indexed" in done.stdout and SPARSE_ENCODING in done.stdout
    # The file that had failed fails again; it had no vectors, so it does not stop the rest.
    assert "still failed docs/broken.pdf" in done.stdout

    with Runtime(Settings(data_dir=workdir / "data"), embedder=embedder) as runtime:
        row = runtime.catalog.collections.get("old")
        assert row is not None and row.sparse_encoding == SPARSE_ENCODING
        # The exact code, which the embedding confuses with its neighbours, and a Korean
        # word with its particle: both keyword matches now.
        assert search(runtime, "old", "XK-4471", "sparse") == ["sync-errors.md"]
        assert search(runtime, "old", "환불은 어떻게 하나요", "sparse") == ["환불-안내.md"]
        assert search(runtime, "old", "money back", "hybrid") == ["refunds.md"]
        assert search(runtime, "old", "money back", "dense") == ["refunds.md"]
        # Every document is ready once, with its chunks in the new vectors only.
        documents = [d for d in runtime.catalog.list_documents("old") if d.status == "ready"]
        assert sorted(Path(d.source).name for d in documents) == sorted(DOCUMENTS)
        assert runtime.catalog.vectors.count(row.vector_collection) == sum(
            d.chunks for d in documents
        )
        assert not runtime.catalog.vectors.exists(before.vector_collection)


def test_reindex_refuses_a_collection_whose_files_are_gone(
    workdir: Path, embedder: EmbeddingBackend
) -> None:
    done = reindex(workdir, "gone")
    assert done.returncode == 1
    assert "lost/lost.md" in done.stderr and "gone" in done.stderr
    with Runtime(Settings(data_dir=workdir / "data"), embedder=embedder) as runtime:
        row = runtime.catalog.collections.get("gone")
        assert row is not None and row.sparse_encoding is None
        assert search(runtime, "gone", "deleted file", "dense") == ["lost.md"]
