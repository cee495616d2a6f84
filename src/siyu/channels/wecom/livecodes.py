"""Channel live codes (渠道活码): create, update and delete them as WeCom contact ways with a unique ``state``,
route scans to employees (``rotation.py``), and keep per-day statistics.

WeCom is called first and Siyu's rows written after, so a refused call leaves nothing behind; the contact way is
always a multi-user QR code (type 2, scene 2) whose user list the rotation changes. A deleted code keeps its row
(and its ``state``, which is never reused) so late scans and the statistics stay attributed to it.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.utils import timezone

from siyu.kernel import clock, jobs
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed

from . import rotation, welcome
from .contacts import system_actor
from .corps import client_for, corp_of, require
from .models import Corp, CorpTag, Employee, FollowRelation, LiveCode, LiveCodeDailyStat, LiveCodeMember

OBJECT = "wecom.live_code"
STATE_MAX = 30
MAX_MEMBERS = 100  # WeCom lists at most 100 users on a contact way
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
AUDITED = ("name", "state", "skip_verify", "schedule", "daily_cap", "tag_ids", "welcome", "channel_label",
           "source_label", "is_active")


# --- validation -------------------------------------------------------------------------------------------------


def _text(data: Mapping[str, Any], field: str, limit: int, errors: dict, *, required: bool = False) -> str:
    raw = data.get(field)
    text = "" if raw is None else str(raw).strip()
    if required and not text:
        errors.setdefault(field, []).append("required")
    elif len(text) > limit or any(not c.isprintable() for c in text):
        errors.setdefault(field, []).append(f"at most {limit} printable characters")
    return text


def _schedule(raw: Any, errors: dict) -> dict[str, Any]:
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        errors.setdefault("schedule", []).append("an object with weekdays, start and end")
        return {}
    weekdays = raw.get("weekdays") or list(rotation.ALL_WEEKDAYS)
    if not isinstance(weekdays, list) or not all(isinstance(d, int) and 1 <= d <= 7 for d in weekdays):
        errors.setdefault("schedule.weekdays", []).append("ISO weekdays 1 (Monday) to 7")
        weekdays = []
    start, end = str(raw.get("start") or ""), str(raw.get("end") or "")
    for name, value in (("start", start), ("end", end)):
        if not _HHMM.match(value):
            errors.setdefault(f"schedule.{name}", []).append("HH:MM")
    return {"weekdays": sorted(set(weekdays)), "start": start, "end": end}


def _members(actor: Actor, corp: Corp, raw: Any, errors: dict) -> list[tuple[Employee, int, bool]]:
    if not isinstance(raw, list) or not raw:
        errors.setdefault("members", []).append("at least one employee")
        return []
    if len(raw) > MAX_MEMBERS:
        errors.setdefault("members", []).append(f"at most {MAX_MEMBERS} employees")
        return []
    wanted: dict[str, tuple[int, bool]] = {}
    for n, item in enumerate(raw):
        item = item if isinstance(item, Mapping) else {"userid": item}
        userid = str(item.get("userid") or "").strip()
        try:
            weight = int(item.get("weight") or 1)
        except (TypeError, ValueError):
            weight = 0
        if not userid:
            errors.setdefault(f"members.{n}.userid", []).append("required")
        if not 1 <= weight <= 100:
            errors.setdefault(f"members.{n}.weight", []).append("between 1 and 100")
        wanted[userid] = (weight, bool(item.get("is_backup")))
    employees = {e.userid: e for e in Employee.objects.in_org(actor).filter(corp=corp, userid__in=list(wanted),
                                                                          left_at__isnull=True)}
    unknown = sorted(u for u in wanted if u and u not in employees)
    if unknown:
        errors.setdefault("members", []).extend(f"no employee {u} in this corp" for u in unknown)
    if wanted and all(backup for _, backup in wanted.values()):
        errors.setdefault("members", []).append("at least one employee who is not backup staff")
    return [(employees[u], w, b) for u, (w, b) in wanted.items() if u in employees]


def _clean(actor: Actor, corp: Corp, data: Mapping[str, Any], *, creating: bool,
           code: LiveCode | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if creating or "name" in data:
        out["name"] = _text(data, "name", 80, errors, required=True)
    if creating or "state" in data:
        out["state"] = _text(data, "state", STATE_MAX, errors) or _new_state()
        if any(c.isspace() for c in out["state"]):
            errors.setdefault("state", []).append("no spaces")
        taken = LiveCode.objects.in_org(actor).filter(corp=corp, state=out["state"])
        if code is not None:
            taken = taken.exclude(pk=code.pk)
        if taken.exists():
            errors.setdefault("state", []).append("already used by another live code of this corp")
    for field, limit in (("channel_label", 120), ("source_label", 60)):
        if field in data:
            out[field] = _text(data, field, limit, errors)
    if "skip_verify" in data:
        out["skip_verify"] = bool(data.get("skip_verify"))
    if "schedule" in data:
        out["schedule"] = _schedule(data.get("schedule"), errors)
    if "daily_cap" in data:
        raw = data.get("daily_cap")
        try:
            out["daily_cap"] = None if raw in (None, "") else int(raw)
            if out["daily_cap"] is not None and not 1 <= out["daily_cap"] <= 100_000:
                raise ValueError
        except (TypeError, ValueError):
            errors.setdefault("daily_cap", []).append("a number from 1, or empty for no cap")
    if "tag_ids" in data:
        raw = data.get("tag_ids") or []
        ids = sorted({str(t) for t in raw}) if isinstance(raw, list) else None
        known = set(CorpTag.objects.in_org(actor).filter(corp=corp, tag_id__in=ids or [], deleted=False)
                    .values_list("tag_id", flat=True))
        if ids is None or set(ids) - known:
            errors.setdefault("tag_ids", []).append("corp tags of this corp (sync the tags first)")
        out["tag_ids"] = ids or []
    if "welcome" in data:
        try:
            out["welcome"] = welcome.clean_welcome(data.get("welcome") if isinstance(data.get("welcome"), Mapping)
                                                   else {"text": data.get("welcome")})
        except ValidationFailed as exc:
            errors.update({f"welcome.{k}": v for k, v in exc.fields.items()})
    if creating or "members" in data:
        out["members"] = _members(actor, corp, data.get("members"), errors)
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    return out


def _new_state() -> str:
    return "lc" + secrets.token_hex(8)  # 18 characters: unique enough, well under WeCom's 30


# --- services -----------------------------------------------------------------------------------------------------


def create_live_code(*, actor: Actor, corp_pk: Any, data: Mapping[str, Any]) -> LiveCode:
    """Create the contact way in WeCom (``add_contact_way``) with a unique ``state``, then the live code."""
    require(actor, "channels.livecode.manage")
    corp = corp_of(actor, corp_pk)
    values = _clean(actor, corp, data, creating=True)
    members = values.pop("members")
    code = LiveCode(org_id=actor.org_id, corp=corp, **values)
    users = _target_for(code, [_candidate(e, w, b, 0) for e, w, b in members])
    answer = client_for(corp).add_contact_way(type=2, scene=2, state=code.state, remark=code.name[:30],
                                              user=users, skip_verify=code.skip_verify)
    code.config_id = str(answer.get("config_id") or "")
    code.qr_code = str(answer.get("qr_code") or "")
    code.current_users = users
    code.save()
    LiveCodeMember.objects.bulk_create([LiveCodeMember(org_id=actor.org_id, live_code=code, employee=e, weight=w,
                                                       is_backup=b) for e, w, b in members])
    record_write(actor, "create", OBJECT, code.pk, {f: [None, getattr(code, f)] for f in AUDITED}
                 | {"members": [None, _members_view(code)]})
    return code


def update_live_code(*, actor: Actor, code_pk: Any, data: Mapping[str, Any]) -> LiveCode:
    """Change a live code; WeCom's contact way follows (``update_contact_way``) when its fields change."""
    require(actor, "channels.livecode.manage")
    code = live_code_of(actor, code_pk, active=True)
    values = _clean(actor, code.corp, data, creating=False, code=code)
    before = {f: getattr(code, f) for f in AUDITED} | {"members": _members_view(code)}
    members = values.pop("members", None)
    for field, value in values.items():
        setattr(code, field, value)
    if members is not None:
        code.members.all().delete()
        LiveCodeMember.objects.bulk_create([LiveCodeMember(org_id=actor.org_id, live_code=code, employee=e,
                                                           weight=w, is_backup=b) for e, w, b in members])
    users = _target_for(code, candidates(code))
    changes: dict[str, Any] = {}
    if users != code.current_users:
        changes["user"] = users
    for field, wecom in (("state", "state"), ("skip_verify", "skip_verify")):
        if field in values and values[field] != before[field]:
            changes[wecom] = values[field]
    if "name" in values and values["name"] != before["name"]:
        changes["remark"] = code.name[:30]
    if changes and code.config_id:
        client_for(code.corp).update_contact_way(config_id=code.config_id, **changes)
    code.current_users = users
    code.save()
    after = {f: getattr(code, f) for f in AUDITED} | {"members": _members_view(code)}
    record_write(actor, "update", OBJECT, code.pk, {k: [before[k], v] for k, v in after.items() if before[k] != v})
    return code


