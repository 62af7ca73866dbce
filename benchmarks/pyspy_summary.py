"""Where a py-spy profile of the ingest pipeline spends its samples, by thread and stage.

    python -m benchmarks.pyspy_summary PROFILE.txt [--top 12]

Reads py-spy's ``raw`` output (``record -f raw``: one collapsed stack per line, its sample
count last). Only the pipeline's part is kept, the stacks through ``IngestPipeline``, grouped
by their outermost pipeline frame — the stage's thread (``_write_stage``, ``_embed_stage``,
the parse threads' entry, ``run`` for the main thread) — and within a stage by the innermost
pipeline frame and the three below it. The embedding calls run on a pool thread with no
pipeline frame above them; they are kept by their ``embed_passages`` frame.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def parse(line: str) -> tuple[list[str], int] | None:
    """The function names of one collapsed stack (outermost first) and its samples."""
    head, _, count = line.rstrip().rpartition(" ")
    if not head or not count.isdigit():
        return None
    frames = [part.split(" (", 1)[0] for part in head.split(";")]
    return [f for f in frames if f != "thread" and not f.startswith("process ")], int(count)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    by_thread: Counter[str] = Counter()
    by_stack: dict[str, Counter[str]] = {}
    total = 0
    for line in args.profile.read_text().splitlines():
        got = parse(line)
        if got is None:
            continue
        frames, n = got
        total += n
        inside = [i for i, f in enumerate(frames) if f.startswith("IngestPipeline")]
        calls = [i for i, f in enumerate(frames) if f.endswith(".embed_passages")]
        if inside:
            group = frames[inside[0]]
            where = " > ".join(frames[inside[-1] : inside[-1] + 4])
        elif calls:  # the pipeline's embedding call, run on its pool's thread
            group = "embed_passages (the embed stage's pool thread)"
            where = " > ".join(frames[calls[0] : calls[0] + 4])
        else:
            continue
        by_thread[group] += n
        by_stack.setdefault(group, Counter())[where] += n
    kept = sum(by_thread.values())
    print(f"{args.profile.name}: {total} samples, {kept} in the pipeline\n")
    for group, n in by_thread.most_common():
        print(f"{n:7d} {n / max(kept, 1):6.1%} {group}")
    for group, n in by_thread.most_common():
        print(f"\n{group}: {n} samples")
        for where, m in by_stack[group].most_common(args.top):
            print(f"{m:7d} {m / n:6.1%} {where}")


if __name__ == "__main__":
    main()
