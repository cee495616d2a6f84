"""Approval reads, already limited to what the actor may see (see ``services.visible_requests``)."""

from __future__ import annotations

from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound

from .models import ApprovalNotice, ApprovalTask, TaskStatus
from .services import visible_requests


def request_detail(actor: Actor, request_id: int):
    req = visible_requests(actor).filter(pk=request_id).prefetch_related("tasks", "comments").first()
    if req is None:
        raise NotFound("not found")
    return req


def requests_for(actor: Actor, *, box: str = "all", status: str | None = None):
    """``box``: ``todo`` (waiting on me), ``mine`` (I submitted) or ``all`` (visible)."""
    qs = visible_requests(actor)
    if box == "todo":
        waiting = ApprovalTask.objects.in_org(actor).filter(approver_id=actor.user_id,
                                                            status=TaskStatus.PENDING).values("request_id")
        qs = qs.filter(pk__in=waiting, status="pending")
    elif box == "mine":
        qs = qs.filter(submitted_by_id=actor.user_id)
    if status:
        qs = qs.filter(status=status)
    return qs.prefetch_related("tasks", "comments")


def latest_for_object(actor: Actor, object_key: str, object_id: str):
    return visible_requests(actor).filter(object_key=object_key, object_id=object_id).order_by("-id").first()


def inbox(actor: Actor, *, unread: bool = False):
    qs = ApprovalNotice.objects.in_org(actor).filter(user_id=actor.user_id)
    return qs.filter(read_at__isnull=True) if unread else qs
