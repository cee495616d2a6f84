"""Segment membership follows ingestion and the profile services by itself: each writer emits one
``ProfilesChanged`` per batch or call, the outbox dispatcher's handler refreshes membership, and the result
equals a full recompute. Also: identify traits that change a name keep SQLite's name search in step."""

from __future__ import annotations

import base64
import json

from django.db import transaction
from django.test import Client

from siyu.cdp import merging, profiles, search
from siyu.cdp import services as cdp_services
from siyu.cdp.identifiers import normalise
from siyu.cdp.ingest import processing
from siyu.cdp.ingest.sources import create_source
from siyu.cdp.models import Identity, Profile, Segment, SegmentMembership
from siyu.cdp.segments import membership, services
from siyu.kernel import outbox as outbox_dispatcher
from siyu.kernel.models import OutboxMessage

from .conftest import NOW


def dispatch() -> None:
    outbox_dispatcher.dispatch_pending()
    assert not list(outbox_dispatcher.failed()), [m.last_error for m in outbox_dispatcher.failed()]


def members(segment) -> set[int]:
    return set(SegmentMembership.objects.filter(segment=segment).values_list("profile_id", flat=True))


def segment_events() -> list[tuple[str, int, int]]:
    return [(m.topic.split(".")[1], m.payload["segment_id"], m.payload["profile_id"])
            for m in OutboxMessage.objects.filter(topic__startswith="cdp.Segment").order_by("pk")]


def changed_messages() -> list[dict]:
    return [m.payload for m in OutboxMessage.objects.filter(topic="cdp.ProfilesChanged").order_by("pk")]


def assert_equals_full_recompute(system) -> None:
    before = set(SegmentMembership.objects.values_list("segment_id", "profile_id"))
    with transaction.atomic():
        changes = membership.recompute_all(system, emit=True)
    assert changes.total == 0, (changes.entered, changes.exited)
    assert set(SegmentMembership.objects.values_list("segment_id", "profile_id")) == before
    for s in Segment.objects.all():
        assert s.member_count == SegmentMembership.objects.filter(segment=s).count(), s.name


