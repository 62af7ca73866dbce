"""The tree reads as the data flow: lower layers never import the ones above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ragserve"

#: package -> packages it must not import.
FORBIDDEN = {
    "llm": ("ragserve.store", "ragserve.ingest", "ragserve.rag", "ragserve.api"),
    "store": ("ragserve.llm", "ragserve.ingest", "ragserve.rag", "ragserve.api"),
    "embed": ("ragserve.store", "ragserve.llm", "ragserve.rag", "ragserve.api"),
    "ingest": ("ragserve.llm", "ragserve.rag", "ragserve.api"),
    "rag": ("ragserve.api",),
    "api/routes": ("ragserve.store", "ragserve.ingest", "ragserve.llm", "ragserve.rag"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_do_not_reach_upwards(package: str) -> None:
    bad = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN[package])
    ]
    assert not bad, bad
