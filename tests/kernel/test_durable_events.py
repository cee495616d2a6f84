"""Domain events through the outbox: emitted in the transaction, dispatched at least once, effects once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
import time_machine
from django.db import transaction

from siyu.kernel import clock, effects, events, leases, outbox
from siyu.kernel.coalesce import Coalescer
from siyu.kernel.models import EffectRecord, OutboxMessage

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class LeadAssigned(events.DomainEvent):
    lead_id: int
    owner_id: int


@dataclass(frozen=True)
class OwnerNotified(events.DomainEvent):
    topic = "test.OwnerNotified"
    lead_id: int
    by: str


@dataclass(frozen=True)
class Bad(events.DomainEvent):
    when: dt.datetime


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(events, "_types", {})
    monkeypatch.setattr(events, "_subscriptions", {})
    monkeypatch.setattr(events, "_discovered", True)  # no app handlers: these tests register their own


def notified(by: str) -> list[dict]:
    return list(OutboxMessage.objects.filter(topic="test.OwnerNotified", payload__by=by).values_list("payload", flat=True))


def notifier(by: str, calls: list, *, fail_times: int = 0):
    """A handler whose effect is a database row (a follow-up event), failing its first ``fail_times`` calls
    after writing that row, so a rollback is visible."""

    def handle(event: LeadAssigned) -> None:
        calls.append(event)
        events.emit(OwnerNotified(org_id=event.org_id, lead_id=event.lead_id, by=by))
        if len(calls) <= fail_times:
            raise RuntimeError(f"{by} failed on call {len(calls)}")

    return handle


def test_topic_defaults_to_module_and_class_and_can_be_pinned():
    assert events.topic_of(LeadAssigned) == f"{LeadAssigned.__module__}.LeadAssigned"
    assert events.topic_of(OwnerNotified) == "test.OwnerNotified"
    LeadAssigned.__module__, saved = "siyu.sales.events", LeadAssigned.__module__
    try:
        assert events.topic_of(LeadAssigned) == "sales.LeadAssigned"
    finally:
        LeadAssigned.__module__ = saved


@pytest.mark.django_db(transaction=True)
def test_emit_outside_a_transaction_raises_and_writes_nothing():
    with pytest.raises(effects.NotInTransaction):
        events.emit(LeadAssigned(org_id=1, lead_id=2, owner_id=3))
    assert OutboxMessage.objects.count() == 0


@time_machine.travel(T0, tick=False)
def test_emit_writes_the_payload_in_the_current_transaction(db):
    event = LeadAssigned(org_id=7, lead_id=2, owner_id=3)
    message = events.emit(event)
    row = OutboxMessage.objects.get()
    assert row.pk == message.pk
    assert (row.org_id, row.topic, row.available_at, row.attempts, row.processed_at) == (
        7, events.topic_of(LeadAssigned), T0, 0, None)
    assert row.payload == {"org_id": 7, "event_id": event.event_id, "lead_id": 2, "owner_id": 3}
    assert len(event.event_id) == 32

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        events.emit(LeadAssigned(org_id=7, lead_id=9, owner_id=3))
        1 / 0  # noqa: B018 - the change fails after the emit: the event goes with it
    assert OutboxMessage.objects.count() == 1


def test_payload_must_be_plain_json(db):
    with pytest.raises(TypeError, match="Bad payload is not plain JSON"):
        events.emit(Bad(org_id=1, when=T0))
    assert OutboxMessage.objects.count() == 0


def test_only_frozen_domain_event_dataclasses_can_be_subscribed():
    class Undecorated(events.DomainEvent):
        x: int

    with pytest.raises(TypeError, match="not a frozen dataclass"):
        events.subscribe(Undecorated, print, name="x")
    with pytest.raises(TypeError, match="not a frozen dataclass"):
        events.subscribe(dict, print, name="x")
    events.subscribe(LeadAssigned, print, name="a.print")
    events.subscribe(LeadAssigned, print, name="a.print")  # the same module imported twice: harmless
    with pytest.raises(ValueError, match="already subscribed"):
        events.subscribe(LeadAssigned, repr, name="a.print")
    assert [s.name for s in events.subscriptions(events.topic_of(LeadAssigned))] == ["a.print"]


def test_nudge_is_one_dispatch_per_transaction(db, monkeypatch, django_capture_on_commit_callbacks):
    from siyu.kernel import tasks

    nudged = []
    monkeypatch.setitem(tasks.BY_NAME, "kernel.outbox.dispatch", lambda: nudged.append(1))
    monkeypatch.setattr(events, "_nudges", Coalescer(60.0))  # this process nudged nothing in the last minute
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for lead in range(3):
            events.emit(LeadAssigned(org_id=1, lead_id=lead, owner_id=3))
    assert len(callbacks) == 1
    assert nudged == [1]


@time_machine.travel(T0, tick=False)
def test_dispatch_delivers_to_every_handler_once_and_marks_processed(db):
    a_calls, b_calls = [], []
    events.subscribe(LeadAssigned, notifier("a", a_calls), name="test.a")
    events.subscribe(LeadAssigned, notifier("b", b_calls), name="test.b")
    event = LeadAssigned(org_id=5, lead_id=11, owner_id=3)
    message = events.emit(event)

    assert outbox.dispatch_pending() == 3  # the event and the two follow-ups (which have no handler)

    message.refresh_from_db()
    assert (message.processed_at, message.attempts, message.locked_until, message.last_error) == (T0, 1, None, "")
    assert a_calls == [event] and b_calls == [event]
    assert len(notified("a")) == 1 and len(notified("b")) == 1
    assert set(EffectRecord.objects.values_list("scope", "key")) == {
        ("outbox:test.a", str(message.pk)), ("outbox:test.b", str(message.pk))}
    assert outbox.dispatch_pending() == 0


def test_redelivery_after_a_crash_before_marking_processed_repeats_no_effect(db, monkeypatch):
    calls = []
    events.subscribe(LeadAssigned, notifier("a", calls), name="test.a")
    with time_machine.travel(T0, tick=False):
        message = events.emit(LeadAssigned(org_id=5, lead_id=11, owner_id=3))

        def crash(*args, **kwargs):
            raise SystemExit("worker died between the handler's commit and the bookkeeping")

        with monkeypatch.context() as patch:
            patch.setattr(leases, "settle", crash)
            with pytest.raises(SystemExit):
                outbox.dispatch_pending()
        message.refresh_from_db()
        assert (message.processed_at, message.attempts) == (None, 1)
        assert message.locked_until == T0 + dt.timedelta(seconds=300)
        assert outbox.dispatch_pending() == 1  # only the follow-up: the message is leased to the dead worker

    with time_machine.travel(T0 + dt.timedelta(seconds=300), tick=False):
        assert outbox.dispatch_pending() == 1
    message.refresh_from_db()
    assert (message.processed_at, message.attempts) == (T0 + dt.timedelta(seconds=300), 2)
    assert len(calls) == 1
    assert len(notified("a")) == 1


def test_a_failing_handler_is_retried_with_backoff_without_repeating_the_others(db):
    a_calls, b_calls = [], []
    events.subscribe(LeadAssigned, notifier("a", a_calls), name="test.a")
    events.subscribe(LeadAssigned, notifier("b", b_calls, fail_times=2), name="test.b")
    with time_machine.travel(T0, tick=False):
        message = events.emit(LeadAssigned(org_id=5, lead_id=11, owner_id=3))
        outbox.dispatch_pending()
    message.refresh_from_db()
    assert (message.processed_at, message.attempts) == (None, 1)
    assert message.locked_until == T0 + dt.timedelta(seconds=2)
    assert message.last_error.startswith("test.b: Traceback")
    assert "RuntimeError: b failed on call 1" in message.last_error
    assert len(notified("a")) == 1 and notified("b") == []  # b's row rolled back with its failure
    assert list(outbox.failed()) == [message]

    with time_machine.travel(T0 + dt.timedelta(seconds=1), tick=False):
        outbox.dispatch_pending()  # only the follow-up: the message waits for its backoff
    message.refresh_from_db()
    assert message.attempts == 1
    with time_machine.travel(T0 + dt.timedelta(seconds=2), tick=False):
        outbox.dispatch_pending()
    message.refresh_from_db()
    assert (message.attempts, message.locked_until) == (2, T0 + dt.timedelta(seconds=6))
    assert "b failed on call 2" in message.last_error
    with time_machine.travel(T0 + dt.timedelta(seconds=6), tick=False):
        outbox.dispatch_pending()
    message.refresh_from_db()
    assert (message.attempts, message.processed_at, message.last_error) == (3, T0 + dt.timedelta(seconds=6), "")
    assert (len(a_calls), len(b_calls)) == (1, 3)
    assert len(notified("a")) == 1 and len(notified("b")) == 1
    assert list(outbox.failed()) == []


def test_after_the_last_attempt_the_message_stays_for_operators_and_can_be_replayed(db):
    calls = []
    events.subscribe(LeadAssigned, notifier("b", calls, fail_times=leases.MAX_ATTEMPTS), name="test.b")
    now = T0
    with time_machine.travel(now, tick=False):
        message = events.emit(LeadAssigned(org_id=5, lead_id=11, owner_id=3))
    for attempt in range(1, leases.MAX_ATTEMPTS + 1):
        with time_machine.travel(now, tick=False):
            outbox.dispatch_pending()
        message.refresh_from_db()
        assert message.attempts == attempt
        now += leases.backoff(attempt)
    assert message.locked_until is None
    assert message.last_error.startswith(f"gave up after {leases.MAX_ATTEMPTS} attempts\ntest.b: Traceback")
    with time_machine.travel(now + dt.timedelta(days=30), tick=False):
        assert outbox.dispatch_pending() == 0
    assert list(outbox.failed()) == [message]

    outbox.replay(message.pk)
    outbox.dispatch_pending()
    message.refresh_from_db()
    assert (message.attempts, message.last_error) == (1, "")
    assert message.processed_at is not None
    assert len(calls) == leases.MAX_ATTEMPTS + 1
    assert len(notified("b")) == 1


def test_backoff_doubles_from_two_seconds_up_to_an_hour():
    assert [leases.backoff(n).total_seconds() for n in (1, 2, 3, 4, 11, 12, 30)] == [
        2, 4, 8, 16, 2048, 3600, 3600]


def test_once_records_the_effect_with_the_transaction(db):
    assert effects.once("test.scope", "k1") is True
    assert effects.once("test.scope", "k1") is False
    assert effects.once("test.other", "k1") is True
    with pytest.raises(RuntimeError), transaction.atomic():
        assert effects.once("test.scope", "k2") is True
        raise RuntimeError("the effect failed")
    assert effects.happened("test.scope", "k2") is False
    assert effects.happened("test.scope", "k1") is True


@pytest.mark.django_db(transaction=True)
def test_once_outside_a_transaction_raises():
    with pytest.raises(effects.NotInTransaction):
        effects.once("test.scope", "k1")
    assert EffectRecord.objects.count() == 0


def test_prune_keeps_a_week_of_processed_messages_and_every_pending_ones_effects(db):
    calls = []
    events.subscribe(LeadAssigned, notifier("a", calls), name="test.a")
    events.subscribe(LeadAssigned, notifier("b", [], fail_times=leases.MAX_ATTEMPTS), name="test.b")
    with time_machine.travel(T0, tick=False):
        old = events.emit(LeadAssigned(org_id=5, lead_id=1, owner_id=3))  # a succeeds, b keeps failing
        outbox.dispatch_pending()
    with time_machine.travel(T0 + dt.timedelta(days=3), tick=False):
        recent = events.emit(LeadAssigned(org_id=5, lead_id=2, owner_id=3))
        outbox.dispatch_pending()
        OutboxMessage.objects.filter(pk=recent.pk).update(processed_at=clock.now())
    followups = list(OutboxMessage.objects.filter(topic="test.OwnerNotified").values_list("pk", flat=True))
    with time_machine.travel(T0 + dt.timedelta(days=7, seconds=1), tick=False):
        assert outbox.prune() == 1  # the first follow-up, processed at T0
    remaining = set(OutboxMessage.objects.values_list("pk", flat=True))
    assert remaining == {old.pk, recent.pk, followups[1]}
    # The pending message keeps a's record (a replay must not re-run a); nothing else was old enough to go.
    assert effects.happened("outbox:test.a", str(old.pk))
    assert effects.happened("outbox:test.a", str(recent.pk))
    with time_machine.travel(T0 + dt.timedelta(days=11), tick=False):
        OutboxMessage.objects.filter(pk=old.pk).update(processed_at=clock.now())
    with time_machine.travel(T0 + dt.timedelta(days=19), tick=False):
        assert outbox.prune() == 3
    assert OutboxMessage.objects.count() == 0
    assert EffectRecord.objects.filter(scope__startswith="outbox:").count() == 0


def test_the_minutely_tick_wakes_both_claimers_every_poll_interval(monkeypatch, settings):
    from siyu.kernel import tasks

    settings.SIYU_DURABLE_POLL_SECONDS = 20
    woken = []

    class Claimer:
        def __init__(self, name):
            self.name = name

        def __call__(self):
            woken.append((self.name, 0))

        def schedule(self, *, delay):
            woken.append((self.name, delay))

    monkeypatch.setattr(tasks, "BY_NAME", {name: Claimer(name) for name in tasks.BY_NAME})
    tasks.tick.call_local()
    assert woken == [(name, delay) for delay in (0, 20, 40)
                     for name in ("kernel.outbox.dispatch", "kernel.scheduled.run_due")]
    assert tasks.tick.name == "kernel.durable.tick"
    assert {t.name for t in (tasks.dispatch_outbox, tasks.run_due_actions, tasks.prune_outbox)} == {
        "kernel.outbox.dispatch", "kernel.scheduled.run_due", "kernel.outbox.prune"}
