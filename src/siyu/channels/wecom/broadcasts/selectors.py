"""Reads of broadcasts: lists, one broadcast, its counts per status and per employee."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound, PermissionDenied

from .models import Broadcast, BroadcastRecipient, RecipientStatus

# Results per employee, in the order of the chart's stacks.
EMPLOYEE_SERIES = (RecipientStatus.SENT, RecipientStatus.ACCEPTED, RecipientStatus.NOT_FRIEND,
                   RecipientStatus.REFUSED_LIMIT, RecipientStatus.FAILED)


def _require(actor: Actor) -> None:
    if not actor.can("channels.broadcast.read"):
        raise PermissionDenied("this needs channels.broadcast.read")


def broadcasts(actor: Actor) -> QuerySet:
    _require(actor)
    return Broadcast.objects.in_org(actor).select_related("corp", "segment").order_by("-id")


def broadcast_of(actor: Actor, broadcast_id: Any, *, lock: bool = False) -> Broadcast:
    try:
        pk = int(broadcast_id)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    qs = broadcasts(actor).filter(pk=pk)
    found = (qs.select_for_update(of=("self",)) if lock else qs).first()
    if found is None:
        raise NotFound("not found")
    return found


def status_counts(actor: Actor, broadcast: Broadcast) -> dict[str, int]:
    rows = (BroadcastRecipient.objects.in_org(actor).filter(broadcast=broadcast)
            .values("status").annotate(n=Count("id")).order_by())
    found = {r["status"]: r["n"] for r in rows}
    return {s: found.get(s, 0) for s in RecipientStatus.values}


def per_employee(actor: Actor, broadcast: Broadcast) -> list[dict[str, Any]]:
    """One row per sender: name, userid and the count of each result."""
    rows = (BroadcastRecipient.objects.in_org(actor).filter(broadcast=broadcast, sender__isnull=False,
                                                            batch__isnull=False)
            .values("sender_id", "sender__name", "sender__userid", "status").annotate(n=Count("id"))
            .order_by("sender__userid"))
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        item = out.setdefault(r["sender_id"], {"name": r["sender__name"] or r["sender__userid"],
                                               "userid": r["sender__userid"], "total": 0,
                                               **{s: 0 for s in EMPLOYEE_SERIES}})
        if r["status"] in item:
            item[r["status"]] += r["n"]
        item["total"] += r["n"]
    return list(out.values())
