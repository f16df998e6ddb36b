"""Per-credential request rate limits: a token bucket per access key (or token user).

The buckets live in the process: with several processes on one store each allows the
configured rate, so a credential's ceiling is the rate times the number of API processes
(docs/identity.md). A rate of 0 turns the limit off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, credential: str) -> bool:
        if not self.enabled:
            return True
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(credential)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._forget_idle(now)
                bucket = self._buckets[credential] = _Bucket(self.burst, now)
            else:
                elapsed = max(now - bucket.updated, 0.0)
                bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            if bucket.tokens < 1.0:
                return False
            bucket.tokens -= 1.0
            return True

    def _forget_idle(self, now: float) -> None:
        # A bucket that would be full again is the same as no bucket at all.
        refill = self.burst / self.rate
        idle = [key for key, b in self._buckets.items() if now - b.updated >= refill]
        for key in idle:
            del self._buckets[key]
