"""The broadcast's scheduled actions (registered here, the one visible place; the worker imports it)."""

from __future__ import annotations

from siyu.kernel import scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.scheduled import DueAction

from . import planning, results, sending, services
from .models import Broadcast, BroadcastBatch


def _broadcast(due: DueAction, *, lock: bool = False) -> Broadcast | None:
    qs = Broadcast.objects.in_org(Actor.system(due.org_id, label="wecom.broadcast")).select_related("corp", "snapshot")
    return (qs.select_for_update(of=("self",)) if lock else qs).filter(pk=due.args.get("broadcast_id")).first()


def plan(due: DueAction) -> None:
    broadcast = _broadcast(due, lock=True)
    if broadcast is not None and broadcast.status == Broadcast.Status.SCHEDULED:
        planning.plan(broadcast)


def send(due: DueAction) -> None:
    batch = BroadcastBatch.objects.in_org(Actor.system(due.org_id)).filter(pk=due.args.get("batch_id")).first()
    if batch is not None:
        sending.send_batch(batch, attempt=due.attempt)


def collect(due: DueAction) -> None:
    broadcast = _broadcast(due)
    if broadcast is not None and broadcast.status == Broadcast.Status.HANDED:
        results.collect(broadcast, round_no=int(due.args.get("round") or 1))


scheduled.register_action(services.PLAN, plan)
scheduled.register_action(planning.SEND, send)
scheduled.register_action(sending.COLLECT, collect)
