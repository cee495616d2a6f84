"""Overload protection for the ingest endpoints: a backlog ceiling and a per-source token bucket.

Both answers are cheap on the hot path: the backlog (unprocessed batches, counted up to the threshold so the
query is bounded) is re-read at most once a second per web process, and the token bucket lives in process
memory. The bucket is therefore per web process: with W workers a source may send up to W times the rate; it
protects the database from one runaway source, it is not a billing meter.
"""

from __future__ import annotations

import threading
import time

from django.db import connection

from .config import setting

_backlog = {"value": 0, "read_at": -1e9}
_buckets: dict[int, list[float]] = {}
_lock = threading.Lock()


def backlog_batches(threshold: int) -> int:
    now = time.monotonic()
    if now - _backlog["read_at"] < 1.0:
        return _backlog["value"]
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM (SELECT 1 FROM cdp_eventbatch WHERE processed_at IS NULL LIMIT %s) AS t",
                    [threshold + 1])
        value = cur.fetchone()[0]
    _backlog.update(value=value, read_at=now)
    return value


def overloaded() -> bool:
    threshold = setting("SIYU_INGEST_MAX_BACKLOG_BATCHES")
    return threshold > 0 and backlog_batches(threshold) > threshold


def take(source_id: int, events: int) -> bool:
    """Take ``events`` tokens from the source's bucket (refilled at the configured rate, one second of burst)."""
    rate = setting("SIYU_INGEST_SOURCE_EVENTS_PER_SECOND")
    if rate <= 0:
        return True
    now = time.monotonic()
    with _lock:
        bucket = _buckets.setdefault(source_id, [float(rate), now])
        bucket[0] = min(float(rate), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] < events:
            return False
        bucket[0] -= events
        return True


def reset() -> None:
    with _lock:
        _buckets.clear()
    _backlog.update(value=0, read_at=-1e9)
