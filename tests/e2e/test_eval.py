"""`ragserve eval` as a user runs it: a tiny collection, a QA file, the table, JSON and HTML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"

DOCS = {
    "kettle.md": "# Descaling the kettle\n\nFill the kettle with equal parts white vinegar and "
    "water, boil it, leave it for an hour, then rinse twice. Limescale flakes come off.",
    "bicycle.md": "# Tyre pressure\n\nRoad bicycle tyres run at 80 to 100 psi; check the "
    "pressure with a floor pump gauge every week, since tubes lose air slowly.",
    "sourdough.md": "# Feeding a sourdough starter\n\nDiscard half of the starter and feed it "
    "equal weights of flour and water every day; it is ready when it doubles in four hours.",
    "telescope.md": "# Collimating a telescope\n\nAlign the secondary and primary mirrors of "
    "the Newtonian reflector with a collimation cap until the reflections are centred.",
}

QUESTIONS = [
    {"id": "kettle", "question": "How do I remove limescale from my kettle?",
     "expected_sources": ["kettle.md"], "split": "dev", "type": "howto"},
    {"id": "tyres", "question": "What pressure should road bike tyres have?",
     "expected_sources": ["docs/bicycle.md"], "split": "dev", "type": "fact"},
    {"id": "starter", "question": "How often should a sourdough starter be fed?",
     "expected_sources": ["sourdough.md", "telescope.md"], "split": "test", "type": "howto"},
    # Its page was never ingested: the one miss every mode must report.
    {"id": "roses", "question": "When should roses be pruned?",
     "expected_sources": ["garden.md"], "split": "test", "type": "fact"},
]  # fmt: skip


def ragserve(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    env.update({"RAGSERVE_DATA_DIR": str(cwd / "data"), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "ragserve", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Ingest the four documents and evaluate all four questions once (the slow part)."""
    work = tmp_path_factory.mktemp("eval")
    (work / "docs").mkdir()
    for name, text in DOCS.items():
        (work / "docs" / name).write_text(text)
    (work / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    ingest = ragserve(["ingest", "docs", "-c", "tiny"], work)
    assert ingest.returncode == 0, ingest.stderr
    run = ragserve(
        ["eval", "qa.jsonl", "-c", "tiny", "--mode", "dense", "--json", "out.json",
         "--html", "out.html"],
        work,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return work, run.stdout


def test_console_shows_the_metric_table_and_lists_the_miss(evaluated: tuple[Path, str]) -> None:
    _, stdout = evaluated
    header = next(line for line in stdout.splitlines() if "recall@1" in line)
    for column in ("mode", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10"):
        assert column in header
    dense = next(line for line in stdout.splitlines() if line.strip("│ ").startswith("dense"))
    assert "0.750" in dense  # three of four found within 10
    assert "By type" in stdout
    misses = stdout.split("Misses, dense")[1]
    assert "(no expected source in the top 10): 1" in misses
    assert "roses  When should roses be pruned?" in misses
    assert "expected garden.md; got docs/" in misses


def test_json_report_shape(evaluated: tuple[Path, str]) -> None:
    work, _ = evaluated
    doc = json.loads((work / "out.json").read_text())
    assert doc["collection"] == "tiny" and doc["split"] == "all" and doc["questions"] == 4
    assert doc["modes"] == ["dense"] and doc["ks"] == [1, 3, 5, 10]
    scores = doc["metrics"]["dense"]
    assert set(scores) == {
        "recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10",
        "latency_ms_p50", "latency_ms_p95",
    }  # fmt: skip
    assert scores["recall@10"] == 0.75
    assert 0 < scores["mrr@10"] <= 0.75
    assert doc["misses"] == {"dense": ["roses"]}
    assert set(doc["groups"]["type"]) == {"fact", "howto"}
    assert doc["groups"]["type"]["fact"]["n"] == 2
    assert doc["answers"] is None  # --answers not given
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["roses"]["modes"]["dense"]["rank"] is None
    assert by_id["kettle"]["modes"]["dense"]["rank"] == 1
    top = by_id["kettle"]["modes"]["dense"]["top"]
    assert len(top) == 4  # every passage of the tiny collection, in rank order
    assert top[0]["source"] == "docs/kettle.md"
    assert set(top[0]) == {"source", "score", "page"}
    assert by_id["tyres"]["expected"] == ["docs/bicycle.md"]


def test_split_and_options_are_checked(evaluated: tuple[Path, str]) -> None:
    work, _ = evaluated
    test = ragserve(["eval", "qa.jsonl", "-c", "tiny", "--split", "test", "--k", "1,2",
                     "--json", "test.json"], work)  # fmt: skip
    assert test.returncode == 0, test.stderr
    doc = json.loads((work / "test.json").read_text())
    assert [r["id"] for r in doc["results"]] == ["starter", "roses"]
    assert doc["ks"] == [1, 2] and "recall@2" in doc["metrics"]["dense"]
    assert "2 questions, split test" in test.stdout

    unknown = ragserve(["eval", "qa.jsonl", "-c", "tiny", "--mode", "dense,bm25"], work)
    assert unknown.returncode == 1
    assert "unknown retrieval mode bm25; available: dense" in unknown.stderr


def test_html_report_shows_the_metric_table_in_chromium(evaluated: tuple[Path, str]) -> None:
    work, _ = evaluated
    shot = work / "report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto((work / "out.html").as_uri())
        assert page.title() == "ragserve eval report"
        headers = page.locator("table.metrics th").all_inner_texts()
        assert headers[:7] == ["mode", "recall@1", "recall@3", "recall@5", "recall@10",
                               "mrr@10", "ndcg@10"]  # fmt: skip
        row = page.locator("table.metrics tbody tr")
        assert row.count() == 1
        cells = row.first.locator("td").all_inner_texts()
        assert cells[0] == "dense" and cells[4] == "0.750"
        box = page.locator("table.metrics").bounding_box()
        assert box is not None and box["width"] > 400
        missed = page.locator("table.questions tr.miss")
        assert missed.count() == 1 and "roses" in missed.inner_text()
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
