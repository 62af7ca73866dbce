"""Token buckets per key and per client address, in this process.

A key gets ``per_minute`` requests a minute with as many in a burst; a client address gets
``failures_per_minute`` failed sign-ins, so a wrong-key flood is answered 429 before it
reaches the key table. Buckets are per replica (not shared through Redis).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

#: Most buckets kept; the least recently used go first (a flood of keys cannot grow it).
MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, per_minute: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if a request may go now (and counts it), else the seconds until one may."""
        if self.capacity <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
            return wait

    def blocked_for(self, key: str) -> float:
        """Seconds until ``key`` may try again, without counting a try."""
        if self.capacity <= 0:
            return 0.0
        with self._lock:
            tokens, then = self._buckets.get(key, (self.capacity, time.monotonic()))
        tokens = min(self.capacity, tokens + (time.monotonic() - then) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def retry_after(wait: float) -> int:
    return max(1, math.ceil(wait))
