"""The claim-with-a-lease pattern shared by the outbox and scheduled actions.

A claimer takes a batch of due rows in one short transaction and stamps them ``locked_until = now + lease``
(and ``attempts + 1``), then commits and works on them outside that transaction. On PostgreSQL the rows are
selected ``FOR UPDATE SKIP LOCKED``, so concurrent claimers on many hosts take disjoint batches without
waiting; on SQLite the IMMEDIATE write transaction serialises claimers. A worker that dies mid-task leaves its
rows locked until the lease runs out, after which any claimer takes them again: that is the redelivery that
:mod:`kernel.effects` makes harmless.

``locked_until`` doubles as "not before": a failed attempt sets it to ``now + backoff`` so the row is retried
later. After ``MAX_ATTEMPTS`` claims the row is no longer claimed and stays, with ``last_error``, for operators.
"""

from __future__ import annotations

import datetime as dt
import traceback

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q

from . import clock

MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 3600
ERROR_MAX_CHARS = 4000


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.SIYU_DURABLE_LEASE_SECONDS)


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failed claims: 2 s, 4 s, 8 s, … capped at one hour."""
    return dt.timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def claimable(now: dt.datetime) -> Q:
    return Q(attempts__lt=MAX_ATTEMPTS) & (Q(locked_until__isnull=True) | Q(locked_until__lte=now))


def claim(model: type[models.Model], due: Q, order: list[str], *, limit: int) -> list[models.Model]:
    """Lease up to ``limit`` rows of ``model`` matching ``due``; returns them with the stamped values."""
    with transaction.atomic():
        now = clock.now()
        ids = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(due & claimable(now))
            .order_by(*order)
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        model.objects.filter(pk__in=ids).update(locked_until=now + lease(), attempts=F("attempts") + 1)
        return list(model.objects.filter(pk__in=ids).order_by(*order))


def describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    return text[-ERROR_MAX_CHARS:]


def settle(row: models.Model, *, done_field: str, errors: list[str]) -> None:
    """Record the outcome of a claimed row: done, or an error and the time of the next try."""
    now = clock.now()
    if errors:
        dead = row.attempts >= MAX_ATTEMPTS
        text = "\n".join(errors)[-ERROR_MAX_CHARS:]
        row.last_error = f"gave up after {row.attempts} attempts\n{text}" if dead else text
        row.locked_until = None if dead else now + backoff(row.attempts)
        row.save(update_fields=["last_error", "locked_until"])
    else:
        setattr(row, done_field, now)
        row.locked_until = None
        row.last_error = ""
        row.save(update_fields=[done_field, "locked_until", "last_error"])
