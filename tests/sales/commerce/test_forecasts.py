"""Weighted forecast by owner and team, snapshots on a schedule, accuracy, targets and progress."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import time_machine

from siyu.kernel import scheduled
from siyu.kernel.models import ScheduledAction
from siyu.sales.models.commerce import ForecastSnapshot
from siyu.sales.models.opportunities import Opportunity
from siyu.sales.services.commerce import forecasts
from siyu.sales.services.opportunities import ensure_default_pipeline

TZ = dt.timezone(dt.timedelta(hours=8))


def _opp(team, owner, amount, prob, close, status="open", closed_at=None):
    pipe = ensure_default_pipeline(team.admin)
    stage = pipe.stages.order_by("order").first()
    return Opportunity.objects.create(org=team.org, name="o", pipeline=pipe, stage=stage, amount=Decimal(amount),
                                      probability=prob, expected_close_date=close, owner_id=owner.user_id,
                                      department_id=owner.department_id, status=status, closed_at=closed_at)


def test_forecast_snapshot_accuracy_and_targets(team):
    a, b = team.reps[0], team.south_rep
    _opp(team, a, "1000.00", 50, dt.date(2026, 11, 20))
    _opp(team, a, "300.00", 10, dt.date(2026, 11, 5))
    _opp(team, a, "999.00", 90, dt.date(2026, 12, 5))  # next period
    _opp(team, b, "2000.00", 25, dt.date(2026, 11, 30))
    won = _opp(team, a, "800.00", 100, dt.date(2026, 11, 2), status="won",
               closed_at=dt.datetime(2026, 11, 3, 10, tzinfo=TZ))
    rows = forecasts.forecast(team.admin, period="2026-11", by="owner")
    assert [(r["key"], r["pipeline"], r["weighted"], r["won"], r["forecast"]) for r in rows] == [
        (a.user_id, Decimal("1300.00"), Decimal("530.00"), Decimal("800.00"), Decimal("1330.00")),
        (b.user_id, Decimal("2000.00"), Decimal("500.00"), Decimal("0.00"), Decimal("500.00"))]
    teams = forecasts.forecast(team.admin, period="2026-Q4", by="team")
    assert {r["key"]: r["forecast"] for r in teams} == {team.east.pk: Decimal("2229.10"),
                                                       team.south.pk: Decimal("500.00")}
    # the rep sees only their own pipeline
    assert [r["key"] for r in forecasts.forecast(team.actor(b), period="2026-11")] == [b.user_id]

    forecasts.set_target(actor=team.admin, period="2026-11", user_id=a.user_id, amount="2000", count=4)
    forecasts.set_target(actor=team.admin, period="2026-11", department_id=team.east.pk, amount="1600", count=2)
    assert ScheduledAction.objects.filter(action=forecasts.SNAPSHOT_ACTION).count() == 1
    with time_machine.travel(dt.datetime(2026, 11, 10, 9, tzinfo=TZ), tick=False):
        assert forecasts.take_snapshot(actor=team.admin, period="2026-11") == 2
    snap = ForecastSnapshot.objects.get(owner_id=a.user_id, period="2026-11")
    assert (snap.weighted_amount, snap.won_amount, snap.taken_on) == (Decimal("530.00"), Decimal("800.00"),
                                                                     dt.date(2026, 11, 10))
    won.amount = Decimal("1064.00")
    won.save()
    acc = forecasts.accuracy(team.admin, period="2026-11", taken_on=dt.date(2026, 11, 10))
    assert acc[0] == {"owner_id": a.user_id, "forecast": Decimal("1330.00"), "actual": Decimal("1064.00"),
                      "accuracy": Decimal("0.8000")}
    prog = forecasts.target_progress(team.admin, period="2026-11")
    assert [(p["user_id"], p["department_id"], p["won_amount"], p["won_count"], p["amount_progress"],
             p["count_progress"]) for p in prog] == [
        (a.user_id, None, Decimal("1064.00"), 1, Decimal("0.5320"), Decimal("0.2500")),
        (None, team.east.pk, Decimal("1064.00"), 1, Decimal("0.6650"), Decimal("0.5000"))]


def test_scheduled_snapshot_runs_and_reschedules(team):
    a = team.reps[0]
    _opp(team, a, "100.00", 40, dt.date(2026, 11, 20))
    with time_machine.travel(dt.datetime(2026, 11, 9, 12, tzinfo=TZ), tick=False):
        forecasts.set_target(actor=team.admin, period="2026-11", user_id=a.user_id, amount="100")
    with time_machine.travel(dt.datetime(2026, 11, 10, 2, tzinfo=TZ), tick=False):
        scheduled.run_due()
    assert set(ForecastSnapshot.objects.values_list("period", "weighted_amount")) == {
        ("2026-11", Decimal("40.00")), ("2026-Q4", Decimal("40.00"))}
    assert ScheduledAction.objects.filter(action=forecasts.SNAPSHOT_ACTION, done_at__isnull=True).count() == 1
