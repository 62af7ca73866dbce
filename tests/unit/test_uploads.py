"""Upload names cannot escape their folder, and types come from content."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragserve.errors import UnsupportedFile
from ragserve.ingest.uploads import MAX_NAME, checked_upload_name, safe_filename


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\..\\report.md", "report.md"),
        ("..", "upload"),
        (".bashrc", "bashrc"),
        ("", "upload"),
        (None, "upload"),
        ("a\x00b\nc.md", "abc.md"),
        ("notes <draft>|v2.md", "notes _draft__v2.md"),
        ("Ünïcödé résumé.pdf", "Ünïcödé résumé.pdf"),
    ],
)
def test_safe_filename(given_name: str | None, expected: str) -> None:
    assert safe_filename(given_name) == expected


@given(st.text(max_size=400))
def test_safe_filename_never_leaves_the_folder(name: str) -> None:
    clean = safe_filename(name)
    assert clean and "/" not in clean and "\\" not in clean
    assert clean not in (".", "..") and not clean.startswith(".")
    assert len(clean) <= MAX_NAME


def test_content_decides_the_type() -> None:
    assert checked_upload_name("scan", b"%PDF-1.7\n...") == "scan.pdf"
    assert checked_upload_name("scan.txt", b"%PDF-1.7\n...") == "scan.txt.pdf"
    assert checked_upload_name("notes.md", b"# Notes\n\nplain text") == "notes.md"


@pytest.mark.parametrize(
    ("name", "head", "why"),
    [
        ("tool.exe", b"MZ\x90\x00", "unsupported file type"),
        ("notes.txt", bytes(range(256)), "binary content"),
        ("report.pdf", b"just text pretending", "not a valid PDF"),
        ("letter.docx", b"plain text", "not a valid DOCX"),
    ],
)
def test_refused_content(name: str, head: bytes, why: str) -> None:
    with pytest.raises(UnsupportedFile, match=why):
        checked_upload_name(name, head)
