"""Encode speed of the packaged multilingual embedders against today's default (int8 ONNX
MiniLM), on the same chunk texts from the two evaluation manuals (English and Korean).

Each model counts tokens with its own tokenizer, so characters/s is what a user sees; tokens/s
is each model's own. The ceiling beside the tokens/s ratio is what compute per token allows:
the encoder's non-embedding parameters against MiniLM's (e5-small has twice MiniLM's layers).

    python -m benchmarks.multilingual_embedders [--threads 1] [--texts 64]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks._common import machine, save
from ragserve.config import MULTILINGUAL_E5, MULTILINGUAL_USE, Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.embed.registry import build_embedder
from ragserve.ingest.chunking import chunk_document
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.loaders import parse_bytes

PAGES = {
    "en": Path("/usr/share/doc/python3.11/html/library/os.html"),
    "ko": Path("/usr/share/gimp/2.0/help/ko/gimp-using-layers.html"),
}
BASELINE = "all-MiniLM-L6-v2-int8"
#: Encoder parameters outside the embedding table (hidden 384, FFN 1536): 6 vs 12 layers.
#: USE is a CNN over token embeddings; its per-token compute is not comparable, so no ceiling.
ENCODER_PARAMS = {BASELINE: 6 * 1.77e6, MULTILINGUAL_E5: 12 * 1.77e6}


def chunk_texts(language: str, n: int) -> list[str]:
    """``n`` chunks of a manual page, cut with MiniLM's tokenizer (the same texts for all)."""
    path = PAGES[language]
    doc = parse_bytes(path, path.read_bytes(), ParseLimits(10**9, 10**9, 10**9))
    tokenizer = build_embedder(Settings()).tokenizer
    texts = [c.embedding_text() for c in chunk_document(doc, tokenizer, 200, 32)]
    return (texts * (n // max(len(texts), 1) + 1))[:n]


def rate(embedder: EmbeddingBackend, texts: list[str], runs: int = 2) -> float:
    """Best-of-``runs`` seconds for embedding ``texts`` as passages (after a warm-up)."""
    embedder.embed_passages(texts[:4])
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        embedder.embed_passages(texts)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--texts", type=int, default=64)
    args = parser.parse_args()
    print(f"machine: {machine()}; threads: {args.threads}; {args.texts} chunks per language")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for language in PAGES:
        texts = chunk_texts(language, args.texts)
        chars = sum(len(t) for t in texts)
        for model in (BASELINE, MULTILINGUAL_E5, MULTILINGUAL_USE):
            embedder = build_embedder(Settings(embed_model=model, embed_threads=args.threads))
            tokens = sum(len(o) for o in embedder.tokenizer.token_offsets(texts))
            seconds = rate(embedder, texts)
            results.setdefault(language, {})[model] = {
                "chars_per_s": chars / seconds,
                "tokens_per_s": tokens / seconds,
                "tokens": tokens,
            }
            embedder.close()
    print(
        "| language | model | tokens (own) | tokens/s | chars/s | chars/s vs MiniLM "
        "| tokens/s vs MiniLM | ceiling (tokens/s) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for language, rows in results.items():
        base = rows[BASELINE]["chars_per_s"]
        base_tokens = rows[BASELINE]["tokens_per_s"]
        for model, r in rows.items():
            ceiling = (
                f"{ENCODER_PARAMS[BASELINE] / ENCODER_PARAMS[model]:.2f}"
                if model in ENCODER_PARAMS
                else "n/a"
            )
            print(
                f"| {language} | {model} | {r['tokens']:.0f} | {r['tokens_per_s']:,.0f} | "
                f"{r['chars_per_s']:,.0f} | {r['chars_per_s'] / base:.2f} | "
                f"{r['tokens_per_s'] / base_tokens:.2f} | {ceiling} |"
            )
    save("multilingual_embedders", {"threads": args.threads, "results": results})


if __name__ == "__main__":
    main()
