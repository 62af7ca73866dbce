"""The embedding rate limit shared by every worker: one schedule in Redis.

``RAGSERVE_INGEST_EMBED_RATE`` caps chunks embedded per second for the whole cluster, not
per worker (an embedding server is sized for the total). Each caller books its batch on one
timeline kept in Redis (the next free instant, in Redis's own clock so workers' clocks need
not agree) and sleeps until its turn: the same spacing as the one-process
:class:`ragserve.ingest.pipeline.RateLimiter`, atomically across processes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1]: the next free instant (µs); ARGV[1]: microseconds this batch takes at the rate.
# Returns how long the caller waits, µs.
_BOOK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(nxt, now)
local booked = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], booked, 'PX', 60000 + math.ceil((booked - now) / 1000))
return start - now
"""


class SharedRateLimiter:
    """At most ``rate`` units a second on average, over every process using ``key``."""

    def __init__(self, redis: Redis, key: str, rate: float | None) -> None:
        # Any: redis-py annotates replies as sync-or-async unions that need a cast per call.
        self.redis: Any = redis
        self.key = key
        self.rate = rate
        self._book = redis.register_script(_BOOK)

    def book(self, units: int) -> float:
        """Book ``units`` on the shared timeline; the seconds to wait before using them."""
        if not self.rate:
            return 0.0
        try:
            wait_us = int(self._book(keys=[self.key], args=[int(units / self.rate * 1e6)]))
        except RedisError as exc:  # no shared schedule: go on (the queue is down anyway)
            log.warning("shared embedding rate limit unavailable: %s", exc)
            return 0.0
        return max(0.0, wait_us / 1e6)

    def acquire(self, units: int) -> None:
        wait = self.book(units)
        if wait > 0:
            time.sleep(wait)
