"""The segments API: CRUD, rule errors as 422 naming the bad node's path (never a 500), the live count,
members with keyset pagination within the caller's scope, snapshots (with a consent filter), personas and
their traits; refusals change nothing, other organisations' records are 404."""

from __future__ import annotations

import dataclasses
import json

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.cdp import consent
from siyu.cdp.models import Persona, Segment, SegmentMembership, SegmentSnapshotMember
from siyu.kernel.actor import DataScope

from .conftest import NOW

URL = "/api/v1/cdp/segments"
VIEWED = {"type": "event", "name": "Product Viewed", "within_days": 7}


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def people(system, make_profile, did, frozen, admin_membership):
    out = {}
    for i, (gender, province) in enumerate([("female", "广东"), ("male", "上海"), ("female", "上海"), ("female", "北京")]):
        p = make_profile(f"p{i}", gender=gender, province=province, lifecycle_stage="order" if i % 2 else "nurturing",
                         source="web_form")
        out[f"p{i}"] = p
    for name in ("p0", "p1", "p2"):
        did(out[name], "Product Viewed", [1])
    consent.record_consent(actor=system, profile=out["p0"], purpose="marketing", granted=True, source="web_form")
    out["p1"].owner_id = admin_membership.user_id
    out["p1"].save()
    return out


def test_crud_preview_members_and_snapshots(api, people):
    r = post(api, f"{URL}/preview", {"rules": VIEWED, "sample": 2})
    assert r.status_code == 200, r.content
    assert r.json()["count"] == 3 and [s["name"] for s in r.json()["sample"]] == ["p2", "p1"]
    r = post(api, URL, {"name": "Recent viewers", "rules": VIEWED})
    assert r.status_code == 201, r.content
    seg = r.json()
    assert seg["member_count"] == 3 and seg["rules"] == {**VIEWED, "did": True, "min_count": 1, "properties": []}
    assert AuditLogEntry.objects.filter(action="create", object_type="cdp.segment", object_id=str(seg["id"])).count() == 1
    # members, two per page, newest first, the cursor continues exactly
    r = api.get(f"{URL}/{seg['id']}/members?limit=2")
    assert [m["name"] for m in r.json()["items"]] == ["p2", "p1"]
    r = api.get(f"{URL}/{seg['id']}/members?limit=2&cursor={r.json()['next_cursor']}")
    assert [m["name"] for m in r.json()["items"]] == ["p0"] and r.json()["next_cursor"] is None
    # new rules recompute the members
    r = patch(api, f"{URL}/{seg['id']}", {"rules": {"op": "and", "rules": [
        VIEWED, {"type": "attribute", "field": "gender", "op": "eq", "value": "female"}]}, "description": "女性"})
    assert r.status_code == 200 and r.json()["member_count"] == 2 and r.json()["description"] == "女性"
    assert sorted(SegmentMembership.objects.values_list("profile_id", flat=True)) == sorted(
        [people["p0"].pk, people["p2"].pk])
    # snapshots: all members, or only those who may be contacted for marketing
    r = post(api, f"{URL}/{seg['id']}/snapshots", {"label": "双十一"})
    assert r.status_code == 201 and r.json()["member_count"] == 2 and r.json()["label"] == "双十一"
    r = post(api, f"{URL}/{seg['id']}/snapshots", {"consent_purpose": "marketing", "channel": "wecom"})
    assert r.status_code == 201 and r.json()["member_count"] == 1
    snap = r.json()["id"]
    assert list(SegmentSnapshotMember.objects.filter(snapshot_id=snap).values_list("profile_id", flat=True)) == [
        people["p0"].pk]
    r = api.get(f"{URL}/{seg['id']}/snapshots")
    assert [s["member_count"] for s in r.json()["items"]] == [1, 2]
    assert [m["name"] for m in api.get(f"{URL}/{seg['id']}/snapshots/{snap}/members").json()["items"]] == ["p0"]
    # the snapshot is frozen: the segment changing does not change it
    patch(api, f"{URL}/{seg['id']}", {"rules": {"op": "and", "rules": []}})
    assert SegmentSnapshotMember.objects.filter(snapshot_id=snap).count() == 1
    r = api.get(f"{URL}?limit=10")
    assert [s["name"] for s in r.json()["items"]] == ["Recent viewers"] and r.json()["items"][0]["member_count"] == 4
    r = post(api, f"{URL}/{seg['id']}/recompute", {})
    assert r.json() == {"entered": 0, "exited": 0, "member_count": 4}
    assert api.delete(f"{URL}/{seg['id']}").status_code == 204
    assert not Segment.objects.exists() and not SegmentMembership.objects.exists()


