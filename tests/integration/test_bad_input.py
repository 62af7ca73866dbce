"""Every bad input fails alone, names the file, and costs bounded time and memory."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ragserve.errors import ParserCrashed, ParseTimeout, TooLarge
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.parsing import ParseWorker
from ragserve.runtime import Runtime
from tests.docs import (
    add_zip_member,
    make_docx,
    make_pdf,
    make_zero_page_pdf,
    rewrite_docx_xml,
)
from tests.integration.helpers import chunk_count, ingest, outcome, stored_texts


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nThe good document says the sky is blue.\n")
    return folder


CASES = {
    "corrupt.pdf": ("failed", "not a readable PDF"),
    "encrypted.pdf": ("failed", "password protected"),
    "zero-pages.pdf": ("failed", "0 pages"),
    "empty.txt": ("failed", "file is empty"),
    "binary.txt": ("failed", "binary content"),
    "fake.docx": ("failed", "not a valid DOCX"),
    "bomb.docx": ("failed", "decompression bomb"),
    "latin1.txt": ("ingested", None),
}


def _write_cases(folder: Path) -> None:
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    make_pdf(folder / "encrypted.pdf", ["Secret salary table."], user_password="pw")
    make_zero_page_pdf(folder / "zero-pages.pdf")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (folder / "fake.docx").write_text("this is not a zip file")
    make_docx(folder / "bomb.docx", [("Bomb", 1, ["tiny text"])])
    add_zip_member(folder / "bomb.docx", "word/media/zeros.bin", 60_000_000)
    (folder / "latin1.txt").write_bytes("Crème brûlée recipe from Besançon.".encode("latin-1"))


def test_each_bad_file_fails_alone_and_the_rest_is_ingested(runtime: Runtime, inbox: Path) -> None:
    _write_cases(inbox)
    (inbox / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    report = ingest(runtime, [inbox])
    for name, (status, reason) in CASES.items():
        got_status, got_reason = outcome(report, name)
        assert got_status == status, (name, got_reason)
        if reason:
            assert reason in (got_reason or ""), (name, got_reason)
    assert outcome(report, "good.md") == ("ingested", None)
    assert outcome(report, "photo.png")[0] == "skipped"
    texts = stored_texts(runtime)
    assert any("sky is blue" in t for t in texts)
    assert any("Besançon" in t for t in texts)


def test_unsupported_file_named_directly_fails_with_its_name(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "slides.pptx"
    path.write_bytes(b"PK\x03\x04whatever")
    report = ingest(runtime, [path])
    status, reason = outcome(report, "slides.pptx")
    assert status == "failed" and "unsupported file type '.pptx'" in (reason or "")


def test_missing_path_is_reported(runtime: Runtime, tmp_path: Path, inbox: Path) -> None:
    report = ingest(runtime, [tmp_path / "nope.pdf", inbox])
    assert report.failed[0].source.endswith("nope.pdf")
    assert report.count("ingested") == 1


def test_file_vanishing_mid_ingest_fails_alone(
    runtime: Runtime, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (inbox / "vanishing.md").write_text("# Soon gone\n\ntext")
    import ragserve.ingest.pipeline as pipeline

    real_read = pipeline.read_file

    def read_after_delete(path: Path, max_bytes: int) -> bytes:
        if path.name == "vanishing.md":
            path.unlink()  # deleted between discovery and reading
        return real_read(path, max_bytes)

    monkeypatch.setattr(pipeline, "read_file", read_after_delete)
    report = ingest(runtime, [inbox])
    assert outcome(report, "vanishing.md") == ("failed", "file disappeared before it could be read")
    assert outcome(report, "good.md")[0] == "ingested"


def test_a_stored_document_survives_a_corrupt_new_version(runtime: Runtime, tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "policy.pdf", ["Version one says blue."])
    ingest(runtime, [path])
    before = chunk_count(runtime)
    path.write_bytes(b"%PDF-1.7 truncated")
    report = ingest(runtime, [path])
    assert report.failed and "not a readable PDF" in (report.failed[0].reason or "")
    assert chunk_count(runtime) == before
    assert any("Version one says blue." in t for t in stored_texts(runtime))
    (doc,) = runtime.catalog.list_documents("test")
    assert doc.status == "ready" and "not a readable PDF" in (doc.error or "")


def test_xml_entities_never_read_files_outside_the_input(runtime: Runtime, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-42")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    xxe = make_docx(inbox / "xxe.docx", [("Title", 1, ["hello PLACEHOLDER"])])
    rewrite_docx_xml(
        xxe,
        lambda xml: xml.replace(
            "?>", f'?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{secret}">]>', 1
        ).replace("PLACEHOLDER", "&xxe;"),
    )
    laughs = make_docx(inbox / "laughs.docx", [("Title", 1, ["PLACEHOLDER"])])
    entities = '<!ENTITY a "lol">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    rewrite_docx_xml(
        laughs,
        lambda xml: xml.replace("?>", f"?><!DOCTYPE w:document [{entities}]>", 1).replace(
            "PLACEHOLDER", "&j;"
        ),
    )
    (inbox / "page.html").write_text(
        f'<!DOCTYPE html [<!ENTITY xxe SYSTEM "file://{secret}">]><p>see &xxe; here</p>'
    )
    report = ingest(runtime, [inbox])
    assert len(report.outcomes) == 3
    assert not any("TOPSECRET" in t for t in stored_texts(runtime))
    assert not any("lollollol" in t for t in stored_texts(runtime))


def test_symlink_out_of_the_folder_is_not_followed(runtime: Runtime, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("# Outside\n\nOUTSIDE-CONTENT")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "inside.md").write_text("# Inside\n\ninside content")
    (inbox / "link.md").symlink_to(outside)
    ingest(runtime, [inbox])
    assert not any("OUTSIDE-CONTENT" in t for t in stored_texts(runtime))


def test_enormous_lines_and_deep_nesting_finish(runtime: Runtime, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "one-line.txt").write_text("lorem ipsum dolor " * 3_000)  # 54 kB, no newline
    depth = 50_000
    (inbox / "deep.html").write_text(
        "<html><body>" + "<div>" * depth + "deep" + "</div>" * depth + "</body></html>"
    )
    report = ingest(runtime, [inbox])
    assert outcome(report, "one-line.txt")[0] == "ingested"
    assert report.count("ingested") + len(report.failed) == 2


def test_parser_timeout_kills_the_child_and_the_next_file_still_parses(tmp_path: Path) -> None:
    big = make_pdf(tmp_path / "big.pdf", ["Page text. " * 200] * 40)  # seconds to parse
    small = make_pdf(tmp_path / "small.pdf", ["Small file."])
    limits = ParseLimits(10**9, 10**9, 10**9)
    worker = ParseWorker(timeout_s=0.05)
    try:
        with pytest.raises(ParseTimeout, match="parsing took longer") as raised:
            worker.parse(big, big.read_bytes(), limits)
        assert not isinstance(raised.value, TooLarge)  # a timeout, not a size
        worker.timeout_s = 60
        assert worker.parse(small, small.read_bytes(), limits).blocks[0].text == "Small file."
    finally:
        worker.close()


def test_parser_memory_cap_fails_one_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("word " * 4_000_000)  # 20 MB of text
    limits = ParseLimits(10**9, 10**9, 10**9)
    worker = ParseWorker(timeout_s=60, memory_bytes=16 * 2**20)  # less than the text itself
    try:
        # The child dies of it: a crash, which workers retry (the one-process queue does not).
        with pytest.raises(ParserCrashed, match="memory limit"):
            worker.parse(path, path.read_bytes(), limits)
    finally:
        worker.close()


def test_concurrent_pipelines_do_not_corrupt_each_other(runtime: Runtime, tmp_path: Path) -> None:
    folders = []
    for i in range(2):
        folder = tmp_path / f"f{i}"
        folder.mkdir()
        for j in range(3):
            (folder / f"doc{j}.md").write_text(f"# Doc {i}-{j}\n\nBody of {i}-{j}.")
        folders.append(folder)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda f: ingest(runtime, [f]), folders))
    assert sum(r.count("ingested") for r in results) == 6
    assert chunk_count(runtime) == 6


def test_text_beyond_the_limit_is_cut_and_reported(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text("# Long\n\n" + "\n\n".join(f"Paragraph {i} of many." for i in range(400)))
    runtime.settings = runtime.settings.model_copy(update={"max_text_chars": 1000})
    report = ingest(runtime, [path])
    status, reason = outcome(report, "long.md")
    assert status == "ingested" and "RAGSERVE_MAX_TEXT_CHARS" in (reason or "")
    assert not any("Paragraph 399" in t for t in stored_texts(runtime))


def test_an_embedder_crash_ends_the_run_without_hanging(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):  # more documents than the bounded queue holds
        (tmp_path / f"doc{i}.md").write_text(f"# Doc {i}\n\nBody {i}.")

    def broken(texts: list[str]) -> None:
        raise RuntimeError("onnxruntime exploded")

    monkeypatch.setattr(runtime.embedder, "embed_passages", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        ingest(runtime, [tmp_path])
