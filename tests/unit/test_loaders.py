"""Each loader on documents made by real libraries."""

from pathlib import Path

import pytest

from ragserve.errors import CorruptFile, UnsupportedFile
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import parse_bytes
from tests.docs import make_docx, make_pdf

LIMITS = ParseLimits(max_file_bytes=10**8, max_unpacked_bytes=10**8, max_text_chars=10**8)


def parse(path: Path):  # type: ignore[no-untyped-def]
    return parse_bytes(path, path.read_bytes(), LIMITS)


def test_pdf_text_per_page_with_outline_headings(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "guide.pdf",
        ["Apples grow on trees.", "Pears are sweet.", "Plums are purple."],
        outline=["Apples", "Pears", "Plums"],
    )
    doc = parse(path)
    assert doc.kind == "pdf" and doc.pages == 3
    assert [(b.page, b.heading_path, b.text) for b in doc.blocks] == [
        (1, ("Apples",), "Apples grow on trees."),
        (2, ("Pears",), "Pears are sweet."),
        (3, ("Plums",), "Plums are purple."),
    ]
    assert doc.title == "guide"


def test_pdf_named_txt_is_read_as_pdf(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "x.pdf", ["Hidden PDF content."])
    renamed = path.rename(tmp_path / "notes.txt")
    assert parse(renamed).kind == "pdf"


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    import docx

    path = make_docx(
        tmp_path / "report.docx",
        [("Report", 1, ["Intro text."]), ("Results", 2, ["Results text."])],
    )
    document = docx.Document(str(path))
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Metric", "Value"
    table.cell(1, 0).text, table.cell(1, 1).text = "Speed", "42"
    document.save(str(path))
    doc = parse(path)
    assert doc.title == "Report"
    pairs = [(b.heading_path, b.text) for b in doc.blocks]
    assert (("Report",), "Intro text.") in pairs
    assert (("Report", "Results"), "Results text.") in pairs
    assert (("Report", "Results"), "Speed | 42") in pairs


def test_html_main_text_title_and_headings_without_chrome(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Policy</title><script>var x = 'SCRIPT';</script>"
        "<style>p { color: red }</style></head><body>"
        "<nav>NAVIGATION</nav><header>HEADER</header>"
        "<h1>Security</h1><p>Use <b>long</b> passwords.</p>"
        "<h2>Laptops</h2><ul><li>Encrypt disks.</li><li>Lock screens.</li></ul>"
        "<footer>FOOTER</footer></body></html>"
    )
    doc = parse(path)
    assert doc.title == "Policy"
    for chrome in ("SCRIPT", "color", "NAVIGATION", "HEADER", "FOOTER"):
        assert chrome not in doc.text
    pairs = [(b.heading_path, b.text) for b in doc.blocks]
    assert (("Security",), "Use long passwords.") in pairs
    assert (("Security", "Laptops"), "Lock screens.") in pairs


def test_html_table_row_is_one_block_with_its_cells_in_order(tmp_path: Path) -> None:
    # Sphinx wraps each cell in <p>; a row must still read as one line, not four blocks.
    path = tmp_path / "struct.html"
    path.write_text(
        "<html><body><h1>struct</h1><p>Byte order, size and alignment:</p>"
        "<table><thead><tr><th><p>Character</p></th><th><p>Byte order</p></th></tr></thead>"
        "<tbody><tr><td><p>&lt;</p></td><td><p>little-endian</p></td></tr>"
        "<tr><td><p>!</p></td><td><p>network<br>(= big-endian)</p></td></tr></tbody></table>"
        "<p>If the first character is not one of these, '@' is assumed.</p></body></html>"
    )
    texts = [b.text for b in parse(path).blocks]
    assert texts == [
        "struct",
        "Byte order, size and alignment:",
        "Character | Byte order",
        "< | little-endian",
        "! | network (= big-endian)",
        "If the first character is not one of these, '@' is assumed.",
    ]


def test_markdown_heading_structure_fences_and_setext(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "---\ntitle: front matter\n---\n"
        "Guide\n=====\n\nIntro line one\ncontinues here.\n\n"
        "## Install\n\n```bash\n# not a heading\npip install x\n```\n\n"
        "### Linux\n\n- item one\n- item two\n"
    )
    doc = parse(path)
    assert doc.title == "Guide"
    pairs = [(b.heading_path, b.text) for b in doc.blocks]
    assert (("Guide",), "Intro line one continues here.") in pairs
    assert (("Guide", "Install"), "```bash\n# not a heading\npip install x\n```") in pairs
    assert (("Guide", "Install", "Linux"), "- item one\n- item two") in pairs
    assert "front matter" not in doc.text


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("latin-1", "Café crème brûlée à la française, naïve façade, déjà vu."),
        ("utf-16", "Zürich Straße Größe über alles."),
        ("cp1251", "Привет, это текст в кодировке Windows-1251 для проверки."),
    ],
)
def test_text_encodings_are_detected(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(text.encode(encoding))
    assert parse(path).text == text


def test_binary_named_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(CorruptFile, match="binary content"):
        parse(path)


def test_unsupported_extension_names_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(UnsupportedFile, match=r"'\.png'.*\.pdf"):
        parse(path)