def delete_live_code(*, actor: Actor, code_pk: Any) -> LiveCode:
    """Delete the contact way in WeCom; the code stays (inactive) for its statistics and its ``state``."""
    require(actor, "channels.livecode.manage")
    code = live_code_of(actor, code_pk, active=True)
    return retire(actor, code, OBJECT, lambda config_id: client_for(code.corp).del_contact_way(config_id=config_id))


def live_code_of(actor: Actor, code_pk: Any, *, active: bool = False) -> LiveCode:
    return code_row(LiveCode.objects.in_org(actor), code_pk, active=active)


def retire(actor: Actor, code, obj: str, delete_way: Callable[[str], Any]):
    """Delete the live code's (channel or group) way in WeCom first (``delete_way(config_id)``), then keep the
    code inactive: its row, ``state`` and statistics stay."""
    if code.config_id:
        delete_way(code.config_id)
    code.is_active, code.deleted_at = False, clock.now()
    code.save(update_fields=["is_active", "deleted_at", "updated_at"])
    record_write(actor, "delete", obj, code.pk, {"is_active": [True, False]})
    return code


def code_row(qs, code_pk: Any, *, active: bool):
    """The live code (channel or group) ``code_pk`` of ``qs`` (already scoped), with its corp; 404 when absent,
    409 when ``active`` is asked and it was deleted."""
    try:
        pk = int(code_pk)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    code = qs.filter(pk=pk).select_related("corp").first()
    if code is None:
        raise NotFound("not found")
    if active and not code.is_active:
        raise Conflict("this live code was deleted", code="live_code_deleted")
    return code


