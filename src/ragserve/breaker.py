"""A circuit breaker per backend, so a dead backend is not tried on every request.

closed ──(N failures in a row)──▶ open ──(cooldown)──▶ half-open ──(success)──▶ closed
                                    ▲                       │
                                    └──────(failure)────────┘  (cooldown doubles, capped)
"""

from __future__ import annotations

import threading
import time
from enum import StrEnum


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    def __init__(
        self, failures: int = 3, cooldown_s: float = 10.0, max_cooldown_s: float = 120.0
    ) -> None:
        self.threshold = failures
        self.base_cooldown = cooldown_s
        self.max_cooldown = max_cooldown_s
        self.cooldown = cooldown_s
        self.consecutive_failures = 0
        self.total_failures = 0
        self.total_successes = 0
        self.last_error: str | None = None
        self._opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if time.monotonic() - self._opened_at >= self.cooldown:
            return BreakerState.half_open
        return BreakerState.open

    def allow(self) -> bool:
        """Whether a request may go to this backend now (one trial while half-open)."""
        with self._lock:
            state = self._state()
            if state is BreakerState.closed:
                return True
            if state is BreakerState.half_open and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self.total_successes += 1
            self.consecutive_failures = 0
            self._opened_at = None
            self._trial_running = False
            self.cooldown = self.base_cooldown

    def failure(self, error: str) -> None:
        with self._lock:
            self.total_failures += 1
            self.consecutive_failures += 1
            self.last_error = error
            if self._trial_running:  # the trial failed: open again, for longer
                self._trial_running = False
                self.cooldown = min(self.cooldown * 2, self.max_cooldown)
                self._opened_at = time.monotonic()
            elif self.consecutive_failures >= self.threshold and self._opened_at is None:
                self._opened_at = time.monotonic()
