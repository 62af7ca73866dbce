"""Checks on uploaded files before they are queued: a safe name and a sniffed type.

The client's filename is only a hint: it is reduced to a bare, printable name (no folders,
no ``..``), and the file's type comes from its bytes. A PDF sent as ``notes`` is stored as
``notes.pdf``; an executable sent as ``notes.txt`` is refused.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from ragserve.errors import CorruptFile, UnsupportedFile
from ragserve.ingest.loaders import loader_for, registered_loaders
from ragserve.ingest.loaders.text import is_binary

_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@&'!~#=]")
MAX_NAME = 200


def safe_filename(name: str | None) -> str:
    """A bare file name that cannot leave the folder it is written to."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]  # folders from any OS are dropped
    name = "".join(ch for ch in name if ch.isprintable())
    name = _UNSAFE.sub("_", name).strip(" .")  # no hidden files, no '..'
    if len(name) > MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: MAX_NAME - len(suffix) - 1] + dot + suffix) if dot else name[:MAX_NAME]
    return name or "upload"


def checked_upload_name(name: str | None, head: bytes) -> str:
    """The name to store an upload under, with the suffix its content calls for.

    Raises ``UnsupportedFile`` for content no loader reads.
    """
    clean = safe_filename(name)
    path = Path(clean)
    sniffed = next((lo for lo in registered_loaders() if lo.sniff and lo.sniff(head)), None)
    if sniffed is not None:
        if path.suffix.lower() not in sniffed.suffixes:
            clean = f"{clean}{sniffed.suffixes[0]}"
        return clean
    try:
        loader_for(path, head)  # raises UnsupportedFile for unknown suffixes
    except CorruptFile as exc:  # e.g. text named .pdf: refused now rather than failed later
        raise UnsupportedFile(clean, exc.reason) from exc
    if is_binary(head):  # UTF-16 and UTF-32 with a BOM are text
        raise UnsupportedFile(clean, "binary content in a text file type")
    return clean
