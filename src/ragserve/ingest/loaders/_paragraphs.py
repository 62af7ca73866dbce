"""Splitting extracted text into paragraphs."""

from __future__ import annotations

import re

_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n+")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
_SPACES = re.compile(r"[ \t\f\v]+")


def paragraphs(text: str, *, join_lines: bool) -> list[str]:
    """Blank-line separated paragraphs; with ``join_lines`` soft line breaks become spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    out = []
    for raw in _BLANK_LINES.split(text):
        if join_lines:
            raw = _HYPHEN_BREAK.sub(r"\1\2", raw)
            raw = " ".join(line.strip() for line in raw.split("\n") if line.strip())
        raw = _SPACES.sub(" ", raw).strip()
        if raw:
            out.append(raw)
    return out
