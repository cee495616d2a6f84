"""Kernel huey tasks: the claimers of the outbox and of scheduled actions, and the tick that polls them.

Huey checks periodic tasks once a minute, too coarse for event latency; so the periodic ``kernel.durable.tick``
schedules both claimers every ``SIYU_DURABLE_POLL_SECONDS`` across the coming minute, and
:func:`kernel.events.emit` / :func:`kernel.scheduled.schedule` nudge a claimer right after their transaction
commits. Every run is idempotent and cheap when there is nothing to do, so duplicate ticks (several consumers
on one Redis, a consumer restarted mid-minute) only cost an empty query.

Importing this module (djhuey's consumer autodiscovers ``tasks`` modules) also imports every app's
``handlers`` module and ``SIYU_EXTRA_TASK_MODULES``, so the worker knows every subscription and action.
"""

from __future__ import annotations

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from . import events, idempotency, outbox, scheduled
from .coalesce import SingleFlight

# One outbox claimer per worker process at a time (kernel/coalesce.py SingleFlight). dispatch_pending drains every
# pending row before it returns, so the worker's second thread running it too only doubled the handler work done
# at once: during a burst of WeCom callbacks that meant two busy database backends and a contended GIL on a
# 2-core box, next to the web answering the same burst. The second thread stays free for other tasks (syncs,
# imports, ingestion); more worker processes still dispatch in parallel.
_outbox_flight = SingleFlight()


@db_task(name="kernel.outbox.dispatch")
def dispatch_outbox() -> int:
    return _outbox_flight.run(outbox.dispatch_pending)


@db_task(name="kernel.scheduled.run_due")
def run_due_actions() -> int:
    return scheduled.run_due()


BY_NAME = {"kernel.outbox.dispatch": dispatch_outbox, "kernel.scheduled.run_due": run_due_actions}


@db_periodic_task(crontab(), name="kernel.durable.tick")
def tick() -> None:
    poll = max(1, int(settings.SIYU_DURABLE_POLL_SECONDS))
    for offset in range(0, 60, poll):
        for task in BY_NAME.values():
            if offset:
                task.schedule(delay=offset)
            else:
                task()


@db_periodic_task(crontab(minute="17", hour="3"), name="kernel.outbox.prune")
def prune_outbox() -> int:
    return outbox.prune()


@db_periodic_task(crontab(minute="23"), name="kernel.idempotency.purge")
def purge_idempotency_keys() -> int:
    # Keys are honoured for 24 h (and never less); hourly keeps the table near one day of writes.
    return idempotency.purge_expired()


events.discover()
