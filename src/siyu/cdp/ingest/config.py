"""Ingestion limits and knobs: ``settings.SIYU_INGEST_*`` when defined, else the environment, else the default.

Read at call time (not import time) so tests and operators can change them without a restart of the module.
"""

from __future__ import annotations

import os

from django.conf import settings

# Segment's own limits: 32 KB per event, 500 KB per batch request (after decompression).
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
# Nesting deeper than this inside one event is refused (a reason per event); the JSON parser's own recursion
# guard refuses a whole body that is nested deeper than Python can parse.
MAX_DEPTH = 32
MAX_ID_CHARS = 200
DEDUP_DAYS = 7

DEFAULTS = {
    # Unprocessed batches above which /v1/* answers 429 (overload protection: the worker is behind).
    "SIYU_INGEST_MAX_BACKLOG_BATCHES": 20_000,
    # Seconds a client is asked to wait when refused with 429.
    "SIYU_INGEST_RETRY_AFTER_SECONDS": 5,
    # Accepted events per second per source and web process (a token bucket with one second of burst);
    # 0 turns the limit off.
    "SIYU_INGEST_SOURCE_EVENTS_PER_SECOND": 50_000,
    # Processed raw batches (which still hold identify traits in clear) are purged after this many hours.
    "SIYU_INGEST_KEEP_PROCESSED_HOURS": 24,
    # How long a worker's processing loop waits for more batches before it returns (keeps latency low
    # under steady load without a new nudge for every request).
    "SIYU_INGEST_LINGER_SECONDS": 2,
    # Single-event requests (/v1/track, …) of a web process are committed together (see committer.py): a
    # group takes the requests waiting when the previous commit ends plus those arriving within this many
    # milliseconds of its first; -1 commits each request alone.
    "SIYU_INGEST_GROUP_COMMIT_MS": 2,
}


def setting(name: str) -> int:
    if hasattr(settings, name):
        return int(getattr(settings, name))
    return int(os.environ.get(name, DEFAULTS[name]))
