"""Incremental membership equals the full recompute after a mixed workload (ingested events with identify,
merges, tags, consent, lifecycle and custom-field changes), and every change emits its domain event once.

The incremental path is the real one: ingestion, the profile services and the low-level writes emit
``ProfilesChanged`` and the outbox dispatcher's handler refreshes membership; no test calls the refresh itself
except where the refresh is the subject."""

from __future__ import annotations

import base64
import datetime as dt
import json

from django.db import transaction
from django.test import Client

from siyu.cdp import consent, profiles
from siyu.cdp.identifiers import normalise
from siyu.cdp.ingest import processing
from siyu.cdp.ingest.sources import create_source
from siyu.cdp.models import Identity, Profile, Segment, SegmentMembership
from siyu.cdp.segments import membership, services
from siyu.kernel import outbox as outbox_dispatcher
from siyu.kernel.actor import Actor
from siyu.kernel.models import OutboxMessage
from siyu.platform import services as platform

from .conftest import NOW


def members() -> set[tuple[str, int]]:
    return {(name, pid) for name, pid in SegmentMembership.objects.values_list("segment__name", "profile_id")}


def outbox() -> list[tuple[str, int, int]]:
    return sorted((m.topic.split(".")[1], m.payload["segment_id"], m.payload["profile_id"])
                  for m in OutboxMessage.objects.filter(topic__startswith="cdp.Segment"))


def dispatch() -> None:
    """Run the outbox dispatcher as the worker does; a handler's failure must fail the test."""
    outbox_dispatcher.dispatch_pending()
    assert not list(outbox_dispatcher.failed()), [m.last_error for m in outbox_dispatcher.failed()]


def profile_of(system, raw_phone):
    ident = normalise("phone", raw_phone)
    return Identity.objects.in_org(system).get(type="phone", value_index=ident.index).profile


SEGMENTS = {
    "viewed-not-bought": {"op": "and", "rules": [
        {"type": "event", "name": "Product Viewed", "within_days": 7},
        {"op": "not", "rule": {"type": "event", "name": "Order Completed", "within_days": 7}}]},
    "vip-or-order": {"op": "or", "rules": [
        {"type": "tag", "tag_ids": "VIP"}, {"type": "lifecycle", "stages": ["order"]}]},
    "reachable-women": {"op": "and", "rules": [
        {"type": "consent", "purpose": "marketing", "channel": "wecom"},
        {"type": "attribute", "field": "gender", "op": "eq", "value": "female"}]},
    "sku1-fans": {"type": "event", "name": "Product Viewed", "min_count": 2, "within_days": 30,
                  "properties": [{"key": "sku", "op": "eq", "value": "SKU1"}]},
    "phone-never-bought": {"op": "and", "rules": [
        {"type": "identity", "identity_type": "phone"},
        {"op": "not", "rule": {"type": "event", "name": "Order Completed"}}]},
    "small-budget": {"op": "not", "rule": {"type": "attribute", "field": "budget", "op": "gte", "value": 100}},
}