def _members_view(code: LiveCode) -> list[str]:
    if code.pk is None:
        return []
    return [f"{m.employee.userid}:{m.weight}{':backup' if m.is_backup else ''}"
            for m in code.members.select_related("employee").order_by("employee__userid")]


# --- rotation ------------------------------------------------------------------------------------------------------


def _candidate(employee: Employee, weight: int, is_backup: bool, adds: int) -> rotation.Candidate:
    return rotation.Candidate(userid=employee.userid, weight=weight, is_backup=is_backup, adds_today=adds)


def local_now() -> dt.datetime:
    return timezone.localtime(clock.now())


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The local day as an aware [start, end) interval."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


def candidates(code: LiveCode) -> list[rotation.Candidate]:
    """The code's members with their adds through this code today."""
    start, end = day_bounds(local_now().date())
    members = list(code.members.select_related("employee"))
    adds: dict[int, int] = {}
    rows = FollowRelation.objects.in_org(system_actor(code.corp)).filter(
        live_code=code, added_at__gte=start, added_at__lt=end).values_list("employee_id", flat=True)
    for employee_id in rows:
        adds[employee_id] = adds.get(employee_id, 0) + 1
    return [_candidate(m.employee, m.weight, m.is_backup, adds.get(m.employee_id, 0)) for m in members]


