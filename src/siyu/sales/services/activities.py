"""Activities: follow-ups (call, WeCom chat, note, email), visits with check-in and a photo, tasks with
reminders. Each one appears on the customer's timeline and on its lead's or opportunity's; the owner's first
activity on a lead after its assignment records the lead response time (and meets the SLA)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings

from siyu.cdp import profiles as cdp_profiles
from siyu.cdp import timeline
from siyu.kernel import auditing, clock, events, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed

from ..events import TaskReminderDue
from ..models.activities import Activity, ActivityKind
from ..models.leads import Lead, Notification
from ..models.opportunities import Opportunity
from . import assignment
from .common import as_int, member, require, text
from .opportunities import visible_opportunity

OBJECT = "sales.activity"
AUDITED = ["kind", "subject", "lead_id", "opportunity_id", "profile_id", "owner_id", "occurred_at", "due_at",
           "remind_at", "done_at", "latitude", "longitude", "address", "photo"]
REMIND_ACTION = "sales.task.remind"
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


def media_root() -> Path:
    return Path(settings.VAR_DIR) / "media"


def _when(value: Any, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed("bad time", fields={name: ["an ISO date-time with an offset"]}) from None
    if when.tzinfo is None:
        raise ValidationFailed("bad time", fields={name: ["give a time zone offset"]})
    return when


def _coordinate(value: Any, name: str, limit: int) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed("bad coordinate", fields={name: ["a number"]}) from None
    if not number.is_finite() or abs(number) > limit:
        raise ValidationFailed("bad coordinate", fields={name: [f"between -{limit} and {limit}"]})
    return number.quantize(Decimal("0.000001"))


def visible_activity(actor: Actor, activity_id: Any, *, for_update: bool = False) -> Activity:
    qs = Activity.objects.visible_to(actor).filter(pk=as_int(activity_id))
    found = (qs.select_for_update() if for_update else qs).first()
    if found is None:
        raise NotFound("not found")
    return found


def create_activity(*, actor: Actor, data: dict[str, Any]) -> Activity:
    """Log a follow-up or a visit, or create a task, about a lead, an opportunity or a customer (or none: a
    personal task or note). A lead's customer is its profile; an opportunity's its contact or account."""
    require(actor, "sales.activity.create")
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in ActivityKind.values:
        raise ValidationFailed("bad kind", fields={"kind": [f"one of {', '.join(ActivityKind.values)}"]})
    lead = opp = profile = None
    lead_id, opp_id, profile_id = data.pop("lead_id", None), data.pop("opportunity_id", None), data.pop("profile_id", None)
    if lead_id not in (None, ""):
        try:
            lead = assignment.visible_lead(actor, lead_id)
        except NotFound:
            raise ValidationFailed("no such lead", fields={"lead_id": ["no such lead"]}) from None
        profile = lead.profile
    if opp_id not in (None, ""):
        try:
            opp = visible_opportunity(actor, opp_id)
        except NotFound:
            raise ValidationFailed("no such opportunity", fields={"opportunity_id": ["no such opportunity"]}) from None
        profile = profile or _opportunity_profile(opp)
    if profile_id not in (None, "") and profile is None:
        try:
            profile = cdp_profiles.visible_profile(actor, profile_id)
        except (NotFound, Conflict):
            raise ValidationFailed("no such customer", fields={"profile_id": ["no such customer"]}) from None
    owner_id, department_id = actor.user_id, actor.department_id
    if data.get("owner_id") not in (None, "", actor.user_id):
        require(actor, "sales.lead.assign")
        m = member(actor, data["owner_id"])
        owner_id, department_id = m.user_id, m.department_id
    data.pop("owner_id", None)
    now = clock.now()
    values = _clean(kind, data, now)
    activity = Activity.objects.create(org_id=actor.org_id, kind=kind, lead=lead, opportunity=opp, profile=profile,
                                       owner_id=owner_id, department_id=department_id, **values)
    if kind == ActivityKind.TASK:
        _schedule_reminder(activity)
    else:
        _touch(actor, activity, activity.occurred_at or now)
    if profile is not None:
        timeline.add_entry(profile=profile, kind=f"sales.activity.{kind}", at=activity.occurred_at or activity.due_at
                           or now, ref_type=OBJECT, ref_id=str(activity.pk),
                           data={"subject": activity.subject, "address": activity.address,
                                 "lead_id": lead.pk if lead else None, "opportunity_id": opp.pk if opp else None})
    auditing.record_write(actor, "create", OBJECT, activity.pk, auditing.diff({}, auditing.snapshot(activity, AUDITED)))
    return activity


def _opportunity_profile(opp: Opportunity):
    from .common import profile_or_none

    pid = opp.contact_id or opp.account_id
    return profile_or_none(opp.org_id, pid) if pid else None


def _clean(kind: str, data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    unknown = set(data) - {"subject", "body", "occurred_at", "due_at", "remind_at", "latitude", "longitude", "address"}
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["unknown field"] for k in sorted(unknown)})
    values: dict[str, Any] = {
        "subject": text(data.get("subject"), "subject", 200, required=True),
        "body": text(data.get("body"), "body", 10000),
        "occurred_at": _when(data.get("occurred_at"), "occurred_at"),
        "due_at": _when(data.get("due_at"), "due_at"),
        "remind_at": _when(data.get("remind_at"), "remind_at"),
        "latitude": _coordinate(data.get("latitude"), "latitude", 90),
        "longitude": _coordinate(data.get("longitude"), "longitude", 180),
        "address": text(data.get("address"), "address", 300),
    }
    if (values["latitude"] is None) != (values["longitude"] is None):
        raise ValidationFailed("half a position", fields={"longitude": ["give latitude and longitude together"]})
    if kind == ActivityKind.TASK:
        if values["due_at"] is None:
            raise ValidationFailed("due required", fields={"due_at": ["a task needs a due time"]})
        if values["remind_at"] and values["remind_at"] > values["due_at"]:
            raise ValidationFailed("bad reminder", fields={"remind_at": ["before the due time"]})
    elif kind == ActivityKind.VISIT:
        if values["latitude"] is not None or values["address"]:
            values["checked_in_at"] = now
        if values["occurred_at"] is None and values["due_at"] is None:
            values["occurred_at"] = now
    else:
        values["occurred_at"] = values["occurred_at"] or now
        if values["occurred_at"] > now + dt.timedelta(minutes=5):
            raise ValidationFailed("in the future", fields={"occurred_at": ["a follow-up that happened"]})
    return values


def _touch(actor: Actor, activity: Activity, at: dt.datetime) -> None:
    """Last activity on the lead / opportunity, and the lead's first response after its assignment."""
    if activity.lead_id:
        Lead.objects.filter(pk=activity.lead_id).update(last_activity_at=at)
        lead = Lead.objects.get(pk=activity.lead_id)
        if actor.user_id == lead.owner_id:
            assignment.record_first_response(actor, lead, clock.now())
    if activity.opportunity_id:
        Opportunity.objects.filter(pk=activity.opportunity_id).update(last_activity_at=at)


