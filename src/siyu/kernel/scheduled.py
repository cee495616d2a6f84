"""Scheduled actions: future work that survives restarts and fires once (SLA checks, journey waits, retries).

A context registers its actions by name in its ``handlers.py``::

    scheduled.register_action("sales.lead.sla_check", check_lead_sla)   # check_lead_sla(due: DueAction)

and its services schedule them inside the transaction of the change that causes them::

    scheduled.schedule(action="sales.lead.sla_check", key=f"lead:{lead.pk}:first_contact",
                       due_at=lead.created_at + sla, args={"lead_id": lead.pk}, org_id=actor.org_id)
    scheduled.cancel(f"lead:{lead.pk}:first_contact")   # when the lead was contacted in time

The rows live in ``ScheduledAction``; the huey task ``"kernel.scheduled.run_due"`` (polled every few seconds)
claims due rows with a lease (:mod:`kernel.leases`) and runs each action in its own transaction behind
``effects.once("kernel.scheduled", key)``, marking the row done in that same transaction. A worker killed
mid-action leaves the row leased; once the lease runs out another worker runs it again, and the rolled-back
first attempt left no trace. Actions receive ids, fetch what they need and tolerate being run again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import clock, events, leases
from .effects import once, require_transaction
from .models import ScheduledAction

EFFECT_SCOPE = "kernel.scheduled"
BATCH = 50


@dataclass(frozen=True)
class DueAction:
    """What an action function receives."""

    action: str
    key: str
    org_id: int | None
    args: dict[str, Any]
    due_at: dt.datetime
    attempt: int


ActionFn = Callable[[DueAction], None]
_actions: dict[str, ActionFn] = {}


def register_action(name: str, fn: ActionFn) -> None:
    """Register ``fn`` under the stable dotted ``name`` stored in scheduled rows."""
    known = _actions.get(name)
    if known is not None and known is not fn and known.__qualname__ != fn.__qualname__:
        raise ValueError(f"scheduled action {name!r} is already registered to {known!r}")
    _actions[name] = fn


def schedule(*, action: str, key: str, due_at: dt.datetime, args: dict[str, Any] | None = None,
             org_id: int | None = None) -> ScheduledAction:
    """Schedule ``action`` at ``due_at``, idempotent by ``key`` (must run inside a transaction).

    A pending row with the same key is updated (new time, args); a cancelled one is revived with fresh attempts;
    a done one is left as it is: the key names one occurrence, and it has happened."""
    require_transaction("scheduled.schedule()")
    if timezone.is_naive(due_at):
        raise ValueError("due_at must be timezone-aware")
    args = dict(args or {})
    row = ScheduledAction.objects.select_for_update().filter(key=key).first()
    if row is None:
        try:
            with transaction.atomic():
                row = ScheduledAction.objects.create(action=action, key=key, due_at=due_at, args=args,
                                                     org_id=org_id)
        except IntegrityError:  # a concurrent schedule() of the same key won the insert
            row = ScheduledAction.objects.select_for_update().get(key=key)
        else:
            _nudge_if_due(due_at)
            return row
    if row.done_at is not None:
        return row
    revived = row.cancelled_at is not None
    row.action, row.due_at, row.args, row.org_id, row.cancelled_at = action, due_at, args, org_id, None
    fields = ["action", "due_at", "args", "org_id", "cancelled_at"]
    if revived:
        row.attempts, row.locked_until, row.last_error = 0, None, ""
        fields += ["attempts", "locked_until", "last_error"]
    row.save(update_fields=fields)
    _nudge_if_due(due_at)
    return row


def _nudge_if_due(due_at: dt.datetime) -> None:
    if due_at <= clock.now():
        events.nudge_on_commit("kernel.scheduled.run_due")


def cancel(key: str) -> bool:
    """Cancel the pending action with ``key``; False when there is none (unknown, already done or cancelled)."""
    return bool(
        ScheduledAction.objects.filter(key=key, done_at__isnull=True, cancelled_at__isnull=True)
        .update(cancelled_at=clock.now())
    )


def _run(row: ScheduledAction) -> list[str]:
    fn = _actions.get(row.action)
    if fn is None:
        return [f"no action registered under {row.action!r} in this worker"]
    try:
        with transaction.atomic():
            # Re-read under lock: the row may have been cancelled or rescheduled since it was claimed.
            current = (ScheduledAction.objects.select_for_update()
                       .filter(pk=row.pk, done_at__isnull=True, cancelled_at__isnull=True).first())
            if current is None:
                return []
            if current.due_at > clock.now():
                # Rescheduled later after the claim: give the lease back, keep the attempt count honest.
                current.locked_until, current.attempts = None, max(current.attempts - 1, 0)
                current.save(update_fields=["locked_until", "attempts"])
                return []
            if once(EFFECT_SCOPE, current.key):
                fn(DueAction(action=current.action, key=current.key, org_id=current.org_id,
                             args=dict(current.args), due_at=current.due_at, attempt=current.attempts))
            current.done_at, current.locked_until, current.last_error = clock.now(), None, ""
            current.save(update_fields=["done_at", "locked_until", "last_error"])
    except Exception as exc:
        return [f"{row.action}: {leases.describe(exc)}"]
    return []


def run_due(*, limit: int = BATCH, max_seconds: float = 30.0) -> int:
    """Claim and run due actions until none is left or ``max_seconds`` passed; returns how many were tried."""
    events.discover()
    deadline = time.monotonic() + max_seconds
    tried = 0
    while time.monotonic() < deadline:
        batch = leases.claim(
            ScheduledAction, Q(done_at__isnull=True, cancelled_at__isnull=True, due_at__lte=clock.now()),
            ["due_at", "pk"], limit=limit,
        )
        if not batch:
            break
        for row in batch:
            errors = _run(row)
            if errors:
                leases.settle(row, done_field="done_at", errors=errors)
            tried += 1
    return tried


def failed():
    """Actions not done nor cancelled that carry an error (retrying, or given up after MAX_ATTEMPTS)."""
    return (ScheduledAction.objects.filter(done_at__isnull=True, cancelled_at__isnull=True)
            .exclude(last_error="").order_by("pk"))
