"""Weighted pipeline forecast by period, owner and team; daily forecast snapshots (a kernel scheduled action
that re-schedules itself) so accuracy (actual won against what was forecast) can be computed; sales targets per
salesperson and team with progress. Periods are ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from siyu.iam.models import Membership
from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import diff, record_write
from siyu.kernel.errors import ValidationFailed

from ...models.commerce import ForecastSnapshot, SalesTarget
from ...models.opportunities import Opportunity
from ..common import member, money, require
from .base import q2

SNAPSHOT_ACTION = "sales.forecast.snapshot"
ZERO = Decimal("0.00")


def today() -> dt.date:
    return timezone.localdate(clock.now())


def current_period() -> str:
    """This month, ``YYYY-MM``, in the configured time zone."""
    return today().strftime("%Y-%m")


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """``[start, end)`` of a period."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})|-Q([1-4]))?", period or "")
    if not m:
        raise ValidationFailed("bad period", fields={"period": ["YYYY-MM, YYYY-Qn or YYYY"]})
    year = int(m.group(1))
    if m.group(2):
        month = int(m.group(2))
        if not 1 <= month <= 12:
            raise ValidationFailed("bad period", fields={"period": ["month 01..12"]})
        start, months = dt.date(year, month, 1), 1
    elif m.group(3):
        start, months = dt.date(year, 3 * int(m.group(3)) - 2, 1), 3
    else:
        start, months = dt.date(year, 1, 1), 12
    end_month = start.month - 1 + months
    return start, dt.date(year + end_month // 12, end_month % 12 + 1, 1)


def _day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()  # periods are the organisation's calendar days, not UTC's
    return (dt.datetime.combine(start, dt.time(), tzinfo=tz), dt.datetime.combine(end, dt.time(), tzinfo=tz))


def _forecast_rows(qs, period: str, by: str) -> list[dict[str, Any]]:
    start, end = period_bounds(period)
    field = {"owner": "owner_id", "team": "department_id"}.get(by)
    if field is None:
        raise ValidationFailed("bad grouping", fields={"by": ["owner or team"]})
    groups: dict[Any, dict[str, Any]] = {}

    def group(key):
        return groups.setdefault(key, {"key": key, "pipeline": ZERO, "weighted": ZERO, "won": ZERO,
                                       "open_count": 0, "won_count": 0})

    open_rows = qs.filter(status="open", expected_close_date__gte=start, expected_close_date__lt=end).values(
        field, "amount", "probability")
    for r in open_rows:
        g = group(r[field])
        g["pipeline"] += r["amount"]
        g["weighted"] += r["amount"] * r["probability"] / 100
        g["open_count"] += 1
    lo, hi = _day_bounds(start, end)
    for r in qs.filter(status="won", closed_at__gte=lo, closed_at__lt=hi).values(field).annotate(
            s=Sum("amount"), n=Count("id")):
        g = group(r[field])
        g["won"], g["won_count"] = g["won"] + r["s"], g["won_count"] + r["n"]
    for g in groups.values():
        g["weighted"] = q2(g["weighted"])
        g["forecast"] = q2(g["weighted"] + g["won"])  # what the period is expected to close at
    return sorted(groups.values(), key=lambda g: (-g["forecast"], str(g["key"])))


def forecast(actor: Actor, *, period: str, by: str = "owner") -> list[dict[str, Any]]:
    """The weighted forecast of ``period`` over the opportunities the actor may see: open ones expected to
    close in the period weighted by their probability, plus what was already won in it."""
    require(actor, "sales.target.read")
    return _forecast_rows(Opportunity.objects.visible_to(actor), period, by)


def take_snapshot(*, actor: Actor, period: str, taken_on: dt.date | None = None) -> int:
    """Store the period's forecast per owner as of ``taken_on`` (idempotent per day: a rerun updates it)."""
    require(actor, "sales.target.manage")
    taken_on = taken_on or timezone.localdate(clock.now())
    rows = _forecast_rows(Opportunity.objects.in_org(actor), period, "owner")
    depts = dict(Membership.objects.in_org(actor).values_list("user_id", "department_id"))
    for r in rows:
        ForecastSnapshot.objects.update_or_create(
            org_id=actor.org_id, period=period, taken_on=taken_on, owner_id=r["key"],
            defaults={"department_id": depts.get(r["key"]), "pipeline_amount": q2(r["pipeline"]),
                      "weighted_amount": r["weighted"], "won_amount": q2(r["won"]), "open_count": r["open_count"]})
    record_write(actor, "snapshot", "sales.forecast", period, {"owners": [None, len(rows)]},
                 taken_on=taken_on.isoformat())
    return len(rows)


def accuracy(actor: Actor, *, period: str, taken_on: dt.date) -> list[dict[str, Any]]:
    """Per owner: the forecast as snapshotted on ``taken_on`` against what was actually won in the period;
    ``accuracy`` = 1 − |actual − forecast| / max(actual, forecast) (1 when both are 0)."""
    require(actor, "sales.target.read")
    actual = {r["key"]: r["won"] for r in forecast(actor, period=period, by="owner")}
    visible_owners = set(Opportunity.objects.visible_to(actor).values_list("owner_id", flat=True).distinct())
    out = []
    for s in ForecastSnapshot.objects.in_org(actor).filter(period=period, taken_on=taken_on).order_by("owner_id"):
        if s.owner_id not in visible_owners:
            continue
        predicted = s.weighted_amount + s.won_amount
        won = actual.get(s.owner_id, ZERO)
        top = max(won, predicted)
        acc = Decimal(1) if top == 0 else 1 - abs(won - predicted) / top
        out.append({"owner_id": s.owner_id, "forecast": q2(predicted), "actual": q2(won),
                    "accuracy": acc.quantize(Decimal("0.0001"))})
    return out


def set_target(*, actor: Actor, period: str, amount: Any, count: int = 0, user_id: int | None = None,
               department_id: int | None = None) -> SalesTarget:
    """Set (create or replace) the target of a salesperson or a team for a period."""
    require(actor, "sales.target.manage")
    period_bounds(period)
    if (user_id is None) == (department_id is None):
        raise ValidationFailed("one of user_id, department_id", fields={"user_id": ["or department_id"]})
    if count < 0:
        raise ValidationFailed("bad count", fields={"count": [">= 0"]})
    if user_id is not None:
        member(actor, user_id, "user_id")
        key = {"user_id": user_id}
    else:
        from siyu.iam.models import Department

        if not Department.objects.in_org(actor).filter(pk=department_id).exists():
            raise ValidationFailed("no such department", fields={"department_id": ["unknown"]})
        key = {"department_id": department_id, "user_id": None}
    existing = SalesTarget.objects.in_org(actor).filter(period=period, **key).first()
    before = {"amount": existing.amount, "count": existing.count} if existing else {}
    target = existing or SalesTarget(org_id=actor.org_id, period=period, **key)
    target.amount, target.count = money(amount), count
    target.save()
    # Targets make forecast accuracy worth measuring: keep the daily snapshot running (idempotent per day).
    schedule_snapshots(org_id=actor.org_id, on=timezone.localdate(clock.now()) + dt.timedelta(days=1))
    record_write(actor, "update" if existing else "create", "sales.target", target.pk,
                 diff(before, {"amount": target.amount, "count": target.count}), period=period)
    return target


def target_progress(actor: Actor, *, period: str) -> list[dict[str, Any]]:
    """Each target of the period with what was won in it (amount and count) by the person or the team (its
    department and below), over the opportunities the actor may see."""
    require(actor, "sales.target.read")
    start, end = period_bounds(period)
    lo, hi = _day_bounds(start, end)
    won = Opportunity.objects.visible_to(actor).filter(status="won", closed_at__gte=lo, closed_at__lt=hi)
    from siyu.iam.models import Department

    out = []
    for t in SalesTarget.objects.in_org(actor).filter(period=period).order_by(
            F("user_id").asc(nulls_last=True), "department_id"):
        if t.user_id is not None:
            cond = Q(owner_id=t.user_id)
        else:
            dept = Department.objects.in_org(actor).filter(pk=t.department_id).first()
            ids = list(Department.objects.in_org(actor).filter(path__startswith=dept.path).values_list(
                "pk", flat=True)) if dept else []
            cond = Q(department_id__in=ids)
        agg = won.filter(cond).aggregate(s=Sum("amount"), n=Count("id"))
        amount, n = agg["s"] or ZERO, agg["n"]
        out.append({"id": t.pk, "period": period, "user_id": t.user_id, "department_id": t.department_id,
                    "target_amount": t.amount, "target_count": t.count, "won_amount": q2(amount), "won_count": n,
                    "amount_progress": (amount / t.amount).quantize(Decimal("0.0001")) if t.amount else None,
                    "count_progress": (Decimal(n) / t.count).quantize(Decimal("0.0001")) if t.count else None})
    return out


def snapshot_due(due: scheduled.DueAction) -> None:
    """Scheduled daily per organisation: snapshot this month's and this quarter's forecast, then schedule the
    next day's run."""
    actor = Actor.system(due.org_id, label="sales.forecast")
    today = timezone.localdate(clock.now())
    for period in (today.strftime("%Y-%m"), f"{today.year}-Q{(today.month - 1) // 3 + 1}"):
        take_snapshot(actor=actor, period=period, taken_on=today)
    schedule_snapshots(org_id=due.org_id, on=today + dt.timedelta(days=1))


def schedule_snapshots(*, org_id: int, on: dt.date) -> None:
    """Schedule the organisation's forecast snapshot for ``on`` (early morning); idempotent per day."""
    at = dt.datetime.combine(on, dt.time(1, 0), tzinfo=timezone.get_current_timezone())
    scheduled.schedule(action=SNAPSHOT_ACTION, key=f"sales.forecast:{org_id}:{on.isoformat()}", due_at=at,
                       org_id=org_id)


scheduled.register_action(SNAPSHOT_ACTION, snapshot_due)
