"""Who can take a lead now: working hours per member (Chinese public holidays from the ``holidays`` package)
and leave. Members without a ``SalesRep`` row are always available."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Any

import holidays
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from siyu.kernel import auditing
from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound, ValidationFailed

from ..models.assignment import Leave, SalesRep
from .common import as_int, member, require, text


@functools.lru_cache(maxsize=16)
def _cn_holidays(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


def is_public_holiday(day: dt.date) -> bool:
    return day in _cn_holidays(day.year)


def _local(at: dt.datetime) -> dt.datetime:
    return at.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))


def in_working_hours(rep: SalesRep | None, at: dt.datetime) -> bool:
    if rep is None or rep.always_available:
        return True
    local = _local(at)
    if local.weekday() not in (rep.work_days or []):
        return False
    if rep.observe_holidays and is_public_holiday(local.date()):
        return False
    return rep.work_start <= local.time() < rep.work_end


REP_COLUMNS = ("id", "capacity", "work_days", "work_start", "work_end", "observe_holidays", "always_available")


def with_availability(qs: QuerySet, org_actor: Actor, at: dt.datetime) -> QuerySet:
    """``qs`` (rows with a ``user_id``, as ``values()``) with each member's ``SalesRep`` settings (``rep_<column>``)
    and whether they are on leave at ``at`` (``on_leave``), as correlated subqueries on the ``(org, user)``
    indexes: an assignment decision reads every candidate in one round trip instead of one per table."""
    reps = SalesRep.objects.in_org(org_actor).filter(user_id=OuterRef("user_id"))
    away = Leave.objects.in_org(org_actor).filter(user_id=OuterRef("user_id"), starts_at__lte=at, ends_at__gt=at)
    return qs.annotate(on_leave=Exists(away), **{f"rep_{c}": Subquery(reps.values(c)[:1]) for c in REP_COLUMNS})


def rep_of(row: dict[str, Any]) -> SalesRep | None:
    """The ``SalesRep`` a ``with_availability`` row carries (None: no row, always available)."""
    if row["rep_id"] is None:
        return None
    return SalesRep(user_id=row["user_id"], **{c: row[f"rep_{c}"] for c in REP_COLUMNS})


def is_available(row: dict[str, Any], at: dt.datetime) -> bool:
    """Whether the member of one ``with_availability`` row is at work and not on leave at ``at``."""
    return not row["on_leave"] and in_working_hours(rep_of(row), at)


REP_FIELDS = ["work_days", "work_start", "work_end", "observe_holidays", "always_available", "capacity"]


def _time(value: Any, name: str) -> dt.time:
    """A local wall-clock time; one with an offset is refused (working hours follow the organisation's timezone,
    and the database's time column keeps no offset)."""
    try:
        parsed = value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed("bad time", fields={name: ["a time HH:MM"]}) from None
    if parsed.tzinfo is not None:
        raise ValidationFailed("bad time", fields={name: ["a local time HH:MM, without an offset"]})
    return parsed


def set_availability(*, actor: Actor, user_id: Any, data: dict[str, Any]) -> SalesRep:
    """Working hours, holidays and capacity of one member (creates the row on first use)."""
    require(actor, "sales.rule.manage")
    try:
        m = member(actor, user_id, "user_id")
    except ValidationFailed:  # the member is what the URL (PUT /reps/{user_id}) addresses: unknown is 404
        raise NotFound("not found") from None
    unknown = sorted(set(data) - set(REP_FIELDS))
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["unknown field"] for k in unknown})
    rep = SalesRep.objects.in_org(actor).filter(user_id=m.user_id).first() or SalesRep(org_id=actor.org_id,
                                                                                       user_id=m.user_id)
    before = auditing.snapshot(rep, REP_FIELDS) if rep.pk else {}
    if "work_days" in data:
        days = data["work_days"]
        if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
            raise ValidationFailed("bad days", fields={"work_days": ["a list of weekdays 0 (Monday) … 6"]})
        rep.work_days = sorted(set(days))
    for name in ("work_start", "work_end"):
        if name in data:
            setattr(rep, name, _time(data[name], name))
    if rep.work_start >= rep.work_end:
        raise ValidationFailed("bad hours", fields={"work_end": ["after the start"]})
    for name in ("observe_holidays", "always_available"):
        if name in data:
            setattr(rep, name, bool(data[name]))
    if "capacity" in data:
        cap = data["capacity"]
        rep.capacity = None if cap in (None, "") else as_int(cap, missing=ValidationFailed, field="capacity")
    rep.save()
    auditing.record_write(actor, "update" if before else "create", "sales.rep", rep.user_id,
                          auditing.diff(before, auditing.snapshot(rep, REP_FIELDS)))
    return rep


def add_leave(*, actor: Actor, user_id: Any, starts_at: dt.datetime, ends_at: dt.datetime, reason: str = "") -> Leave:
    require(actor, "sales.rule.manage")
    m = member(actor, user_id, "user_id")
    if starts_at.tzinfo is None or ends_at.tzinfo is None or ends_at <= starts_at:
        raise ValidationFailed("bad period", fields={"ends_at": ["after starts_at, both with a time zone"]})
    leave = Leave.objects.create(org_id=actor.org_id, user_id=m.user_id, starts_at=starts_at, ends_at=ends_at,
                                 reason=text(reason, "reason", 200))
    auditing.record_write(actor, "create", "sales.leave", leave.pk,
                          auditing.diff({}, {"user_id": m.user_id, "starts_at": starts_at, "ends_at": ends_at}))
    return leave


def delete_leave(*, actor: Actor, leave_id: Any) -> None:
    require(actor, "sales.rule.manage")
    leave = Leave.objects.in_org(actor).filter(pk=as_int(leave_id)).first()
    if leave is None:
        raise NotFound("not found")
    auditing.record_write(actor, "delete", "sales.leave", leave.pk,
                          auditing.diff({"user_id": leave.user_id, "starts_at": leave.starts_at}, {}))
    leave.delete()
