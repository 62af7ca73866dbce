"""The bench's definitions on hand-made timings, and prompts of an exact token length."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from ragserve.bench.metrics import RequestRecord, Slo, summarize
from ragserve.bench.runner import capacity, recommendation
from ragserve.bench.workload import synthetic
from ragserve.embed.packaged import minilm_folder


def _record(ttft: float, gaps: list[float], usage: int | None = None) -> RequestRecord:
    times = [ttft]
    for gap in gaps:
        times.append(times[-1] + gap)
    return RequestRecord(t0=0.0, ttft=ttft, chunk_times=times, e2e=times[-1] + 0.001,
                         output_tokens=len(times), usage_tokens=usage)  # fmt: skip


def test_definitions() -> None:
    r = _record(0.1, [0.02, 0.02, 0.04])
    assert r.itl == pytest.approx([0.02, 0.02, 0.04])
    assert r.tpot == pytest.approx((0.181 - 0.1) / 3)
    multi = _record(0.1, [0.04, 0.04], usage=6)  # 3 chunks carrying 6 tokens
    assert multi.tokens == 6 and len(multi.itl) == 2
    assert multi.tpot == pytest.approx((0.181 - 0.1) / 5)
    assert _record(0.1, []).tpot is None  # one token: no time per output token


def test_slo_parsing_and_goodput() -> None:
    slo = Slo.parse("ttft=300ms,itl=50ms,e2e=2s")
    assert (slo.ttft, slo.itl, slo.e2e) == (0.3, 0.05, 2.0)
    with pytest.raises(ValueError, match="unit"):
        Slo.parse("ttft=300")
    with pytest.raises(ValueError, match="unknown SLO"):
        Slo.parse("latency=1s")
    fast, slow_gap = _record(0.1, [0.02] * 5), _record(0.1, [0.02, 0.09])
    failed = RequestRecord(t0=0.0, error="http_5xx")
    level = summarize([fast, slow_gap, failed], wall_s=2.0, slo=slo)
    assert level["completed"] == 2 and level["errors"] == {"http_5xx": 1}
    assert level["goodput"] == pytest.approx(0.5)  # only `fast` met every SLO, over 2 s
    assert level["slo_attainment"] == pytest.approx(1 / 3)


def test_capacity_and_knee() -> None:
    def level(n: int, attain: float, tput: float, ttft: float) -> dict[str, object]:
        return {"endpoint": "e", "level": float(n), "slo_attainment": attain,
                "output_throughput": tput, "ttft": {"p50": ttft}}  # fmt: skip

    levels = [level(1, 1.0, 100, 0.1), level(4, 1.0, 380, 0.12), level(16, 0.97, 400, 0.5),
              level(64, 0.3, 405, 2.0)]  # fmt: skip
    cap = capacity(levels)
    assert cap["e"] == {"holds": 16.0, "knee": 16.0, "slo_target": 0.95}
    lines = recommendation(cap, "concurrency", Slo.parse("ttft=1s"))
    assert lines[0] == (
        "e: holds 16 concurrent users at ttft=1000ms (95% of requests within every SLO)."
    )


def test_synthetic_prompts_have_the_exact_length_with_a_tokenizer() -> None:
    tokenizer = Tokenizer.from_file(str(minilm_folder() / "tokenizer.json"))
    prompts = synthetic(20, 64, tokenizer=tokenizer)
    lengths = [
        len(tokenizer.encode(p[0]["content"], add_special_tokens=False).ids) for p in prompts
    ]
    assert all(62 <= n <= 64 for n in lengths), lengths
    assert len({p[0]["content"] for p in prompts}) == 20  # distinct: no prefix-cache wins
