"""Loaders turn one file's bytes into a ParsedDocument.

Each format is one module with a ``register()`` that calls :func:`register_loader`, named by
an entry point of the ``ragserve`` group (see ``ragserve.plugins``), exactly as a
third-party loader is. A loader is picked by sniffed content first, extension second, so a
PDF named ``.txt`` is read as a PDF and a binary named ``.txt`` is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragserve.errors import CorruptFile, EmptyFile, UnsupportedFile
from ragserve.ingest.document import ParsedDocument
from ragserve.ingest.guards import ParseLimits
from ragserve.plugins import load_plugins

LoadFunction = Callable[[Path, bytes, ParseLimits], ParsedDocument]


@dataclass(frozen=True, slots=True)
class Loader:
    kind: str
    suffixes: tuple[str, ...]
    load: LoadFunction
    sniff: Callable[[bytes], bool] | None = None


_LOADERS: dict[str, Loader] = {}


def register_loader(loader: Loader) -> None:
    """Add a loader (or replace the one of the same kind).

    Call it from a plugin's entry point: a loader registered any other way is missing in the
    parse child, which loads plugins afresh.
    """
    _LOADERS[loader.kind] = loader


def registered_loaders() -> list[Loader]:
    load_plugins()
    return list(_LOADERS.values())


def supported_suffixes() -> set[str]:
    load_plugins()
    return {s for loader in _LOADERS.values() for s in loader.suffixes}


def loader_for(path: Path, head: bytes) -> Loader:
    """The loader for a file: the suffix must be known, then sniffed content wins."""
    load_plugins()
    suffix = path.suffix.lower()
    by_suffix = next((lo for lo in _LOADERS.values() if suffix in lo.suffixes), None)
    if by_suffix is None:
        raise UnsupportedFile(
            path,
            f"unsupported file type {suffix or '(no extension)'!r}; supported: "
            + ", ".join(sorted(supported_suffixes())),
        )
    sniffed = next((lo for lo in _LOADERS.values() if lo.sniff and lo.sniff(head)), None)
    if sniffed is not None:
        return sniffed
    if by_suffix.sniff is not None:
        raise CorruptFile(path, f"content is not a valid {by_suffix.kind.upper()} file")
    return by_suffix


def parse_bytes(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Parse one file's content; raises an IngestError subclass that names the file."""
    if not data.strip():
        raise EmptyFile(path, "file is empty")
    loader = loader_for(path, data[:4096])
    document = loader.load(path, data, limits)
    if not document.blocks:
        raise EmptyFile(path, "no text could be extracted")
    return document
