"""Finding the files to ingest under the paths a user names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ragserve.ingest.loaders import supported_suffixes


@dataclass(frozen=True, slots=True)
class Discovered:
    files: list[Path]
    missing: list[Path]
    unsupported: list[Path]


def discover(paths: list[Path]) -> Discovered:
    """Files named directly, plus supported files found recursively in folders.

    Hidden entries inside folders are skipped, and links leading outside the folder being
    walked are not followed: nothing outside the input is read.
    """
    suffixes = supported_suffixes()
    files: list[Path] = []
    missing: list[Path] = []
    unsupported: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for root in paths:
        if root.is_file():
            add(root)
        elif root.is_dir():
            real_root = root.resolve()
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    path = Path(dirpath) / name
                    if not path.resolve().is_relative_to(real_root):
                        continue
                    if path.suffix.lower() in suffixes:
                        add(path)
                    else:
                        unsupported.append(path)
        else:
            missing.append(root)
    return Discovered(files, missing, unsupported)