def _reminder_key(activity: Activity) -> str:
    return f"sales:task:{activity.pk}:remind:{activity.remind_at:%Y%m%dT%H%M%S}"


def _schedule_reminder(activity: Activity) -> None:
    if activity.remind_at and activity.done_at is None:
        scheduled.schedule(action=REMIND_ACTION, key=_reminder_key(activity), due_at=activity.remind_at,
                           args={"activity_id": activity.pk}, org_id=activity.org_id)


def complete_activity(*, actor: Actor, activity_id: Any) -> Activity:
    """Mark a task (or a planned visit) done; its pending reminder is cancelled."""
    require(actor, "sales.activity.update")
    activity = visible_activity(actor, activity_id, for_update=True)
    if activity.done_at is not None:
        return activity
    if activity.remind_at:
        scheduled.cancel(_reminder_key(activity))
    activity.done_at = clock.now()
    activity.save(update_fields=["done_at", "updated_at"])
    _touch(actor, activity, activity.done_at)
    auditing.record_write(actor, "update", OBJECT, activity.pk, {"done_at": [None, activity.done_at.isoformat()]})
    return activity


def update_activity(*, actor: Actor, activity_id: Any, changes: dict[str, Any]) -> Activity:
    require(actor, "sales.activity.update")
    activity = visible_activity(actor, activity_id, for_update=True)
    allowed = {"subject", "body", "due_at", "remind_at", "address"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["unknown field"] for k in sorted(unknown)})
    before = auditing.snapshot(activity, AUDITED)
    old_key = _reminder_key(activity) if activity.remind_at else None
    if "subject" in changes:
        activity.subject = text(changes["subject"], "subject", 200, required=True)
    if "body" in changes:
        activity.body = text(changes["body"], "body", 10000)
    if "address" in changes:
        activity.address = text(changes["address"], "address", 300)
    for name in ("due_at", "remind_at"):
        if name in changes:
            setattr(activity, name, _when(changes[name], name))
    if activity.kind == ActivityKind.TASK and activity.due_at is None:
        raise ValidationFailed("due required", fields={"due_at": ["a task needs a due time"]})
    activity.save()
    if old_key and (activity.remind_at is None or _reminder_key(activity) != old_key):
        scheduled.cancel(old_key)
    _schedule_reminder(activity)
    auditing.record_write(actor, "update", OBJECT, activity.pk, auditing.diff(before, auditing.snapshot(activity, AUDITED)))
    return activity


