"""Ask latency on the embedded default: retrieval time and time to first token.

Baseline, side by side: the identical prompt sent straight to the same llama.cpp server,
so the difference is what ragserve adds (embedding the query, search, prompt packing).
Before each measured call an unrelated request clears llama.cpp's prompt-prefix reuse, so
neither side gets a cache hit from the other.

    python -m benchmarks.ask [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from benchmarks._common import machine, percentiles, save
from ragserve.config import Settings
from ragserve.ingest.pipeline import IngestPipeline
from ragserve.llm.openai_compat import OpenAICompatChat
from ragserve.rag.answer import DoneEvent
from ragserve.rag.prompt import build_messages
from ragserve.runtime import Runtime

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
QUESTIONS = [
    "How many vacation days do Northwind employees get?",
    "How long is parental leave?",
    "What is the minimum password length?",
    "How much does Northwind pay into the pension fund?",
    "Who do I call outside office hours?",
    "How often are laptops replaced?",
    "What is the daily meal allowance when travelling?",
    "What happens on the first day of onboarding?",
    "How many days a week can I work remotely?",
    "How quickly must a lost laptop be reported?",
]


async def flush(chat: OpenAICompatChat) -> None:
    """An unrelated request, so llama.cpp cannot reuse the previous prompt's cache."""
    await chat.complete(
        [{"role": "user", "content": "Name a colour."}], max_tokens=1, temperature=0.0
    )


async def run(rounds: int) -> dict[str, object]:
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), llm_max_tokens=32)
    with Runtime(settings) as runtime:
        IngestPipeline(settings, runtime.catalog, runtime.embedder).run([SAMPLES], "samples")
        service = runtime.answers
        chat = runtime.chain
        assert isinstance(chat, OpenAICompatChat)
        retrieval, ttft, direct_ttft = [], [], []
        await service.ask(QUESTIONS[0], "samples")  # warm-up
        for _ in range(rounds):
            for question in QUESTIONS:
                await flush(chat)
                async for event in service.stream(question, "samples"):
                    if isinstance(event, DoneEvent):
                        t = event.result.timings
                        retrieval.append(t.retrieval_ms)
                        ttft.append(t.first_token_ms or t.total_ms)
                        messages, _ = build_messages(
                            question, event.result.sources, [],
                            context_window=await chat.context_window(),
                            max_tokens=settings.llm_max_tokens,
                        )  # fmt: skip
                await flush(chat)
                started = time.perf_counter()
                async for _delta in chat.stream(
                    messages, max_tokens=settings.llm_max_tokens, temperature=0.0
                ):
                    direct_ttft.append((time.perf_counter() - started) * 1000)
                    break
        await chat.aclose()
    return {"retrieval_ms": percentiles(retrieval), "ttft_ms": percentiles(ttft),
            "direct_ttft_ms": percentiles(direct_ttft), "asks": len(ttft)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    result = asyncio.run(run(args.rounds))
    r, t, d = result["retrieval_ms"], result["ttft_ms"], result["direct_ttft_ms"]
    assert isinstance(r, dict) and isinstance(t, dict) and isinstance(d, dict)
    print(f"{result['asks']} asks on the samples, SmolLM2-135M on llama.cpp, CPU")
    print(f"retrieval (embed query + search): p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms")
    print(f"TTFT through ragserve:            p50 {t['p50']:.0f} ms, p99 {t['p99']:.0f} ms")
    print(f"TTFT same prompt, server direct:  p50 {d['p50']:.0f} ms, p99 {d['p99']:.0f} ms")
    print(
        f"ratio ragserve / direct TTFT p50: {t['p50'] / d['p50']:.2f}x "
        f"(+{t['p50'] - d['p50']:.0f} ms)"
    )
    save("ask", result)


if __name__ == "__main__":
    main()
