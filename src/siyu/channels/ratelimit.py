"""Client-side rate limiting for channel APIs: a token bucket per key (e.g. per corp and API path).

The bucket refills ``rate`` tokens per second up to ``capacity``. ``acquire`` waits when the wait is at most
``max_wait`` seconds, otherwise raises ``ChannelRateLimited`` with the wait as ``retry_after`` without calling the
channel: a job then reschedules instead of holding a worker.

The buckets live in the process. With several worker processes each gets its own budget, so the defaults below
keep a margin (see ``channels/README.md``); a shared limiter can implement the same ``acquire`` later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from siyu.channels.errors import ChannelRateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    def __init__(
        self,
        *,
        rate: float,
        capacity: float,
        max_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be positive and capacity at least 1")
        self.rate, self.capacity, self.max_wait = rate, capacity, max_wait
        self._clock, self._sleep = clock, sleep
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> None:
        """Take one token for ``key``, waiting up to ``max_wait``; raise ``ChannelRateLimited`` beyond that."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.setdefault(key, _Bucket(tokens=self.capacity, updated=now))
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            wait = 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate
            if wait > self.max_wait:
                raise ChannelRateLimited("client-side rate limit reached", retry_after=wait)
            bucket.tokens -= 1  # reserve now so concurrent callers queue behind this one
        if wait:
            self._sleep(wait)

    def available(self, key: str) -> float:
        """Tokens left for ``key`` right now (for tests and diagnostics)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return self.capacity
            return min(self.capacity, bucket.tokens + (self._clock() - bucket.updated) * self.rate)
