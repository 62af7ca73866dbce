"""Limits that keep one hostile file from taking the process with it."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from ragserve.errors import CorruptFile, TooLarge


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_file_bytes: int
    max_unpacked_bytes: int
    max_text_chars: int
    max_ratio: float = 200.0  # zip members compressing better than this are bombs


def check_zip(path: Path, data: bytes, limits: ParseLimits) -> zipfile.ZipFile:
    """Open a zip container after checking declared sizes and compression ratios."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CorruptFile(path, f"not a valid zip container ({exc})") from exc
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
            raise TooLarge(
                path,
                f"member {info.filename!r} expands {info.file_size // info.compress_size}x "
                "(looks like a decompression bomb)",
            )
    if total > limits.max_unpacked_bytes:
        raise TooLarge(
            path,
            f"unpacks to {total // 2**20} MiB, over the "
            f"{limits.max_unpacked_bytes // 2**20} MiB limit (RAGSERVE_MAX_UNPACKED_MB)",
        )
    return archive


def looks_binary(sample: bytes) -> bool:
    """True for content that is not text in any common encoding."""
    if not sample:
        return False
    if b"\x00" in sample and sample[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(sample) > 0.05
