"""Exactly-once effects on top of at-least-once delivery.

Outbox messages and scheduled actions can be delivered more than once (a worker killed after the effect
committed but before the row was marked done, a lease that ran out while a slow handler was still working).
:func:`once` makes the effect itself idempotent: it inserts ``(scope, key)`` into ``EffectRecord`` *inside the
transaction of the effect*, so the record and the effect commit or roll back together, and a second run finds
the record and skips.

    with transaction.atomic():
        if effects.once("sales.lead.sla_breached", f"{lead_id}:{due_at}"):
            record_breach(...)

On PostgreSQL a concurrent second run blocks on the unique index until the first transaction ends, then skips
(or goes ahead if the first rolled back). On SQLite writers are serialised by the IMMEDIATE transaction.
Effects outside the database (an HTTP call) cannot be made atomic this way: pass an idempotency key to the
remote side as well.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .models import EffectRecord


class NotInTransaction(RuntimeError):
    """Raised when durable work is written outside a transaction: it would not commit with the change."""


def require_transaction(what: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise NotInTransaction(
            f"{what} must run inside transaction.atomic() so it commits together with the change that causes it"
        )


def once(scope: str, key: str) -> bool:
    """True the first time ``(scope, key)`` is seen (the caller then performs the effect), False afterwards.

    Must be called inside the transaction that performs the effect."""
    require_transaction("effects.once()")
    try:
        with transaction.atomic():  # a savepoint, so a duplicate does not poison the caller's transaction
            EffectRecord.objects.create(scope=scope, key=key)
    except IntegrityError:
        return False
    return True


def happened(scope: str, key: str) -> bool:
    """Whether the effect ``(scope, key)`` has been recorded (for operators and tests)."""
    return EffectRecord.objects.filter(scope=scope, key=key).exists()
