"""Scheduled actions: idempotent by key, cancellable, run once in effect, retried with backoff."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.db.models import Q

from siyu.kernel import effects, events, leases, scheduled
from siyu.kernel.models import EffectRecord, ScheduledAction

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(scheduled, "_actions", {})
    monkeypatch.setattr(events, "_discovered", True)


@pytest.fixture
def runs(monkeypatch):
    """Registers "test.sla_check": records each call and writes an effect row; fails while ``fail`` is set."""
    calls: list[scheduled.DueAction] = []
    state = {"fail": 0}

    def check(due: scheduled.DueAction) -> None:
        calls.append(due)
        EffectRecord.objects.create(scope="test.sla_breach", key=f"{due.key}:{len(calls)}")
        if state["fail"]:
            state["fail"] -= 1
            raise RuntimeError(f"check failed on call {len(calls)}")

    scheduled.register_action("test.sla_check", check)
    return type("Runs", (), {"calls": calls, "state": state})


def breaches() -> int:
    return EffectRecord.objects.filter(scope="test.sla_breach").count()


def test_schedule_outside_a_transaction_raises(transactional_db):
    with pytest.raises(effects.NotInTransaction):
        scheduled.schedule(action="test.sla_check", key="k", due_at=T0)
    assert ScheduledAction.objects.count() == 0


def test_due_at_must_be_aware(db):
    with pytest.raises(ValueError, match="timezone-aware"):
        scheduled.schedule(action="test.sla_check", key="k", due_at=dt.datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001
    assert ScheduledAction.objects.count() == 0


def test_scheduling_the_same_key_again_updates_the_one_row(db):
    first = scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0, args={"lead_id": 1}, org_id=4)
    again = scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0 + MIN, args={"lead_id": 2},
                               org_id=4)
    assert again.pk == first.pk
    row = ScheduledAction.objects.get()
    assert (row.action, row.key, row.due_at, row.args, row.org_id, row.attempts) == (
        "test.sla_check", "lead:1", T0 + MIN, {"lead_id": 2}, 4, 0)


def test_run_due_runs_only_due_actions_once_and_marks_them_done(db, runs):
    scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0, args={"lead_id": 1}, org_id=4)
    scheduled.schedule(action="test.sla_check", key="lead:2", due_at=T0 + MIN, args={"lead_id": 2}, org_id=4)
    with time_machine.travel(T0, tick=False):
        assert scheduled.run_due() == 1
        assert scheduled.run_due() == 0
    assert runs.calls == [scheduled.DueAction(action="test.sla_check", key="lead:1", org_id=4,
                                              args={"lead_id": 1}, due_at=T0, attempt=1)]
    done = ScheduledAction.objects.get(key="lead:1")
    assert (done.done_at, done.locked_until, done.attempts, done.last_error) == (T0, None, 1, "")
    assert effects.happened("kernel.scheduled", "lead:1")
    assert ScheduledAction.objects.get(key="lead:2").done_at is None
    with time_machine.travel(T0 + MIN, tick=False):
        assert scheduled.run_due() == 1
    assert [c.key for c in runs.calls] == ["lead:1", "lead:2"]
    assert breaches() == 2


def test_cancelled_actions_do_not_run_and_rescheduling_revives_them(db, runs):
    scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0)
    assert scheduled.cancel("lead:1") is True
    assert scheduled.cancel("lead:1") is False
    assert scheduled.cancel("unknown") is False
    with time_machine.travel(T0, tick=False):
        assert scheduled.run_due() == 0
    assert runs.calls == []

    scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0 + MIN)
    with time_machine.travel(T0 + MIN, tick=False):
        assert scheduled.run_due() == 1
    assert [c.due_at for c in runs.calls] == [T0 + MIN]
    # A done key names an occurrence that happened: scheduling it again changes nothing.
    scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0 + 2 * MIN)
    assert scheduled.cancel("lead:1") is False
    with time_machine.travel(T0 + 3 * MIN, tick=False):
        assert scheduled.run_due() == 0
    row = ScheduledAction.objects.get()
    assert (row.due_at, row.done_at, row.cancelled_at) == (T0 + MIN, T0 + MIN, None)
    assert breaches() == 1


def test_a_failing_action_rolls_back_and_is_retried_with_backoff(db, runs):
    runs.state["fail"] = 2
    scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0)
    with time_machine.travel(T0, tick=False):
        scheduled.run_due()
    row = ScheduledAction.objects.get()
    assert (row.done_at, row.attempts, row.locked_until) == (None, 1, T0 + dt.timedelta(seconds=2))
    assert row.last_error.startswith("test.sla_check: Traceback")
    assert "RuntimeError: check failed on call 1" in row.last_error
    assert breaches() == 0 and not effects.happened("kernel.scheduled", "lead:1")
    assert list(scheduled.failed()) == [row]
    for at in (T0 + dt.timedelta(seconds=2), T0 + dt.timedelta(seconds=6)):
        with time_machine.travel(at, tick=False):
            scheduled.run_due()
    row.refresh_from_db()
    assert (row.done_at, row.attempts, row.last_error) == (T0 + dt.timedelta(seconds=6), 3, "")
    assert breaches() == 1 and len(runs.calls) == 3
    assert list(scheduled.failed()) == []


def test_an_action_unknown_to_the_worker_is_kept_with_an_error(db):
    scheduled.schedule(action="test.nobody", key="k", due_at=T0)
    with time_machine.travel(T0, tick=False):
        scheduled.run_due()
    row = ScheduledAction.objects.get()
    assert (row.done_at, row.attempts) == (None, 1)
    assert row.last_error == "no action registered under 'test.nobody' in this worker"


def test_a_claim_whose_worker_died_is_run_again_after_the_lease(db, runs):
    scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0)
    with time_machine.travel(T0, tick=False):
        # A worker claims the row and dies before running it.
        claimed = leases.claim(ScheduledAction, Q(), ["due_at", "pk"], limit=10)
        assert [r.key for r in claimed] == ["lead:1"]
        assert scheduled.run_due() == 0
    lease_end = T0 + dt.timedelta(seconds=300)
    with time_machine.travel(lease_end - dt.timedelta(seconds=1), tick=False):
        assert scheduled.run_due() == 0
    with time_machine.travel(lease_end, tick=False):
        assert scheduled.run_due() == 1
    row = ScheduledAction.objects.get()
    assert (row.done_at, row.attempts) == (lease_end, 2)
    assert [c.attempt for c in runs.calls] == [2]
    assert breaches() == 1


def test_rescheduled_later_after_the_claim_waits_for_the_new_time(db, runs):
    scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0)
    with time_machine.travel(T0, tick=False):
        [row] = leases.claim(ScheduledAction, Q(), ["due_at", "pk"], limit=10)
        scheduled.schedule(action="test.sla_check", key="lead:1", due_at=T0 + MIN)
        assert scheduled._run(row) == []
    row.refresh_from_db()
    assert (row.done_at, row.locked_until, row.attempts) == (None, None, 0)
    assert runs.calls == []


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_take_disjoint_rows_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is a PostgreSQL path; SQLite serialises claimers with IMMEDIATE transactions")
    with transaction.atomic():
        for n in range(40):
            scheduled.schedule(action="test.sla_check", key=f"k{n}", due_at=T0)
    barrier = threading.Barrier(4, timeout=20)
    taken: list[list[str]] = []

    def claimer():
        try:
            barrier.wait()
            with transaction.atomic():
                # Hold the first claim's row locks while the others claim: they must skip, not wait.
                rows = leases.claim(ScheduledAction, Q(), ["due_at", "pk"], limit=10)
                taken.append([r.key for r in rows])
                barrier.wait()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    keys = [k for batch in taken for k in batch]
    assert len(keys) == 40 and len(set(keys)) == 40
    assert set(ScheduledAction.objects.values_list("attempts", flat=True)) == {1}
