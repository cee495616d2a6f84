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

import time

from django.db import transaction
from django.db.models import Q, QuerySet

from . import clock, events, leases
from .effects import once
from .models import OutboxMessage

BATCH = 50


def effect_scope(handler_name: str) -> str:
    return f"outbox:{handler_name}"


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
