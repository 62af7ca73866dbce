"""Rendering and validating deploy/ manifests with the tools `make deploy-tools` installs.

Built-in kinds are checked by kubernetes-validate (the Kubernetes OpenAPI schemas, strict: no
unknown fields); KEDA and Prometheus-operator objects by the JSON schemas that
@kubernetes-models generates from those operators' CRDs (crd_models.mjs, run by node).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
HELM = TOOLS / "bin" / "helm"
KUBECTL = TOOLS / "bin" / "kubectl"
NODE_MODULES = TOOLS / "npm" / "node_modules"
KSERVE_PYTHON = TOOLS / "kserve" / "bin" / "python"
CHART = ROOT / "deploy" / "helm" / "ragserve"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
# helm v4 and kubectl 1.35 come from the same layer; validate against that API version.
KUBERNETES_VERSION = "1.35.0"
CRD_GROUPS = {"keda.sh", "monitoring.coreos.com"}

Manifest = dict[str, Any]


def require_tools() -> None:
    missing = [p for p in (HELM, KUBECTL, NODE_MODULES, KSERVE_PYTHON) if not p.exists()]
    assert not missing, f"missing {missing}: run `make deploy-tools`"


def run(args: list[str | Path], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], input=stdin, capture_output=True, text=True, timeout=120
    )


def helm_template(
    values_files: Iterable[Path] = (), sets: Iterable[str] = (), flags: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    args: list[str | Path] = [HELM, "template", "rag", CHART, "--namespace", "rag", *flags]
    args += [x for f in values_files for x in ("-f", f)]
    args += [x for s in sets for x in ("--set", s)]
    return run(args)


def render(values_files: Iterable[Path] = (), sets: Iterable[str] = ()) -> list[Manifest]:
    result = helm_template(values_files, sets)
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


def load_all(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_file(path: Path) -> list[Manifest]:
    return load_all(path.read_text())


def is_custom(manifest: Manifest) -> bool:
    return str(manifest["apiVersion"]).split("/")[0] in CRD_GROUPS


def builtin_errors(manifests: Iterable[Manifest]) -> list[str]:
    """kubernetes-validate's verdict on each built-in object, strict (unknown fields fail)."""
    errors = []
    for m in manifests:
        if is_custom(m):
            continue
        try:
            kubernetes_validate.validate(m, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = "/".join(str(p) for p in e.path)
            errors.append(f"{m['kind']}/{m['metadata']['name']} at {where}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{m['kind']} ({m['apiVersion']}): no Kubernetes schema")
    return errors


def custom_errors(manifests: Iterable[Manifest]) -> list[str]:
    """The @kubernetes-models CRD schemas' verdict on each KEDA / Prometheus-operator object."""
    custom = [m for m in manifests if is_custom(m)]
    if not custom:
        return []
    result = run(
        ["node", ROOT / "tests" / "deploy" / "crd_models.mjs", NODE_MODULES],
        stdin=json.dumps(custom),
    )
    assert result.returncode == 0, result.stderr
    return [
        f"{r['kind']}/{r['name']}: {r['error']}" for r in json.loads(result.stdout) if r["error"]
    ]


def by_kind(manifests: Iterable[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def containers(manifest: Manifest) -> list[Manifest]:
    spec = manifest["spec"]["template"]["spec"]
    return list(spec["containers"])


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in container.get("env", [])}
