"""Text with a byte-order mark is text: UTF-16 (what Windows editors write) and UTF-32.

Korean text in each encoding goes in through the API and through the CLI and is then
found by a search; binary content is still refused, with or without a BOM in front.
"""

from __future__ import annotations

import codecs
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.rag.retrieve import Retriever
from ragserve.runtime import Runtime
from tests.apiserver import running_app, wait_for_documents
from tests.conftest import ROOT

#: One distinct Korean passage per encoding, so a search shows which file it came from.
TEXTS = {
    "utf16le": "연차 휴가는 입사 첫해부터 매년 십오일이 주어집니다. 사용하지 않은 휴가는 "
    "다음 해 삼월까지 쓸 수 있습니다.",
    "utf16be": "회사 노트북은 퇴사할 때 정보보안팀에 반납해야 합니다. 분실하면 즉시 "
    "헬프데스크에 신고하십시오.",
    "utf32": "주차장은 지하 이층에 있으며 방문객은 안내 데스크에서 주차권을 받을 수 있습니다.",
}


def _encoded(kind: str, text: str) -> bytes:
    if kind == "utf16le":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    if kind == "utf16be":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return codecs.BOM_UTF32_LE + text.encode("utf-32-le")


def _korean_files() -> dict[str, bytes]:
    files = {f"{kind}.txt": _encoded(kind, text) for kind, text in TEXTS.items()}
    # Markdown goes through the same decoding.
    files["notes-utf16.md"] = codecs.BOM_UTF16_LE + (
        "# 식당\n\n구내식당은 평일 오전 열한시 반부터 오후 두시까지 점심을 제공합니다.\n"
    ).encode("utf-16-le")
    files["page-utf32.html"] = codecs.BOM_UTF32_BE + (
        "<html><head><title>보안</title></head><body><main><p>비밀번호는 열두 자 이상이어야 "
        "하며 구십일마다 바꿔야 합니다.</p></main></body></html>"
    ).encode("utf-32-be")
    files["english.txt"] = b"The cafeteria serves lunch between noon and two on weekdays.\n"
    return files


def _binary_files() -> dict[str, bytes]:
    noise = random.Random(7).randbytes(8192)
    return {
        "bom-then-noise.txt": codecs.BOM_UTF16_LE + noise,
        "utf32-bom-then-noise.txt": codecs.BOM_UTF32_LE + noise,
        "program.txt": Path(sys.executable).resolve().read_bytes()[:65536],
    }


def _search_top(search: object, query: str) -> tuple[str, str]:
    assert callable(search)
    source, text = search(query)
    return Path(source).name, text


def test_upload_of_utf16_and_utf32_korean_text_is_searchable(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    settings = Settings(data_dir=tmp_path / "data", llm_base_url="http://127.0.0.1:9/v1")
    runtime = Runtime(settings)
    runtime.__dict__["embedder"] = embedder
    try:
        with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=60) as api:
            files = [("files", (name, data)) for name, data in _korean_files().items()]
            response = api.post("/api/collections/ko/documents", files=files)
            assert response.status_code == 202, response.text
            assert "failed" not in response.json()["counts"], response.json()["items"]
            docs = wait_for_documents(api, "ko", len(files))
            assert {d["status"] for d in docs} == {"ready"}, docs

            for name, data in _binary_files().items():
                refused = api.post("/api/collections/ko/documents", files=[("files", (name, data))])
                assert refused.status_code == 415, (name, refused.text)
                assert "binary" in refused.text, refused.text

            def search(query: str) -> tuple[str, str]:
                found = api.post("/api/search", json={"collection": "ko", "query": query})
                assert found.status_code == 200, found.text
                top = found.json()["results"][0]
                return str(top["source"]), str(top["text"])

            for kind, text in TEXTS.items():
                name, chunk = _search_top(search, text.split(". ")[0])
                assert name == f"{kind}.txt"
                assert text in chunk  # decoded exactly, not mojibake
            name, chunk = _search_top(search, "구내식당은 평일 오전 열한시 반부터")
            assert name == "notes-utf16.md" and "오전 열한시 반부터" in chunk
            name, chunk = _search_top(search, "비밀번호는 열두 자 이상이어야 하며")
            assert name == "page-utf32.html" and "구십일마다" in chunk
    finally:
        runtime.close()


def test_cli_ingest_of_utf16_and_utf32_korean_text_is_searchable(
    tmp_path: Path, embedder: EmbeddingBackend
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in _korean_files().items():
        (inbox / name).write_bytes(data)
    junk = tmp_path / "junk"
    junk.mkdir()
    for name, data in _binary_files().items():
        (junk / name).write_bytes(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    env["RAGSERVE_DATA_DIR"] = str(tmp_path / "data")
    env["COLUMNS"] = "200"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ragserve", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    ok = cli("ingest", str(inbox), "-c", "ko")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{len(_korean_files())} ingested, 0 skipped, 0 failed" in ok.stdout, ok.stdout
    bad = cli("ingest", str(junk), "-c", "ko")
    assert bad.returncode != 0
    for name in _binary_files():
        assert name in bad.stdout, bad.stdout
    assert bad.stdout.count("binary content") == len(_binary_files()), bad.stdout

    runtime = Runtime(Settings(data_dir=tmp_path / "data"))
    runtime.__dict__["embedder"] = embedder
    try:
        retriever = Retriever(runtime.catalog, embedder)

        def search(query: str) -> tuple[str, str]:
            top = retriever.retrieve("ko", query, top_k=3)[0]
            return top.source, top.text

        for kind, text in TEXTS.items():
            name, chunk = _search_top(search, text.split(". ")[0])
            assert name == f"{kind}.txt"
            assert text in chunk
    finally:
        runtime.close()
