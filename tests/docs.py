"""Test documents, made by the tests themselves with real libraries."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import docx
from fpdf import FPDF


def make_pdf(
    path: Path,
    pages: Sequence[str],
    *,
    outline: Sequence[str] | None = None,
    user_password: str | None = None,
) -> Path:
    """A PDF with one text page per entry; ``outline`` names a bookmark per page."""
    pdf = FPDF()
    pdf.set_title(path.stem)
    for i, text in enumerate(pages):
        pdf.add_page()
        if outline:
            pdf.start_section(outline[i])
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text)
    if user_password:
        pdf.set_encryption(owner_password="owner", user_password=user_password)
    pdf.output(str(path))
    return path


def make_zero_page_pdf(path: Path) -> Path:
    """A well-formed PDF with no pages, written by pdfium itself."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.save(str(path))
    pdf.close()
    return path


def make_docx(path: Path, sections: Sequence[tuple[str, int, Sequence[str]]]) -> Path:
    """A DOCX of (heading, level, paragraphs) sections."""
    document = docx.Document()
    for heading, level, paragraphs in sections:
        document.add_heading(heading, level=level)
        for text in paragraphs:
            document.add_paragraph(text)
    document.save(str(path))
    return path


def rewrite_docx_xml(path: Path, transform: object) -> Path:
    """Rewrite word/document.xml through ``transform(xml: str) -> str``."""
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    xml = members["word/document.xml"].decode()
    members["word/document.xml"] = transform(xml).encode()  # type: ignore[operator]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            target.writestr(name, data)
    return path


def add_zip_member(path: Path, name: str, size: int) -> Path:
    """Append a highly compressible member (a decompression bomb when large)."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, b"\0" * size)
    return path
