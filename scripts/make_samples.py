"""Regenerate the binary sample documents (PDF and DOCX) under samples/."""

from __future__ import annotations

from pathlib import Path

import docx
from fpdf import FPDF

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

BENEFITS = [
    (
        "Health insurance",
        [
            "All employees and their children are covered by the Northwind group health plan from "
            "their first working day. The plan covers hospital care, specialists and dental "
            "check-ups.",
            "Spouses and partners can join the plan for 38 euros per month, deducted from salary.",
        ],
    ),
    (
        "Parental leave",
        [
            "Parents receive 20 weeks of parental leave at full pay, on top of what national law "
            "provides. The leave can be taken in up to three blocks within two years of the birth "
            "or adoption.",
            "Tell your team lead and HR at least eight weeks before the leave starts.",
        ],
    ),
    (
        "Pension",
        [
            "Northwind pays 6 percent of the gross salary into the company pension fund. Employees "
            "may add up to 10 percent themselves; contributions vest immediately.",
        ],
    ),
    (
        "Learning budget",
        [
            "Each employee has a learning budget of 1,500 euros per year for courses, conferences "
            "and books, and five paid learning days. Unused budget does not carry over.",
        ],
    ),
]


def make_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.set_title("Northwind Benefits Guide 2026")
    for heading, paragraphs in BENEFITS:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.start_section(heading)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for text in paragraphs:
            pdf.multi_cell(0, 6, text)
            pdf.ln(4)
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Northwind Onboarding Checklist"
    document.add_heading("Onboarding checklist", level=1)
    document.add_paragraph(
        "New employees complete this checklist in their first two weeks, with their buddy."
    )
    document.add_heading("First day", level=2)
    document.add_paragraph(
        "Collect your laptop and hardware security key from the IT service desk at 09:00, "
        "sign the confidentiality agreement, and meet your buddy for lunch."
    )
    document.add_heading("First week", level=2)
    document.add_paragraph(
        "Finish the security awareness course, set up the HR portal, and book a one-to-one "
        "with your team lead. The security course takes about 90 minutes."
    )
    document.add_heading("Second week", level=2)
    document.add_paragraph(
        "Shadow a client meeting and present a short introduction of yourself at the Friday "
        "all-hands."
    )
    document.save(str(path))


if __name__ == "__main__":
    make_pdf(SAMPLES / "northwind-benefits-2026.pdf")
    make_docx(SAMPLES / "onboarding-checklist.docx")
