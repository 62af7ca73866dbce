"""A third-party plugin package, found through its entry point by the real CLI processes.

The package is written into a temp folder with its ``*.dist-info`` and put on ``PYTHONPATH``,
as pip would install it: the CLI, and the parse child it spawns, discover it on their own.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugin_package import write_distribution

# ROT13-scrambled notes: no built-in loader reads .rsv, and text read as-is would not match.
NOTE = "The Northwind warehouse in Leeds opens at seven in the morning."

RSV_PLUGIN = '''
"""ragserve-rsv: ROT13-scrambled notes (.rsv), an embedder alias and a canned chat backend."""

import codecs

from ragserve.config import EmbedBackendKind
from ragserve.embed.registry import build_embedder, register_embedder
from ragserve.ingest.document import DocumentBuilder
from ragserve.ingest.loaders import Loader, register_loader
from ragserve.llm.kinds import ChatSetup, register_chat_backend

ANSWER = "Answered by the rsv-echo plugin [1]."


def load(path, data, limits):
    builder = DocumentBuilder(str(path), "rsv", limits.max_text_chars)
    for line in codecs.decode(data.decode("ascii"), "rot13").splitlines():
        builder.add(line)
    return builder.build(title=path.stem)


class EchoChat:
    base_url = "plugin://rsv-echo"

    async def model_name(self):
        return "rsv-echo"

    async def list_models(self):
        return [{"id": "rsv-echo"}]

    async def context_window(self):
        return 4096

    async def stream(self, messages, *, max_tokens, temperature):
        yield ANSWER

    async def complete(self, messages, *, max_tokens, temperature):
        return ANSWER

    async def aclose(self):
        pass


def register():
    register_loader(Loader(kind="rsv", suffixes=(".rsv",), load=load))
    register_embedder(
        "rsv-onnx",
        lambda settings: build_embedder(
            settings.model_copy(update={"embed_backend": EmbedBackendKind.onnx})
        ),
    )
    register_chat_backend(
        "rsv-echo", lambda settings, spec, stack: ChatSetup(EchoChat(), "the rsv-echo plugin")
    )
'''


def run(
    args: list[str], cwd: Path, plugin_site: Path | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    full_env.update({"RAGSERVE_DATA_DIR": str(cwd / "data"), "COLUMNS": "200"})
    if plugin_site is not None:
        inherited = full_env.get("PYTHONPATH")
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_site), inherited]))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ragserve", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "warehouse.rsv").write_text(codecs.encode(NOTE, "rot13"))
    return folder


def test_a_plugin_package_adds_a_file_type_and_a_chat_backend_kind(
    tmp_path: Path, notes: Path
) -> None:
    note = notes / "warehouse.rsv"  # named directly: the parse child must find its loader
    without = run(["ingest", str(note), "-c", "notes"], tmp_path, plugin_site=None)
    assert without.returncode != 0
    assert "unsupported file type '.rsv'" in without.stdout + without.stderr

    site = write_distribution(
        tmp_path / "site", "ragserve-rsv", {"rsv": "ragserve_rsv:register"},
        {"ragserve_rsv": RSV_PLUGIN},
    )  # fmt: skip
    ingest = run(["ingest", str(note), "-c", "notes"], tmp_path, site)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert "1 ingested, 0 skipped, 0 failed" in ingest.stdout

    backends = json.dumps([{"name": "plugin", "kind": "rsv-echo"}])
    ask = run(
        ["ask", "When does the warehouse open?", "-c", "notes", "--json"],
        tmp_path, site, {"RAGSERVE_LLM_BACKENDS": backends},
    )  # fmt: skip
    assert ask.returncode == 0, ask.stderr
    result = json.loads(ask.stdout)
    assert result["answer"] == "Answered by the rsv-echo plugin [1]."
    assert result["model"] == "rsv-echo"
    assert result["citations"][0]["source"].endswith("warehouse.rsv")
    assert result["citations"][0]["text"] == NOTE


def test_ragserve_plugins_lists_them_and_a_broken_one_does_not_stop_ingest(
    tmp_path: Path, notes: Path
) -> None:
    site = tmp_path / "site"
    write_distribution(site, "ragserve-rsv", {"rsv": "ragserve_rsv:register"},
                       {"ragserve_rsv": RSV_PLUGIN})  # fmt: skip
    write_distribution(site, "ragserve-broken", {"broken": "ragserve_missing:register"}, {})

    listing = run(["plugins"], tmp_path, site)
    assert listing.returncode == 1  # a plugin failed: scripts can tell
    rows = listing.stdout
    assert "ragserve-rsv" in rows and "ragserve_rsv:register" in rows
    assert "failed: ModuleNotFoundError: No module named 'ragserve_missing'" in rows
    assert "rsv (.rsv)" in rows and "pdf (.pdf)" in rows
    assert "rsv-onnx" in rows.split("embedder kinds:")[1].splitlines()[0]
    assert "rsv-echo" in rows.split("chat backend kinds:")[1].splitlines()[0]

    ingest = run(["ingest", str(notes), "-c", "notes"], tmp_path, site)  # a folder: discovery
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert "1 ingested, 0 skipped, 0 failed" in ingest.stdout
    # Named once, by the CLI process; the parse child does not repeat it.
    assert ingest.stderr.count("plugin 'broken' (ragserve_missing:register") == 1
    shutil.rmtree(site / "ragserve_broken-0.1.dist-info")
    assert run(["plugins"], tmp_path, site).returncode == 0