@pytest.mark.parametrize(("rules", "errors"), [
    ({"op": "xor", "rules": []}, {"rules.op": ['a group needs "op": "and", "or" or "not" (a condition needs "type")']}),
    ({"op": "and", "rules": [VIEWED, {"type": "event", "name": "x", "within_days": 0}]},
     {"rules.rules[1].within_days": ["a whole number from 1 to 3650"]}),
    ({"op": "not", "rule": {"type": "planet"}}, {"rules.rule.type": ["one of attribute, tag, identity, consent, lifecycle, event"]}),
    ({"type": "attribute", "field": "nope", "op": "eq", "value": "x"}, {"rules.field": ["unknown field"]}),
    ({"type": "attribute", "field": "gender", "op": "gt", "value": "x"},
     {"rules.op": ["operator gt is not supported for this field"]}),
    ({"type": "tag", "tag_ids": [999999]}, {"rules.tag_ids": ["no such tags: 999999"]}),
    ({"type": "consent", "purpose": "marketing", "channel": "fax"},
     {"rules.channel": ["marketing covers wecom, official_account, sms, email"]}),
    ({"type": "lifecycle", "stages": ["moon"]}, {"rules.stages": ["no such stages: moon"]}),
    ({"type": "event", "name": "Order Completed", "properties": [{"key": "sku", "op": "eq", "value": "A"}]},
     {"rules.within_days": ["property filters need a window of at most 90 days"]}),
    ({"type": "event", "name": "Order Completed", "within_days": 7,
      "properties": [{"key": "bad key", "op": "eq", "value": "A"}, {"key": "revenue", "op": "gt", "value": "lots"}]},
     {"rules.properties[0].key": ["a property name of letters, digits and _ (at most 64)"],
      "rules.properties[1].value": ["a number"]}),
    ({"type": "event", "name": "", "did": "yes", "extra": 1},
     {"rules.extra": ["unknown key"], "rules.name": ["text of 1 to 200 characters"],
      "rules.did": ["true (did) or false (did not)"]}),
])
def test_rule_errors_name_the_path_of_the_bad_node(api, system, rules, errors):
    for url, body in [(f"{URL}/preview", {"rules": rules}), (URL, {"name": "x", "rules": rules})]:
        r = post(api, url, body)
        assert r.status_code == 422, r.content
        assert r.json()["fields"] == errors
    assert not Segment.objects.exists()


def test_depth_size_and_shape_limits_are_422(api, system):
    deep = VIEWED
    for _ in range(8):
        deep = {"op": "not", "rule": deep}
    r = post(api, f"{URL}/preview", {"rules": deep})
    assert r.status_code == 422 and r.json()["fields"] == {"rules.rule.rule.rule.rule.rule.rule": ["groups nest at most 6 deep"]}
    wide = {"op": "or", "rules": [VIEWED] * 70}
    r = post(api, f"{URL}/preview", {"rules": wide})
    assert r.status_code == 422 and r.json()["fields"] == {"rules": ["at most 60 conditions and groups"]}
    huge = {"op": "or", "rules": [{"type": "attribute", "field": "name", "op": "eq", "value": "y" * 500}] * 58}
    assert post(api, f"{URL}/preview", {"rules": huge}).json()["fields"] == {"rules": ["at most 32000 bytes of JSON"]}
    for bad in ({"rules": []}, {"rules": "x"}, {"rules": {"op": "and", "rules": [1, None, "a"]}}):
        assert post(api, f"{URL}/preview", bad).status_code == 422


