"""Writes: create a broadcast from a segment snapshot, cancel it. Planning, sending and collecting results run
later as scheduled actions (``handlers.py``) so that a killed worker resumes where it stopped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from siyu.cdp import consent
from siyu.cdp.segments import selectors as segment_selectors
from siyu.cdp.segments import services as segment_services
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.corps import corp_of
from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import NotFound, PermissionDenied, ValidationFailed

from . import message
from .models import Broadcast

PLAN = "wecom.broadcast.plan"
MAX_AHEAD = dt.timedelta(days=60)


def plan_key(broadcast_id: int) -> str:
    return f"wecom.broadcast:{broadcast_id}:plan"


def _require(actor: Actor, operation: str) -> None:
    if not actor.can(operation):
        raise PermissionDenied(f"this needs the {operation} permission")


def _clean(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 120 or "\x00" in name:
        errors["name"] = ["required, at most 120 characters"]
    attachments, attachment_errors = message.clean_attachments(data.get("attachments"))
    errors.update(attachment_errors)
    text = str(data.get("text") or "").strip()
    if "\x00" in text:
        errors["text"] = ["no NUL characters"]
    elif not text and not attachments and not attachment_errors:
        errors["text"] = ["a message needs text or an attachment"]
    elif len(text.encode("utf-8")) > v.TEXT_MAX_BYTES:
        errors["text"] = [f"at most {v.TEXT_MAX_BYTES} bytes (WeCom's limit)"]
    when = data.get("scheduled_at")
    if when in (None, ""):
        when = clock.now()
    elif isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when)
        except ValueError:
            errors["scheduled_at"] = ["an ISO date and time"]
    if isinstance(when, dt.datetime):
        if timezone.is_naive(when):
            when = timezone.make_aware(when)
        if when > clock.now() + MAX_AHEAD:
            errors["scheduled_at"] = ["at most 60 days ahead"]
    elif "scheduled_at" not in errors:
        errors["scheduled_at"] = ["an ISO date and time"]
    return {"name": name, "text": text, "attachments": attachments, "scheduled_at": when}, errors


def create_broadcast(*, actor: Actor, data: Mapping[str, Any]) -> Broadcast:
    """A broadcast of ``text`` and ``attachments`` (``message.clean_attachments``) to the members of a segment snapshot through their follow users in ``corp``.

    ``snapshot_id`` names an existing snapshot of ``segment_id``; without it a snapshot is frozen now, already
    narrowed to marketing consent on WeCom. Consent and caps are checked again when the broadcast is planned
    (at ``scheduled_at``)."""
    _require(actor, "channels.broadcast.manage")
    values, errors = _clean(data)
    corp = segment = snapshot = None
    try:
        corp = corp_of(actor, data.get("corp_id"))
    except NotFound:
        errors["corp_id"] = ["no such WeCom corp"]
    try:
        segment = segment_selectors.segment(actor, data.get("segment_id"))
    except NotFound:
        errors["segment_id"] = ["no such segment"]
    if segment is not None and data.get("snapshot_id") not in (None, ""):
        try:
            snapshot = segment_selectors.snapshot(actor, segment, data.get("snapshot_id"))
        except NotFound:
            errors["snapshot_id"] = ["no such snapshot of this segment"]
    if errors:
        raise ValidationFailed("the broadcast is not valid", fields=errors)
    if snapshot is None:
        consent.ensure_default_purposes(actor=actor)  # the consent rule names the purpose; it must exist
        snapshot = segment_services.create_snapshot(actor=actor, segment_id=segment.pk,
                                                     label=f"broadcast: {values['name']}"[:120],
                                                     consent_purpose="marketing", channel="wecom")
    broadcast = Broadcast.objects.create(org_id=actor.org_id, corp=corp, segment=segment, snapshot=snapshot,
                                         created_by_user_id=actor.user_id, **values)
    scheduled.schedule(action=PLAN, key=plan_key(broadcast.pk), due_at=broadcast.scheduled_at,
                       args={"broadcast_id": broadcast.pk}, org_id=actor.org_id)
    record_write(actor, "create", "channels.broadcast", broadcast.pk,
                 {"name": [None, broadcast.name], "corp_id": [None, corp.pk], "snapshot_id": [None, snapshot.pk],
                  "scheduled_at": [None, broadcast.scheduled_at.isoformat()],
                  "attachments": [None, [a["kind"] for a in broadcast.attachments]]})
    return broadcast


def cancel_broadcast(*, actor: Actor, broadcast_id: Any) -> Broadcast:
    """Cancel a broadcast that has not been planned yet (WeCom has no call that withdraws a task)."""
    _require(actor, "channels.broadcast.manage")
    from .selectors import broadcast_of

    broadcast = broadcast_of(actor, broadcast_id, lock=True)
    if broadcast.status != Broadcast.Status.SCHEDULED:
        raise ValidationFailed("too late to cancel", fields={"status": ["only a scheduled broadcast can be cancelled"]})
    scheduled.cancel(plan_key(broadcast.pk))
    broadcast.status = Broadcast.Status.CANCELLED
    broadcast.finished_at = clock.now()
    broadcast.save(update_fields=["status", "finished_at"])
    record_write(actor, "cancel", "channels.broadcast", broadcast.pk, {"status": ["scheduled", "cancelled"]})
    return broadcast
