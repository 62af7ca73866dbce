"""A synthetic but realistic corpus: policy-style English prose in PDFs of many pages."""

from __future__ import annotations

import random
from pathlib import Path

from fpdf import FPDF

SUBJECTS = [
    "The finance team",
    "Every project lead",
    "The security office",
    "New employees",
    "The data platform group",
    "Each regional office",
    "The procurement board",
    "Client-facing consultants",
    "The on-call engineer",
    "The people team",
]
VERBS = [
    "reviews",
    "approves",
    "documents",
    "archives",
    "audits",
    "reports on",
    "schedules",
    "encrypts",
    "reconciles",
    "publishes",
]
OBJECTS = [
    "quarterly budget forecasts",
    "vendor contracts above 10,000 euros",
    "access rights to production systems",
    "travel requests for conferences",
    "incident post-mortems",
    "customer satisfaction surveys",
    "backup restore drills",
    "laptop replacement requests",
    "training budgets for each team",
    "data retention exceptions",
]
WHEN = [
    "every Monday morning",
    "before the end of each quarter",
    "within five working days",
    "at least twice a year",
    "after every major release",
    "before a client workshop",
    "as soon as a request is filed",
    "during the annual planning week",
]
WHY = [
    "so that nothing is approved twice",
    "because auditors ask for a written trail",
    "to keep costs predictable",
    "which keeps client data safe",
    "so that teams can plan ahead",
    "as required by the 2026 compliance framework",
]


def paragraph(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(3, 6)):
        sentence = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        sentence += f"{rng.choice(WHEN)}, {rng.choice(WHY)}."
        if rng.random() < 0.3:
            sentence += f" Reference number {rng.randint(1000, 9999)} applies."
        sentences.append(sentence)
    return " ".join(sentences)


def make_pdf(path: Path, pages: int, seed: int, words_per_page: int = 380) -> Path:
    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_title(path.stem)
    for page in range(pages):
        pdf.add_page()
        if page % 10 == 0:
            pdf.start_section(f"Chapter {page // 10 + 1}")
        pdf.set_font("Helvetica", size=10)
        words = 0
        while words < words_per_page:
            text = paragraph(rng)
            words += len(text.split())
            pdf.multi_cell(0, 5, text)
            pdf.ln(3)
    pdf.output(str(path))
    return path


def make_corpus(folder: Path, files: int, pages_per_file: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [make_pdf(folder / f"policy-{i:03d}.pdf", pages_per_file, seed=i) for i in range(files)]
