"""The outbox dispatcher: deliver committed domain events to their handlers, at least once, effects once.

Flow: :func:`kernel.events.emit` wrote a row in the transaction of the change → a huey task
(``"kernel.outbox.dispatch"``, nudged on commit and polled every few seconds) calls :func:`dispatch_pending` →
rows are claimed with a lease (:mod:`kernel.leases`) → each subscribed handler runs in its own transaction
behind ``effects.once("outbox:<handler name>", <message id>)`` → the row is marked processed, or keeps
``last_error`` and is retried with exponential backoff; after ``leases.MAX_ATTEMPTS`` it stays for operators
(:func:`failed`, :func:`replay`).

A handler that failed does not re-run the handlers of the same message that already succeeded: their effect
records are there.
"""

from __future__ import annotations

import datetime as dt
import time

from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Cast

from . import clock, events, leases
from .effects import once
from .models import EffectRecord, OutboxMessage

BATCH = 50
KEEP = dt.timedelta(days=7)  # the duplicate-free window of docs/reliability.md


EFFECT_PREFIX = "outbox:"


def effect_scope(handler_name: str) -> str:
    return EFFECT_PREFIX + handler_name


def _deliver(message: OutboxMessage) -> list[str]:
    """Run every handler of ``message``; returns the errors (empty when all succeeded or had already run)."""
    subs = events.subscriptions(message.topic)
    if not subs:
        return []
    try:
        event = events.rebuild(message.topic, message.payload)
    except Exception as exc:  # a payload that no longer fits its class: keep it for operators
        return [f"rebuild: {leases.describe(exc)}"]
    errors = []
    for sub in subs:
        try:
            with transaction.atomic():
                if once(effect_scope(sub.name), str(message.pk)):
                    sub.handler(event)
        except Exception as exc:
            errors.append(f"{sub.name}: {leases.describe(exc)}")
    return errors


def dispatch_pending(*, limit: int = BATCH, max_seconds: float = 30.0) -> int:
    """Claim and deliver pending messages until none is left or ``max_seconds`` passed; returns how many
    messages were handled (successfully or not)."""
    events.discover()
    deadline = time.monotonic() + max_seconds
    handled = 0
    while time.monotonic() < deadline:
        batch = leases.claim(
            OutboxMessage, Q(processed_at__isnull=True, available_at__lte=clock.now()),
            ["available_at", "pk"], limit=limit,
        )
        if not batch:
            break
        for message in batch:
            leases.settle(message, done_field="processed_at", errors=_deliver(message))
            handled += 1
    return handled


def failed() -> QuerySet[OutboxMessage]:
    """Messages not processed that carry an error: retrying (``attempts < MAX``) or given up."""
    return OutboxMessage.objects.filter(processed_at__isnull=True).exclude(last_error="").order_by("pk")


def replay(message_id: int) -> None:
    """Operator action: give a failed message a fresh set of attempts, due now. Handlers that already
    succeeded for it do not run again."""
    OutboxMessage.objects.filter(pk=message_id, processed_at__isnull=True).update(
        attempts=0, locked_until=None, available_at=clock.now()
    )


def prune(*, keep: dt.timedelta = KEEP) -> int:
    """Delete messages processed more than ``keep`` ago, and the handlers' effect records older than that
    whose message is no longer pending (a pending one may still be replayed and must not re-run handlers that
    succeeded). Returns how many messages were deleted."""
    cutoff = clock.now() - keep
    deleted, _ = OutboxMessage.objects.filter(processed_at__lt=cutoff).delete()
    pending = (OutboxMessage.objects.filter(processed_at__isnull=True)
               .annotate(key=Cast("pk", models.CharField())).values("key"))
    EffectRecord.objects.filter(scope__startswith=EFFECT_PREFIX, created_at__lt=cutoff).exclude(
        key__in=pending).delete()
    return deleted
