"""The CLI end to end, as a user runs it: real processes, real models, real store."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragserve.errors import ConfigError
from ragserve.llm.embedded import EmbeddedLlamaServer
from tests.conftest import SAMPLES
from tests.fakes.fault_server import running_fault_server


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    full_env.update({"RAGSERVE_DATA_DIR": str(cwd / "data"), "COLUMNS": "200"})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ragserve", *args],
        cwd=cwd, env=full_env, input=stdin, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "samples")
    return tmp_path


@pytest.fixture
def remote_llm(llama_server: EmbeddedLlamaServer) -> dict[str, str]:
    """Point the CLI at the session's llama.cpp server instead of starting its own."""
    return {"RAGSERVE_LLM_BASE_URL": llama_server.base_url}


def test_embedded_default_ingest_then_ask_json(workdir: Path) -> None:
    ingest = run(["ingest", "samples", "--collection", "samples"], workdir)
    assert ingest.returncode == 0, ingest.stderr
    assert "5 ingested, 0 skipped, 0 failed" in ingest.stdout

    again = run(["ingest", "samples", "-c", "samples"], workdir)
    assert "0 ingested, 5 skipped, 0 failed" in again.stdout

    ask = run(["ask", "How long is parental leave?", "-c", "samples", "--json"], workdir)
    assert ask.returncode == 0, ask.stderr
    result = json.loads(ask.stdout)
    assert result["answer"]
    assert result["sources"][0]["source"] == "samples/northwind-benefits-2026.pdf"
    assert result["sources"][0]["page"] == 2
    for citation in result["citations"]:
        assert set(citation) >= {"n", "source", "page", "heading", "text"}
    # The packaged model measured too weak to answer (benchmarks/RESULTS.md, "Answer
    # quality"): the default `auto` mode quotes the passages instead, and says so.
    assert result["answer_mode"] == "extractive"
    assert result["model"] == "extractive"
    assert result["citations"] and result["attribution"] == "quoted"
    plain = run(["ask", "How long is parental leave?", "-c", "samples"], workdir)
    assert plain.returncode == 0, plain.stderr
    assert "Extractive answer:" in plain.stdout, plain.stdout  # the terminal says so too


def test_ask_streams_the_answer_then_lists_sources(
    workdir: Path, remote_llm: dict[str, str]
) -> None:
    run(["ingest", "samples", "-c", "samples"], workdir)
    ask = run(
        ["ask", "How many vacation days do Northwind employees get?", "-c", "samples"],
        workdir,
        remote_llm,
    )
    assert ask.returncode == 0, ask.stderr
    answer, _, sources = ask.stdout.partition("\nSources")
    assert "25" in answer
    assert (
        "[1] samples/northwind-handbook.md, Northwind Employee Handbook > Time off > Vacation"
        in sources
    )


def test_interactive_session_keeps_history(workdir: Path, remote_llm: dict[str, str]) -> None:
    run(["ingest", "samples", "-c", "samples"], workdir)
    session = run(
        ["ask", "-c", "samples"],
        workdir,
        remote_llm,
        stdin="How many vacation days do employees get?\nHow many carry over?\n\n",
    )
    assert session.returncode == 0, session.stderr
    answered = session.stdout.count("\nSources") + session.stdout.count("No sources cited.")
    assert answered == 2, session.stdout


def test_failed_files_are_named_and_the_exit_code_says_so(workdir: Path) -> None:
    (workdir / "samples" / "broken.pdf").write_bytes(b"%PDF-1.5 broken")
    ingest = run(["ingest", "samples"], workdir)
    assert ingest.returncode == 1
    assert "5 ingested, 0 skipped, 1 failed" in ingest.stdout
    assert "failed  samples/broken.pdf: not a readable PDF" in ingest.stdout


def test_collections_list_show_and_delete(workdir: Path) -> None:
    run(["ingest", "samples/it-faq.txt", "-c", "faq"], workdir)
    listing = run(["collections"], workdir)
    assert "faq" in listing.stdout and "all-MiniLM-L6-v2-int8" in listing.stdout
    show = run(["collections", "show", "faq"], workdir)
    assert "samples/it-faq.txt" in show.stdout and "ready" in show.stdout
    assert run(["collections", "delete", "faq", "--yes"], workdir).returncode == 0
    assert "No collections yet" in run(["collections"], workdir).stdout
    missing = run(["ask", "anything", "-c", "faq"], workdir)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_doctor_passes_on_the_embedded_default(workdir: Path) -> None:
    doctor = run(["doctor", "--json"], workdir)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names == ["data directory", "embedder", "chat endpoint"]
    assert all(c["ok"] for c in report["checks"])


def test_doctor_explains_misconfigured_endpoints(workdir: Path) -> None:
    with running_fault_server() as (chat_url, chat), running_fault_server() as (embed_url, emb):
        chat.required_key = "s3cret"  # a vLLM started with --api-key
        emb.disabled = {"embeddings"}  # a vLLM started for generation
        env = {
            "RAGSERVE_LLM_BASE_URL": chat_url,
            "RAGSERVE_EMBED_BASE_URL": embed_url,
            "RAGSERVE_EMBED_MODEL": "ok",
        }
        doctor = run(["doctor", "--json"], workdir, env)
    assert doctor.returncode == 1
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert not checks["embedding endpoint"]["ok"]
    assert "--runner pooling" in checks["embedding endpoint"]["fix"]
    assert not checks["chat endpoint"]["ok"]
    assert "RAGSERVE_LLM_API_KEY" in checks["chat endpoint"]["fix"]

    human = run(["doctor"], workdir, {"RAGSERVE_LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    assert human.returncode == 1
    assert "✗ chat endpoint" in human.stdout and "nothing is listening" in human.stdout
    assert "fix:" in human.stdout


def test_ingest_refuses_a_data_dir_a_server_owns(tmp_path: Path) -> None:
    from ragserve.store.ownership import DataDirLock

    lock = DataDirLock(tmp_path / "data")
    lock.acquire()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "ragserve", "ingest", str(tmp_path)],
            env={**os.environ, "RAGSERVE_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1
        assert "server is running" in result.stderr and "/api/collections" in result.stderr
        with pytest.raises(ConfigError, match="another ragserve server"):
            DataDirLock(tmp_path / "data").acquire()
    finally:
        lock.release()
    again = DataDirLock(tmp_path / "data")
    again.acquire()  # free again once released
    again.release()
    # The other way round: while a CLI command writes, no server starts on the data dir.
    with subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from ragserve.store.ownership import ensure_no_server; "
         f"ensure_no_server(Path({str(tmp_path / 'data')!r})); print('held', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    ) as writing:  # fmt: skip
        try:
            assert writing.stdout is not None and writing.stdout.readline().strip() == "held"
            with pytest.raises(ConfigError, match="a ragserve command writing"):
                DataDirLock(tmp_path / "data").acquire()
        finally:
            writing.kill()
    after = DataDirLock(tmp_path / "data")
    after.acquire()  # the command's exit released it
    after.release()
