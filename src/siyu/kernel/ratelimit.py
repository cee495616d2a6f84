"""Per-credential API rate limits: a fixed one-minute window counted in the Django cache.

The cache is Redis when ``REDIS_URL`` is set and the database cache otherwise; both are shared by every web
process, so a limit holds across workers and hosts. A fixed window lets a client burst up to twice the limit
across a window edge; that is accepted in exchange for one counter per credential and minute.

Redis increments atomically. The database cache's ``incr`` is a read then a write, so it is wrapped in a
transaction: on SQLite (``BEGIN IMMEDIATE``) that serialises the two; on PostgreSQL without Redis concurrent
requests may under-count by a few, which only ever errs towards letting a request through.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import transaction

from . import clock

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # seconds until the current window ends (also the Retry-After when refused)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


def hit(owner: str, limit: int) -> Decision:
    """Count one request for ``owner`` in the current window and say whether it may go on."""
    now = clock.now().timestamp()
    window = int(now // WINDOW_SECONDS)
    reset = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    try:
        count = _increment(f"siyu:ratelimit:{owner}:{window}")
    except Exception:  # noqa: BLE001 - a broken cache must not take the API down: fail open, loudly
        logger.exception("rate limit cache unavailable; letting the request through")
        return Decision(True, limit, limit, reset)
    return Decision(count <= limit, limit, max(0, limit - count), reset)


def _increment(key: str) -> int:
    # Redis needs no transaction (INCR is atomic); taking SQLite's write lock for it would only slow reads.
    cache = caches[DEFAULT_CACHE_ALIAS]
    guard = transaction.atomic() if isinstance(cache, DatabaseCache) else contextlib.nullcontext()
    with guard:
        try:  # the common case: the window's counter exists
            return cache.incr(key)
        except ValueError:
            # First request of the window. Two windows of lifetime: the key is never read after its window.
            if cache.add(key, 1, timeout=2 * WINDOW_SECONDS):
                return 1
            return cache.incr(key)  # another process added it in between