def test_scope_permissions_and_other_organisations(api, api_client, people, member_with, make_org, send, cdp_state,
                                                   admin_membership):
    seg = post(api, URL, {"name": "Viewers", "rules": VIEWED}).json()
    # a member with "own" scope sees only their own customers among the members, and in the live count
    _, actor = member_with("rep@acme.example", permissions=("cdp.segment.read", "cdp.profile.read"),
                           scope=DataScope.OWN)
    from siyu.cdp.segments import selectors, services

    assert services.preview_segment(actor=actor, rules=VIEWED).count == 0
    assert selectors.visible_member_count(actor, Segment.objects.get(pk=seg["id"])) == 0
    admin = admin_membership
    owner_scope = services.preview_segment(actor=dataclasses.replace(actor, user_id=admin.user_id), rules=VIEWED)
    assert owner_scope.count == 1  # p1 is the administrator's customer: the same "own" scope, as its owner
    # a key without manage permission: 403 and nothing changes
    reader = api_client(admin.org, scopes=["cdp.segment.read"])
    before = cdp_state()
    assert post(reader, URL, {"name": "Nope"}).status_code == 403
    assert patch(reader, f"{URL}/{seg['id']}", {"name": "Nope"}).status_code == 403
    assert reader.delete(f"{URL}/{seg['id']}").status_code == 403
    assert post(reader, f"{URL}/{seg['id']}/snapshots", {}).status_code == 403
    assert post(reader, f"{URL}/personas", {"name": "Nope"}).status_code == 403
    assert reader.get(f"{URL}/{seg['id']}/members").status_code == 403  # profiles need cdp.profile.read too
    assert post(reader, f"{URL}/preview", {"rules": VIEWED, "sample": 1}).status_code == 403
    assert post(reader, f"{URL}/preview", {"rules": VIEWED}).json()["count"] == 3
    assert cdp_state() == before
    # another organisation: 404 for every address, nothing changes
    other = api_client(make_org("Other").org)
    before = cdp_state()
    for method, url, body in [("get", f"{URL}/{seg['id']}", None), ("patch", f"{URL}/{seg['id']}", {"name": "x"}),
                              ("delete", f"{URL}/{seg['id']}", None), ("get", f"{URL}/{seg['id']}/members", None),
                              ("post", f"{URL}/{seg['id']}/snapshots", {}), ("post", f"{URL}/{seg['id']}/recompute", {})]:
        r = send(other, method, url, body)
        assert r.status_code == 404, (method, url, r.status_code)
    assert post(other, f"{URL}/preview", {"rules": VIEWED}).json()["count"] == 0
    assert other.get(URL).json()["items"] == []
    assert cdp_state() == before


def test_duplicate_names_are_409(api, system):
    assert post(api, URL, {"name": "A"}).status_code == 201
    r = post(api, URL, {"name": "A"})
    assert r.status_code == 409 and r.json()["fields"] == {"name": ["another one has this name"]}
    assert Segment.objects.count() == 1


def test_personas_crud_and_traits(api, people, system):
    seg = post(api, URL, {"name": "Viewers", "rules": VIEWED}).json()
    r = post(api, f"{URL}/personas", {"name": "精致妈妈", "demographics": "30-40 岁，一二线城市", "segment_id": seg["id"]})
    assert r.status_code == 201, r.content
    persona = r.json()
    assert persona["segment_id"] == seg["id"] and persona["demographics"] == "30-40 岁，一二线城市"
    r = api.get(f"{URL}/personas/{persona['id']}/traits")
    traits = r.json()
    assert traits["size"] == 3
    assert traits["traits"]["gender"] == [{"name": "female", "count": 2, "total": None}, {"name": "male", "count": 1, "total": None}]
    assert traits["traits"]["province"][0] == {"name": "上海", "count": 2, "total": None}
    assert traits["traits"]["events"] == [{"name": "Product Viewed", "count": 3, "total": 3}]
    assert traits["traits"]["tags"] == []
    r = patch(api, f"{URL}/personas/{persona['id']}", {"segment_id": None, "pain_points": "没时间"})
    assert r.json()["segment_id"] is None and r.json()["pain_points"] == "没时间"
    assert api.get(f"{URL}/personas/{persona['id']}/traits").json()["size"] == 0
    r = patch(api, f"{URL}/personas/{persona['id']}", {"segment_id": 987654})
    assert r.status_code == 422 and r.json()["fields"] == {"segment_id": ["no such segment"]}
    assert [p["name"] for p in api.get(f"{URL}/personas").json()["items"]] == ["精致妈妈"]
    assert api.delete(f"{URL}/personas/{persona['id']}").status_code == 204
    assert not Persona.objects.exists()
    assert NOW  # the frozen clock of the fixtures
