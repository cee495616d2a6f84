"""Background jobs through huey, enqueued only once the transaction that asks for them has committed.

Huey is **at most once**: a task is popped from the queue before it runs, so a worker killed mid-task (or a
Redis that loses its last second of writes, or a ``SqliteHuey`` file deleted with ``var/``) loses it for good.
That is fine for work that can be recomputed or will be asked for again (refresh a read model, warm a cache,
nudge a claimer). Anything that must not be lost (a domain event, an SLA check, a journey step, a webhook
delivery) is written to our own tables in the same transaction as the change that causes it, through
:func:`kernel.events.emit` or :func:`kernel.scheduled.schedule`; huey then only *wakes up* the claimers that
read those tables, and a lost wake-up costs a few seconds, not the work.

One code path: ``settings.HUEY`` is a ``SqliteHuey`` on its own file (``var/huey.sqlite3``) by default and a
``RedisHuey`` when ``REDIS_URL`` is set; ``siyu worker`` (= ``run_huey``) runs the consumer, which imports every
installed app's ``tasks.py`` (djhuey's autodiscovery), among them ``kernel/tasks.py`` with the periodic tick.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue the huey ``task`` with these arguments after the current transaction commits (at once when
    there is none); nothing is enqueued if it rolls back. Pass ids, not objects: the task fetches fresh rows.

    A failure to enqueue (queue storage down) is logged, not raised: the request has already committed, and
    work that must not be lost does not depend on this path."""
    transaction.on_commit(lambda: task(*args, **kwargs), robust=True)