def test_incremental_membership_equals_full_recompute_after_a_mixed_workload(system, admin_actor, time_machine):
    time_machine.move_to(NOW, tick=False)
    _, key = create_source(actor=system, name="web")
    client = Client()
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    platform.create_field(actor=system, object_key="cdp.profile", key="budget", label="Budget", type="integer")
    vip = profiles.ensure_tag(actor=admin_actor, group="价值", name="VIP")
    with transaction.atomic():
        for name, rules in SEGMENTS.items():
            rules = json.loads(json.dumps(rules).replace('"VIP"', f"[{vip.pk}]"))
            services.create_segment(actor=admin_actor, name=name, rules=rules)
    n = iter(range(1000))

    def ingest(events):
        ids = []
        for e in events:
            e.setdefault("messageId", f"m{next(n)}")
            e.setdefault("timestamp", (NOW - dt.timedelta(hours=1)).isoformat())
            ids.append(e["messageId"])
        r = client.post("/v1/batch", data=json.dumps({"batch": events}), content_type="application/json",
                        HTTP_AUTHORIZATION=auth)
        assert r.status_code == 200, r.content
        processing.process_pending(linger_seconds=0)
        dispatch()

    def track(user, name, days_ago=0, **props):
        return {"type": "track", "userId": user, "event": name, "properties": props,
                "timestamp": (NOW - dt.timedelta(days=days_ago, hours=1)).isoformat()}

    ingest([
        {"type": "identify", "userId": "u1", "traits": {"phone": "13800001111", "gender": "female"}},
        {"type": "identify", "userId": "u2", "traits": {"phone": "13800002222", "gender": "female"}},
        {"type": "identify", "userId": "u3", "traits": {"phone": "13800003333", "gender": "male"}},
        track("u1", "Product Viewed", sku="SKU1"), track("u1", "Product Viewed", 3, sku="SKU1"),
        track("u2", "Product Viewed", sku="SKU2"), track("u3", "Product Viewed", 20, sku="SKU1"),
        {**track("", "Product Viewed", sku="SKU1"), "userId": None, "anonymousId": "anon4"},
    ])
    p1, p2, p3 = (profile_of(system, f"1380000{i}{i}{i}{i}") for i in (1, 2, 3))
    p4 = Identity.objects.in_org(system).get(type="anonymous_id",
                                             value_index=normalise("anonymous_id", "anon4").index).profile
    assert members() == {
        ("viewed-not-bought", p1.pk), ("viewed-not-bought", p2.pk), ("viewed-not-bought", p4.pk),
        ("sku1-fans", p1.pk),
        ("phone-never-bought", p1.pk), ("phone-never-bought", p2.pk), ("phone-never-bought", p3.pk),
        ("small-budget", p1.pk), ("small-budget", p2.pk), ("small-budget", p3.pk), ("small-budget", p4.pk)}

    def touch(fn, *ids):
        with transaction.atomic():  # the request's transaction
            fn()
        dispatch()

    touch(lambda: profiles.tag_profile(actor=admin_actor, profile_id=p3.pk, tags=[("价值", "VIP")]), p3.pk)
    touch(lambda: consent.record_consent(actor=system, profile=p2, purpose="marketing", granted=True,
                                         source="web_form", channel="wecom"), p2.pk)
    touch(lambda: profiles.update_profile(actor=admin_actor, profile_id=p2.pk, changes={"lifecycle_stage": "order"}),
          p2.pk)
    touch(lambda: profiles.update_profile(actor=admin_actor, profile_id=p1.pk, changes={}, custom={"budget": 500}),
          p1.pk)
    # u1 buys; the anonymous visitor turns out to be u2: the merge must take it out of every segment
    ingest([track("u1", "Order Completed", sku="SKU1"),
            {"type": "identify", "userId": "u2", "anonymousId": "anon4"},
            track("u2", "Product Viewed", sku="SKU1"), track("u2", "Product Viewed", 1, sku="SKU1")])
    touch(lambda: consent.record_consent(actor=system, profile=p2, purpose="marketing", granted=False,
                                         source="console"), p2.pk)
    assert Profile.objects.get(pk=p4.pk).status == "merged"

    incremental = members()
    events_before = outbox()
    with transaction.atomic():
        changes = membership.recompute_all(system, emit=True)
    assert changes.total == 0, (changes.entered, changes.exited)
    assert members() == incremental
    assert outbox() == events_before
    # member_count kept by the increments equals a count of the rows
    for s in Segment.objects.all():
        assert s.member_count == SegmentMembership.objects.filter(segment=s).count(), s.name
    survivor = p2
    by_name = {s.name: s.pk for s in Segment.objects.all()}
    assert {n for n, pid in incremental if pid == survivor.pk} == {"vip-or-order", "sku1-fans", "viewed-not-bought",
                                                                  "phone-never-bought", "small-budget"}
    assert {n for n, pid in incremental if pid == p1.pk} == {"sku1-fans"}  # bought; budget 500
    # every transition was emitted once: replaying the events from the silent (empty) start gives the rows
    state: set[tuple[int, int]] = set()
    for kind, seg, pid in sorted(OutboxMessage.objects.filter(topic__startswith="cdp.Segment").order_by("pk")
                                 .values_list("topic", "payload__segment_id", "payload__profile_id"),
                                 key=lambda r: 0):
        (state.add if kind == "cdp.SegmentEntered" else state.discard)((seg, pid))
    assert state == {(by_name[n], pid) for n, pid in incremental}


def test_windows_sliding_past_their_events_exit_at_the_daily_recompute(system, admin_actor, make_profile, did,
                                                                      time_machine):
    time_machine.move_to(NOW, tick=False)
    p = make_profile("a")
    did(p, "Product Viewed", [2])
    with transaction.atomic():
        seg = services.create_segment(actor=admin_actor, name="recent", rules=SEGMENTS["viewed-not-bought"])
    assert seg.member_count == 1
    assert outbox() == []  # a new segment's first members did not "enter" anything
    time_machine.move_to(NOW + dt.timedelta(days=5), tick=False)
    with transaction.atomic():
        assert membership.refresh_profiles(system, [p.pk]).exited == {seg.pk: [p.pk]}
    assert outbox() == [("SegmentExited", seg.pk, p.pk)]
    time_machine.move_to(NOW, tick=False)
    with transaction.atomic():
        changes = membership.recompute_all(system)
    assert changes.entered == {seg.pk: [p.pk]} and Segment.objects.get(pk=seg.pk).member_count == 1


def test_refresh_is_idempotent_and_ignores_other_organisations(system, admin_actor, make_org, make_profile, did,
                                                              time_machine):
    time_machine.move_to(NOW, tick=False)
    other = Actor.system(make_org("Other").org.pk)
    p = make_profile("a")
    with transaction.atomic():
        seg = services.create_segment(actor=admin_actor, name="viewers",
                                      rules={"type": "event", "name": "Product Viewed"})
    did(p, "Product Viewed", [0])
    with transaction.atomic():
        assert membership.refresh_profiles(other, [p.pk]).total == 0  # not that organisation's profile
        assert membership.refresh_profiles(system, [p.pk, p.pk]).entered == {seg.pk: [p.pk]}
        assert membership.refresh_profiles(system, [p.pk]).total == 0
    assert outbox() == [("SegmentEntered", seg.pk, p.pk)]
    assert Segment.objects.get(pk=seg.pk).member_count == 1


def test_the_daily_task_lets_members_go_when_their_window_has_passed(system, admin_actor, make_profile, did,
                                                                   time_machine):
    from siyu.cdp.segments import tasks

    time_machine.move_to(NOW, tick=False)
    p = make_profile("a")
    did(p, "Product Viewed", [0])
    with transaction.atomic():
        seg = services.create_segment(actor=admin_actor, name="this week", rules={
            "type": "event", "name": "Product Viewed", "within_days": 7})
    assert tasks.recompute_all.call_local() == 0
    time_machine.move_to(NOW + dt.timedelta(days=7), tick=False)
    assert tasks.recompute_all.call_local() == 1
    assert outbox() == [("SegmentExited", seg.pk, p.pk)]
    assert Segment.objects.get(pk=seg.pk).member_count == 0
    assert tasks.recompute.call_local(system.org_id, seg.pk) == 0