def attach_photo(*, actor: Actor, activity_id: Any, content: bytes) -> Activity:
    """A visit's check-in photo: JPEG or PNG (checked by content, not by name) up to 5 MB, stored under
    ``SIYU_VAR_DIR/media/sales/<org>/`` with a random name; served only through the activity's own view."""
    require(actor, "sales.activity.update")
    activity = visible_activity(actor, activity_id, for_update=True)
    if activity.kind != ActivityKind.VISIT:
        raise ValidationFailed("visits only", fields={"photo": ["only visits have a check-in photo"]})
    if not content:
        raise ValidationFailed("empty", fields={"photo": ["the file is empty"]})
    if len(content) > MAX_PHOTO_BYTES:
        raise ValidationFailed("too large", fields={"photo": ["at most 5 MB"]})
    kind = next((v for magic, v in PHOTO_TYPES.items() if content.startswith(magic)), None)
    if kind is None:
        raise ValidationFailed("bad type", fields={"photo": ["a JPEG or PNG image"]})
    relative = Path("sales") / str(activity.org_id) / f"{uuid.uuid4().hex}.{kind[1]}"
    path = media_root() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    before = activity.photo
    activity.photo, activity.photo_type = str(relative), kind[0]
    if activity.checked_in_at is None:
        activity.checked_in_at = clock.now()
    activity.save(update_fields=["photo", "photo_type", "checked_in_at", "updated_at"])
    auditing.record_write(actor, "update", OBJECT, activity.pk, {"photo": [before or None, activity.photo]})
    return activity


def photo_file(actor: Actor, activity_id: Any) -> tuple[Path, str]:
    activity = visible_activity(actor, activity_id)
    if not activity.photo:
        raise NotFound("no photo")
    path = (media_root() / activity.photo).resolve()
    if media_root().resolve() not in path.parents or not path.exists():
        raise NotFound("no photo")
    return path, activity.photo_type


def task_reminder(activity_id: int) -> bool:
    """The scheduled reminder of a task: a notification for its owner (once: scheduled actions run behind
    ``effects.once``), nothing when the task is done or gone."""
    activity = Activity.objects.filter(pk=activity_id, done_at__isnull=True).first()
    if activity is None or activity.owner_id is None:
        return False
    Notification.objects.create(org_id=activity.org_id, recipient_id=activity.owner_id, kind="task_reminder",
                                text=f"{activity.subject} ({activity.due_at:%Y-%m-%d %H:%M} UTC)"[:300],
                                activity=activity, lead_id=activity.lead_id)
    events.emit(TaskReminderDue(org_id=activity.org_id, activity_id=activity.pk, owner_id=activity.owner_id))
    return True
