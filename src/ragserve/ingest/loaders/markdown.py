"""Markdown paragraphs with their heading path (ATX and setext headings, fences respected)."""

from __future__ import annotations

import re
from pathlib import Path

from ragserve.ingest.document import DocumentBuilder, ParsedDocument
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import Loader, register_loader
from ragserve.ingest.loaders.text import decode_text

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_KEEPS_BREAK = re.compile(r"^\s*(?:[-*+>|]|\d+[.)]|    )")


def _join_soft_breaks(lines: list[str]) -> str:
    """Markdown renders a single newline as a space; lists, tables, quotes keep theirs."""
    if lines and _FENCE.match(lines[0]):
        return "\n".join(lines)
    out = [lines[0]]
    for line in lines[1:]:
        if _KEEPS_BREAK.match(line) or _KEEPS_BREAK.match(out[-1]):
            out.append(line)
        else:
            out[-1] = out[-1].rstrip() + " " + line.strip()
    return "\n".join(out)


def load(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    text = decode_text(path, data)
    builder = DocumentBuilder(str(path), "markdown", limits.max_text_chars)
    stack: list[tuple[int, str]] = []
    para: list[str] = []
    fence: str | None = None
    titles: list[str] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is not None:
            lines = lines[end + 1 :]

    def heading_path() -> tuple[str, ...]:
        return tuple(t for _, t in stack)

    def flush() -> None:
        if para:
            builder.add(_join_soft_breaks(para), heading_path=heading_path())
            para.clear()

    def push_heading(level: int, title: str) -> None:
        flush()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        if level == 1:
            titles.append(title)
        builder.add(title, heading_path=heading_path(), is_heading=True)

    for line in lines:
        fence_match = _FENCE.match(line)
        if fence is not None:
            para.append(line)
            if fence_match and fence_match.group(1)[0] == fence[0]:
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            para.append(line)
            continue
        atx = _ATX.match(line)
        if atx:
            push_heading(len(atx.group(1)), (atx.group(2) or "").strip())
            continue
        setext = _SETEXT.match(line)
        if setext and len(para) == 1 and para[0].strip():
            title = para.pop().strip()
            push_heading(1 if setext.group(1)[0] == "=" else 2, title)
            continue
        if not line.strip():
            flush()
        else:
            para.append(line)
    flush()
    return builder.build(title=titles[0] if titles else None)


LOADER = Loader(kind="markdown", suffixes=(".md", ".markdown", ".mdx"), load=load)


def register() -> None:
    """The entry point: ragserve loads it like any plugin."""
    register_loader(LOADER)
