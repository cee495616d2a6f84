"""Each condition compiles to SQL that selects exactly the right profiles (same rules on SQLite and
PostgreSQL), nested AND / OR / NOT included."""

from __future__ import annotations

import datetime as dt

import pytest

from siyu.cdp import consent
from siyu.cdp.models import Event, Identity, ProfileStatus, ProfileTag, Tag, TagGroup
from siyu.cdp.segments.compiler import Compiler
from siyu.cdp.segments.rules import parse
from siyu.platform import services as platform

from .conftest import NOW, SHANGHAI


def names(system, rules, **kw):
    node = parse(rules, actor=system)
    return sorted(Compiler(system, now=NOW, **kw).profiles(node).values_list("name", flat=True))


@pytest.fixture
def world(system, make_profile, did, frozen):
    a = make_profile("a", gender="female", province="广东", lifecycle_stage="order", source="web_form")
    b = make_profile("b", gender="male", province="上海", lifecycle_stage="nurturing", source="import")
    c = make_profile("c", gender="female", province="上海", lifecycle_stage="repurchase", source="web_form")
    d = make_profile("d", gender="unknown", province="", lifecycle_stage="")
    make_profile("gone", gender="female", province="广东", status=ProfileStatus.MERGED)
    group = TagGroup.objects.create(org_id=system.org_id, name="价值")
    vip, hot = (Tag.objects.create(org_id=system.org_id, group=group, name=n) for n in ("VIP", "高潜"))
    for p, t in [(a, vip), (a, hot), (b, vip), (c, hot)]:
        ProfileTag.objects.create(org_id=system.org_id, profile=p, tag=t)
    for p, t, ns in [(a, "phone", ""), (b, "email", ""), (c, "wecom_external_userid", "corpA"),
                     (d, "wecom_external_userid", "corpB")]:
        Identity.objects.create(org_id=system.org_id, profile=p, type=t, namespace=ns, value="x",
                                value_index=f"{p.pk}-{t}")
    did(a, "Product Viewed", [0, 1, 2])  # three views this week
    did(a, "Order Completed", [1])
    did(b, "Product Viewed", [0])
    did(c, "Product Viewed", [10, 20, 30, 40])  # four views, all older than a week
    did(c, "Order Completed", [60])
    return {"a": a, "b": b, "c": c, "d": d, "vip": vip, "hot": hot}


def test_attributes_standard_and_custom_fields(system, world):
    assert names(system, {"type": "attribute", "field": "gender", "op": "eq", "value": "female"}) == ["a", "c"]
    assert names(system, {"type": "attribute", "field": "province", "op": "in", "value": ["广东", "上海"]}) == ["a", "b", "c"]
    assert names(system, {"type": "attribute", "field": "province", "op": "is_empty", "value": True}) == ["d"]
    platform.create_field(actor=system, object_key="cdp.profile", key="budget", label="Budget", type="integer")
    for p, v in [(world["a"], 500), (world["b"], 50)]:
        p.custom = {"budget": v}
        p.save()
    assert names(system, {"type": "attribute", "field": "budget", "op": "gte", "value": 100}) == ["a"]
    assert names(system, {"op": "not", "rule": {"type": "attribute", "field": "budget", "op": "gte", "value": 100}}) \
        == ["b", "c", "d"]


def test_tags_identities_lifecycle(system, world):
    vip, hot = world["vip"].pk, world["hot"].pk
    assert names(system, {"type": "tag", "tag_ids": [vip, hot], "match": "any"}) == ["a", "b", "c"]
    assert names(system, {"type": "tag", "tag_ids": [vip, hot], "match": "all"}) == ["a"]
    assert names(system, {"type": "identity", "identity_type": "wecom_external_userid"}) == ["c", "d"]
    assert names(system, {"type": "identity", "identity_type": "wecom_external_userid", "namespace": "corpA"}) == ["c"]
    assert names(system, {"type": "lifecycle", "stages": ["order", "repurchase"]}) == ["a", "c"]


