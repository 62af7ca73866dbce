"""What a benchmark measures, defined once (and aligned with `vllm bench serve`).

Per request, from the client's clock:

- **TTFT**: from sending the request to receiving the first chunk with content.
- **ITL**: the gaps between successive content chunks. A chunk carrying several tokens
  (servers batch them, e.g. speculative decoding or a slow client) is one gap, as vLLM
  counts it; the tokens it carried still count toward TPOT and throughput.
- **TPOT**: (E2E − TTFT) / (output tokens − 1); undefined for one-token answers.
- **E2E**: from sending to the end of the stream.
- **Output tokens**: the server's ``usage.completion_tokens`` when it reports it
  (``stream_options.include_usage``), else the number of content chunks.

Per load level: every statistic as mean, p50, p90, p99 in seconds; requests/s and output
tokens/s over the level's wall time; goodput = requests/s that met every SLO.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RequestRecord:
    """One request's timings, in seconds from its start (``t0`` is absolute)."""

    t0: float
    ttft: float | None = None
    chunk_times: list[float] = field(default_factory=list)
    e2e: float | None = None
    output_tokens: int = 0
    usage_tokens: int | None = None
    prompt_tokens: int | None = None
    error: str | None = None  # error kind: http_429, http_5xx, timeout, connect, stream, ...

    @property
    def ok(self) -> bool:
        return self.error is None and self.ttft is not None

    @property
    def tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.output_tokens

    @property
    def itl(self) -> list[float]:
        times = self.chunk_times
        return [b - a for a, b in itertools.pairwise(times)]

    @property
    def tpot(self) -> float | None:
        if not self.ok or self.e2e is None or self.ttft is None or self.tokens < 2:
            return None
        return (self.e2e - self.ttft) / (self.tokens - 1)


@dataclass(frozen=True)
class Slo:
    ttft: float | None = None
    itl: float | None = None
    tpot: float | None = None
    e2e: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> Slo:
        """``ttft=300ms,itl=100ms,e2e=3s``."""
        if not text:
            return cls()
        values: dict[str, float] = {}
        for part in text.split(","):
            key, _, raw = part.partition("=")
            key, raw = key.strip().lower(), raw.strip().lower()
            if key not in ("ttft", "itl", "tpot", "e2e"):
                raise ValueError(f"unknown SLO {key!r}: use ttft, itl, tpot or e2e")
            if raw.endswith("ms"):
                values[key] = float(raw[:-2]) / 1000
            elif raw.endswith("s"):
                values[key] = float(raw[:-1])
            else:
                raise ValueError(f"SLO {part!r} needs a unit: ms or s")
        return cls(**values)

    def met(self, r: RequestRecord) -> bool:
        if not r.ok:
            return False
        if self.ttft is not None and (r.ttft or 0) > self.ttft:
            return False
        if self.e2e is not None and (r.e2e or 0) > self.e2e:
            return False
        if self.itl is not None and r.itl and max(r.itl) > self.itl:
            return False
        tpot = r.tpot
        return not (self.tpot is not None and tpot is not None and tpot > self.tpot)

    def __str__(self) -> str:
        parts = [f"{k}={v * 1000:g}ms" for k, v in vars(self).items() if v is not None]
        return ",".join(parts) or "none"


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    a = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(a.mean()),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
    }


def summarize(records: list[RequestRecord], wall_s: float, slo: Slo) -> dict[str, object]:
    """One load level's figures (the JSON report's per-level object)."""
    ok = [r for r in records if r.ok]
    tokens = sum(r.tokens for r in ok)
    good = sum(1 for r in ok if slo.met(r))
    return {
        "requests": len(records),
        "completed": len(ok),
        "errors": dict(Counter(r.error or "no_content" for r in records if not r.ok)),
        "duration_s": wall_s,
        "request_throughput": len(ok) / wall_s if wall_s else 0.0,
        "output_throughput": tokens / wall_s if wall_s else 0.0,
        "goodput": good / wall_s if wall_s else 0.0,
        "slo_attainment": good / len(records) if records else 0.0,
        "output_tokens": tokens,
        "ttft": stats([r.ttft for r in ok if r.ttft is not None]),
        "tpot": stats([t for r in ok if (t := r.tpot) is not None]),
        "itl": stats([gap for r in ok for gap in r.itl]),
        "e2e": stats([r.e2e for r in ok if r.e2e is not None]),
    }