def _target_for(code: LiveCode, cands: Sequence[rotation.Candidate]) -> list[str]:
    working = rotation.in_schedule(code.schedule, local_now())
    return rotation.target_users(cands, working=working, daily_cap=code.daily_cap)


def rotate(code: LiveCode) -> bool:
    """Point the contact way at the employees who should take the next scans; True when it changed."""
    if not code.is_active or not code.config_id:
        return False
    users = _target_for(code, candidates(code))
    if not users or users == code.current_users:
        return False
    client_for(code.corp).update_contact_way(config_id=code.config_id, user=users)
    code.current_users = users
    code.save(update_fields=["current_users", "updated_at"])
    return True


def active_codes(actor: Actor):
    return LiveCode.objects.in_org(actor).filter(is_active=True, corp__is_active=True).exclude(config_id="")


# --- statistics ----------------------------------------------------------------------------------------------------


def _local_day(value: dt.datetime | None) -> dt.date | None:
    return timezone.localtime(value).date() if value else None


def refresh_stats(code: LiveCode, days: Iterable[dt.date]) -> None:
    """Recount the given local days from the follow relations (the source of truth), so replays, reconciles and
    late events can never double-count."""
    relations = FollowRelation.objects.in_org(system_actor(code.corp)).filter(live_code=code)
    for day in sorted(set(days)):
        start, end = day_bounds(day)
        added = relations.filter(added_at__gte=start, added_at__lt=end)
        adds = added.count()
        retained = added.filter(deleted=False).count()
        deletions = relations.filter(deleted=True, deleted_at__gte=start, deleted_at__lt=end).count()
        LiveCodeDailyStat.objects.update_or_create(
            live_code=code, day=day,
            defaults={"org_id": code.org_id, "adds": adds, "deletions": deletions, "net": adds - deletions,
                      "retained": retained},
        )


def after_relation_change(relation: FollowRelation) -> None:
    """A relation of a live code was added or deleted: recount its days and rotate once the change commits."""
    code = relation.live_code
    if code is None:
        return
    refresh_stats(code, filter(None, (_local_day(relation.added_at), _local_day(relation.deleted_at))))
    from . import tasks  # tasks import services; services only enqueue them

    jobs.enqueue_on_commit(tasks.rotate_live_code, code.org_id, code.pk)


def stats_series(code: LiveCode, *, days: int = 30) -> dict[str, list]:
    """The last ``days`` local days (today included) for the charts: adds, deletions, net and retention %."""
    today = local_now().date()
    first = today - dt.timedelta(days=days - 1)
    rows = {s.day: s for s in code.daily_stats.filter(day__gte=first, day__lte=today)}
    series: dict[str, list] = {"days": [], "adds": [], "deletions": [], "net": [], "retention": []}
    for n in range(days):
        day = first + dt.timedelta(days=n)
        stat = rows.get(day)
        series["days"].append(day.isoformat())
        series["adds"].append(stat.adds if stat else 0)
        series["deletions"].append(stat.deletions if stat else 0)
        series["net"].append(stat.net if stat else 0)
        series["retention"].append(round(100 * stat.retention, 1) if stat and stat.retention is not None else None)
    return series


def totals(code: LiveCode) -> dict[str, int]:
    relations = FollowRelation.objects.in_org(system_actor(code.corp)).filter(live_code=code)
    adds = relations.exclude(added_at__isnull=True).count()
    deleted = relations.filter(deleted=True).count()
    return {"adds": adds, "deletions": deleted, "net": adds - deleted,
            "active": relations.filter(deleted=False).count()}