def test_consent_is_the_latest_record_as_may_contact_says(system, world, time_machine):
    a, b, c = world["a"], world["b"], world["c"]
    t0 = NOW - dt.timedelta(days=3)
    consent.record_consent(actor=system, profile=a, purpose="marketing", granted=True, source="web_form", at=t0)
    consent.record_consent(actor=system, profile=b, purpose="marketing", granted=True, source="web_form", at=t0)
    consent.record_consent(actor=system, profile=b, purpose="marketing", granted=False, source="console",
                           at=t0 + dt.timedelta(days=1))
    consent.record_consent(actor=system, profile=c, purpose="marketing", granted=True, source="web_form",
                           channel="wecom", at=t0)
    # same instant: the later record (higher id) wins, as in may_contact
    consent.record_consent(actor=system, profile=world["d"], purpose="marketing", granted=True, source="x", at=t0)
    consent.record_consent(actor=system, profile=world["d"], purpose="marketing", granted=False, source="x", at=t0)
    assert names(system, {"type": "consent", "purpose": "marketing"}) == ["a"]
    assert names(system, {"type": "consent", "purpose": "marketing", "channel": "wecom"}) == ["a", "c"]
    assert names(system, {"type": "consent", "purpose": "marketing", "channel": "sms"}) == ["a"]
    for p in (a, b, c, world["d"]):
        expected = consent.may_contact(actor=system, profile=p, purpose="marketing", channel="wecom").allowed
        assert (p.name in names(system, {"type": "consent", "purpose": "marketing", "channel": "wecom"})) is expected


def test_events_from_rollups(system, world):
    def ev(**kw):
        return names(system, {"type": "event", "name": "Product Viewed", **kw})

    assert ev() == ["a", "b", "c"]
    assert ev(min_count=3) == ["a", "c"]  # ever, from the totals
    assert ev(within_days=7) == ["a", "b"]  # at least once this week, from last_at
    assert ev(within_days=7, min_count=2) == ["a"]  # summed daily rollups
    assert ev(within_days=1) == ["a", "b"]  # today only
    assert ev(within_days=11, min_count=2) == ["a"]  # c's view 10 days ago is day 11 of the window: one only
    assert ev(within_days=11, min_count=1) == ["a", "b", "c"]
    assert ev(did=False) == ["d"]
    assert ev(did=False, within_days=7) == ["c", "d"]


def test_viewed_but_did_not_buy_in_7_days(system, world, did):
    did(world["b"], "Order Completed", [8])  # bought, but before the week
    rule = {"op": "and", "rules": [
        {"type": "event", "name": "Product Viewed", "within_days": 7},
        {"op": "not", "rule": {"type": "event", "name": "Order Completed", "within_days": 7}}]}
    assert names(system, rule) == ["b"]


def test_event_property_filters_read_raw_events_of_the_window(system, world):
    def event(p, sku, days_ago, revenue=None):
        at = dt.datetime.combine(NOW.astimezone(SHANGHAI).date() - dt.timedelta(days=days_ago), dt.time(9),
                                 tzinfo=SHANGHAI)
        props = {"sku": sku, **({"revenue": revenue} if revenue is not None else {})}
        Event.objects.create(org_id=system.org_id, profile_id=p.pk, type="track", name="Order Completed",
                             message_id=f"{p.pk}-{sku}-{days_ago}", properties=props, timestamp=at, received_at=at)

    event(world["a"], "SKU1", 1, revenue="120.50")
    event(world["a"], "SKU1", 2, revenue=80)
    event(world["b"], "SKU2", 3, revenue="999")
    event(world["c"], "SKU1", 40)

    def ev(props, **kw):
        return names(system, {"type": "event", "name": "Order Completed", "within_days": 30, "properties": props, **kw})

    assert ev([{"key": "sku", "op": "eq", "value": "SKU1"}]) == ["a"]
    assert ev([{"key": "sku", "op": "eq", "value": "SKU1"}], min_count=2) == ["a"]
    assert ev([{"key": "sku", "op": "in", "value": ["SKU1", "SKU2"]}], min_count=2) == ["a"]
    assert ev([{"key": "revenue", "op": "gt", "value": 100}]) == ["a", "b"]
    assert ev([{"key": "revenue", "op": "lt", "value": 100}]) == ["a"]
    assert ev([{"key": "revenue", "op": "exists", "value": False}]) == []
    assert ev([{"key": "sku", "op": "ne", "value": "SKU1"}]) == ["b"]
    assert ev([{"key": "sku", "op": "eq", "value": "SKU1"}], did=False) == ["b", "c", "d"]


def test_nested_groups_and_restriction(system, world):
    rule = {"op": "or", "rules": [
        {"op": "and", "rules": [{"type": "attribute", "field": "gender", "op": "eq", "value": "female"},
                                {"op": "not", "rule": {"type": "tag", "tag_ids": [world["hot"].pk]}}]},
        {"type": "lifecycle", "stages": ["nurturing"]}]}
    assert names(system, rule) == ["b"]
    assert names(system, {"op": "and", "rules": []}) == ["a", "b", "c", "d"]  # everyone active
    assert names(system, {"op": "or", "rules": []}) == []
    assert names(system, {"type": "event", "name": "Product Viewed"}, restrict_to=[world["a"].pk, world["d"].pk]) == ["a"]
