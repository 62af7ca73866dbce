"""Writes an installed-looking distribution into a folder: modules plus a ``*.dist-info``.

Putting the folder on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) is all
``importlib.metadata`` needs to find its entry points, as if pip had installed it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_distribution(
    site: Path,
    name: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    *,
    group: str = "ragserve",
    version: str = "0.1",
) -> Path:
    """Write ``modules`` (module name → source) and the metadata declaring ``entry_points``."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    lines = [f"{ep} = {target}" for ep, target in entry_points.items()]
    (dist_info / "entry_points.txt").write_text(f"[{group}]\n" + "\n".join(lines) + "\n")
    return site