def test_events_move_profiles_into_segments_through_one_message_per_batch(system, admin_actor, time_machine):
    time_machine.move_to(NOW, tick=False)
    _, key = create_source(actor=system, name="web")
    with transaction.atomic():
        buyers = services.create_segment(actor=admin_actor, name="buyers",
                                         rules={"type": "event", "name": "Order Completed"})
        women = services.create_segment(actor=admin_actor, name="women", rules={
            "type": "attribute", "field": "gender", "op": "eq", "value": "female"})
    at = NOW.isoformat()
    batch = [
        {"type": "identify", "userId": "u1", "messageId": "i1", "timestamp": at,
         "traits": {"phone": "13800001111", "name": "欧阳娜娜", "gender": "female"}},
        {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "t1", "timestamp": at},
        {"type": "track", "userId": "u2", "event": "Order Completed", "messageId": "t2", "timestamp": at},
        {"type": "track", "userId": "u2", "event": "Product Viewed", "messageId": "t3", "timestamp": at},
    ]
    r = Client().post("/v1/batch", data=json.dumps({"batch": batch}), content_type="application/json",
                      HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:".encode()).decode())
    assert r.status_code == 200, r.content
    processing.process_pending(linger_seconds=0)
    u1 = Identity.objects.in_org(system).get(type="user_id", value_index=normalise("user_id", "u1").index).profile_id
    u2 = Identity.objects.in_org(system).get(type="user_id", value_index=normalise("user_id", "u2").index).profile_id
    # one message for the processed batch (four events, two profiles), nothing evaluated yet
    assert changed_messages() == [{"org_id": system.org_id, "event_id": changed_messages()[0]["event_id"],
                                   "profile_ids": sorted([u1, u2]), "reason": "ingest"}]
    assert members(buyers) == set()
    dispatch()
    assert members(buyers) == {u1, u2} and members(women) == {u1}
    assert sorted(segment_events()) == sorted([("SegmentEntered", buyers.pk, u1), ("SegmentEntered", buyers.pk, u2),
                                               ("SegmentEntered", women.pk, u1)])
    # the identify's name is searchable at once (SQLite's FTS rows written by the batch; PostgreSQL's trigram)
    for q in ("欧阳娜娜", "欧阳", "娜娜"):
        assert list(search.name_matches(Profile.objects.in_org(system), q).values_list("pk", flat=True)) == [u1], q
    # a rename by a later identify moves the search rows too
    r = Client().post("/v1/identify", data=json.dumps({"userId": "u1", "messageId": "i2", "timestamp": at,
                                                      "traits": {"name": "Nana Ouyang", "gender": "male"}}),
                      content_type="application/json",
                      HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:".encode()).decode())
    assert r.status_code == 200, r.content
    processing.process_pending(linger_seconds=0)
    dispatch()
    assert not search.name_matches(Profile.objects.in_org(system), "欧阳娜娜").exists()
    assert list(search.name_matches(Profile.objects.in_org(system), "nana").values_list("pk", flat=True)) == [u1]
    assert members(women) == set()
    assert segment_events()[-1] == ("SegmentExited", women.pk, u1)
    assert_equals_full_recompute(system)


def test_profile_services_move_profiles_in_and_out_without_a_recompute(system, admin_actor, time_machine):
    time_machine.move_to(NOW, tick=False)
    with transaction.atomic():
        vip_tag = profiles.ensure_tag(actor=admin_actor, group="价值", name="VIP")
        reachable = services.create_segment(actor=admin_actor, name="reachable vip", rules={"op": "and", "rules": [
            {"type": "tag", "tag_ids": [vip_tag.pk]},
            {"type": "consent", "purpose": "marketing", "channel": "wecom"},
            {"op": "not", "rule": {"type": "lifecycle", "stages": ["service"]}}]})
        with_email = services.create_segment(actor=admin_actor, name="with email",
                                             rules={"type": "identity", "identity_type": "email"})
    with transaction.atomic():
        a = profiles.create_profile(actor=admin_actor, data={"name": "张三"},
                                    identifiers=[{"type": "phone", "value": "13900001111"}]).profile
        b = profiles.create_profile(actor=admin_actor, data={"name": "李四"},
                                    identifiers=[{"type": "email", "value": "li@example.com"}]).profile
    dispatch()
    assert members(with_email) == {b.pk} and members(reachable) == set()
    for step in (
        lambda: profiles.tag_profile(actor=admin_actor, profile_id=a.pk, tags=[("价值", "VIP")]),
        lambda: cdp_services.record_consent(actor=admin_actor, profile_id=a.pk, purpose="marketing", granted=True,
                                            source="console", channel="wecom"),
    ):
        with transaction.atomic():
            step()
        dispatch()
    assert members(reachable) == {a.pk}
    with transaction.atomic():
        cdp_services.set_lifecycle_stage(actor=admin_actor, profile_id=a.pk, stage="service")
    dispatch()
    assert members(reachable) == set()
    with transaction.atomic():
        profiles.add_identity(actor=admin_actor, profile_id=a.pk, type="email", value="zhang@example.com")
    dispatch()
    assert members(with_email) == {a.pk, b.pk}
    # a merge takes the merged profile out of every segment; undoing it brings it back
    with transaction.atomic():
        log = merging.merge_profiles(actor=admin_actor, survivor=Profile.objects.get(pk=a.pk),
                                     merged=Profile.objects.get(pk=b.pk), reason="test")
    dispatch()
    assert members(with_email) == {a.pk}
    with transaction.atomic():
        cdp_services.undo_merge(actor=admin_actor, merge_id=log.pk)
    dispatch()
    assert members(with_email) == {a.pk, b.pk}
    with transaction.atomic():
        profiles.delete_profile(actor=admin_actor, profile_id=b.pk)
    dispatch()
    assert members(with_email) == {a.pk}
    assert [(k, s) for k, s, _ in segment_events()] == [
        ("SegmentEntered", with_email.pk), ("SegmentEntered", reachable.pk), ("SegmentExited", reachable.pk),
        ("SegmentEntered", with_email.pk), ("SegmentExited", with_email.pk), ("SegmentEntered", with_email.pk),
        ("SegmentExited", with_email.pk)]
    # one message per service call, never one per row it wrote
    assert all(len(m["profile_ids"]) <= 2 for m in changed_messages())
    assert_equals_full_recompute(system)


def test_service_calls_inside_a_batched_block_cost_one_message(system, admin_actor):
    """A caller looping over service calls (a sync page) wraps them in ``batched``: ``create_profile``'s own
    block hands its ids to the enclosing one instead of emitting, so the page is one message, not one per call."""
    from siyu.cdp.changes import batched

    with transaction.atomic(), batched(system.org_id, reason="sync"):
        a = profiles.create_profile(actor=admin_actor, data={"name": "甲"},
                                    identifiers=[{"type": "phone", "value": "13900002222"}]).profile
        b = profiles.create_profile(actor=admin_actor, data={"name": "乙"},
                                    identifiers=[{"type": "phone", "value": "13900003333"}]).profile
        profiles.tag_profile(actor=admin_actor, profile_id=a.pk, tags=[("价值", "VIP")])
        assert changed_messages() == []  # nothing before the block ends
    assert [(m["reason"], m["profile_ids"]) for m in changed_messages()] == [("sync", sorted([a.pk, b.pk]))]
