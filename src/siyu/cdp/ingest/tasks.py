"""Huey wiring of ingestion (interface only: the work is in :mod:`.processing` and :mod:`.partitions`).

* ``"cdp.ingest.process"``: claim and process pending batches. Nudged by the web process after a request
  commits (at most once per ``NUDGE_SECONDS`` per process, so a busy endpoint does not flood the queue) and
  scheduled every ``SIYU_DURABLE_POLL_SECONDS`` by ``"cdp.ingest.tick"``: a lost nudge costs seconds, not events,
  because the batches are in our table and the claim has a lease.
* ``"cdp.ingest.partitions"``: create the coming months' event partitions (PostgreSQL), every six hours.
* ``"cdp.ingest.purge"``: drop dedup rows past 7 days and processed raw batches, hourly.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from . import partitions, processing

logger = logging.getLogger(__name__)
NUDGE_SECONDS = 0.5
_last_nudge = [0.0]
_running = [0]
_running_lock = threading.Lock()


@db_task(name="cdp.ingest.process")
def process() -> int:
    # One long-lived, lingering loop per worker thread is enough; an extra run while one lingers does a single
    # pass instead of lingering too (the lingering loop will see anything that arrives).
    with _running_lock:
        _running[0] += 1
        first = _running[0] == 1
    try:
        return processing.process_pending(linger_seconds=None if first else 0)
    finally:
        with _running_lock:
            _running[0] -= 1


@db_periodic_task(crontab(), name="cdp.ingest.tick")
def tick() -> None:
    poll = max(1, int(settings.SIYU_DURABLE_POLL_SECONDS))
    for offset in range(0, 60, poll):
        if offset:
            process.schedule(delay=offset)
        else:
            process()


@db_periodic_task(crontab(minute="7", hour="*/6"), name="cdp.ingest.partitions")
def ensure_partitions() -> list[str]:
    return partitions.ensure_partitions()


@db_periodic_task(crontab(minute="17"), name="cdp.ingest.purge")
def purge() -> dict:
    return processing.purge()


def nudge() -> None:
    """Wake a worker after a batch committed (throttled per process; failures only logged)."""
    now = time.monotonic()
    if now - _last_nudge[0] < NUDGE_SECONDS:
        return
    _last_nudge[0] = now
    try:
        process()
    except Exception:  # noqa: BLE001 - the batch is committed; the periodic tick will pick it up
        logger.exception("could not enqueue cdp.ingest.process")
