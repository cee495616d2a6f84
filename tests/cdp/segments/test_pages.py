"""Console pages: the segment list, the rule builder (htmx actions, the live count with per-node errors, save),
a segment's page with members and snapshots, personas with their trait charts' JSON; refusals and other
organisations' records answer the console's 403 / 404."""

from __future__ import annotations

import pytest

from siyu.cdp.models import Persona, Segment, SegmentSnapshot
from siyu.cdp.segments import builder, services

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def admin(login_client, admin_membership):
    c = login_client(admin_membership)
    c.cookies["django_language"] = "en"
    return c


@pytest.fixture
def viewers(people_world, admin_actor):
    return services.create_segment(actor=admin_actor, name="Viewers",
                                   rules={"type": "event", "name": "Product Viewed", "within_days": 7})


@pytest.fixture
def people_world(system, make_profile, did, frozen):
    out = [make_profile(f"顾客{i}", gender=g, province=p, lifecycle_stage="order")
           for i, (g, p) in enumerate([("female", "广东"), ("male", "上海"), ("female", "上海")])]
    for p in out[:2]:
        did(p, "Product Viewed", [0])
    return out


def form(**extra):
    """A builder form: an AND root with one event condition (n-0) and one negated gender condition (n-1)."""
    data = {"name": "Recent", "description": "", "n:kind": "group", "n:op": "and",
            "n-0:kind": "cond", "n-0:type": "event", "n-0:name": "Product Viewed", "n-0:did": "1",
            "n-0:min_count": "1", "n-0:within_days": "7",
            "n-1:kind": "cond", "n-1:type": "attribute", "n-1:not": "1", "n-1:field": "gender", "n-1:op": "eq",
            "n-1:value": "male"}
    data.update(extra)
    return data


def test_form_round_trip_and_error_paths():
    rules, paths = builder.from_form(form())
    assert rules == {"op": "and", "rules": [
        {"type": "event", "name": "Product Viewed", "did": True, "min_count": 1, "within_days": 7, "properties": []},
        {"op": "not", "rule": {"type": "attribute", "field": "gender", "op": "eq", "value": "male"}}]}
    assert builder.to_wire_view(builder.to_view(rules)) == rules
    assert builder.errors_by_node({"rules.rules[1].rule.value": ["bad"], "rules.rules[0].properties[0].key": ["k"]},
                                  paths) == {"n-1": ["value: bad"], "n-0": ["properties[0].key: k"]}
    added = builder.apply_action(rules, "add-group:n")
    assert added["rules"][2] == {"op": "and", "rules": [builder.EMPTY_CONDITION]}
    assert builder.apply_action(added, "remove:n-0")["rules"][0] == rules["rules"][1]


def test_builder_live_count_and_save(admin, people_world):
    assert admin.get("/customers/segments/").status_code == 200
    r = admin.get("/customers/segments/new/")
    assert r.status_code == 200 and b'name="n-0:type"' in r.content
    r = admin.post("/customers/segments/preview/", form(), **HTMX)
    assert r.status_code == 200 and b'data-testid="segment-count-value">1<' in r.content  # viewed, not male
    r = admin.post("/customers/segments/preview/", form(**{"n-0:within_days": "0"}), **HTMX)
    assert b"within_days: a whole number from 1 to 3650" in r.content
    r = admin.post("/customers/segments/builder/", form(action="add-cond:n"), **HTMX)
    assert r.status_code == 200 and b'name="n-2:type"' in r.content and r["HX-Trigger-After-Settle"] == "rules-changed"
    r = admin.post("/customers/segments/builder/", form(**{"n-1:type": "event"}), **HTMX)
    assert b'name="n-1:within_days"' in r.content  # a changed type shows its own inputs
    r = admin.post("/customers/segments/new/", form(**{"n-0:within_days": "x"}))
    assert r.status_code == 422 and b'data-testid="rule-error"' in r.content and not Segment.objects.exists()
    r = admin.post("/customers/segments/new/", form())
    segment = Segment.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/customers/segments/{segment.pk}/"
    assert segment.member_count == 1
    r = admin.get(f"/customers/segments/{segment.pk}/")
    assert r.status_code == 200 and "顾客0".encode() in r.content
    assert admin.get(f"/customers/segments/{segment.pk}/edit/").status_code == 200
    r = admin.post(f"/customers/segments/{segment.pk}/edit/", form(**{"n-1:not": "", "name": "Recent men"}))
    assert r.status_code == 302 and Segment.objects.get().name == "Recent men"
    assert Segment.objects.get().member_count == 1
    r = admin.post(f"/customers/segments/{segment.pk}/snapshots/", {"label": "618"})
    assert r.status_code == 302 and SegmentSnapshot.objects.get().member_count == 1
    assert admin.post(f"/customers/segments/{segment.pk}/recompute/").status_code == 302
    assert admin.post(f"/customers/segments/{segment.pk}/delete/").status_code == 302
    assert not Segment.objects.exists()


def test_personas_pages_and_trait_json(admin, viewers):
    r = admin.post("/customers/segments/personas/new/", {"name": "都市白领", "segment_id": str(viewers.pk),
                                                          "demographics": "25-35 岁"})
    persona = Persona.objects.get()
    assert r.status_code == 302 and persona.segment_id == viewers.pk
    r = admin.get(f"/customers/segments/personas/{persona.pk}/")
    assert r.status_code == 200 and b'data-testid="persona-size">2<' in r.content
    assert b'data-testid="persona-chart-events"' in r.content
    r = admin.get(f"/customers/segments/personas/{persona.pk}/traits/gender.json")
    assert r.json() == {"title": "Gender", "items": [{"name": "Female", "count": 1}, {"name": "Male", "count": 1}]}
    r = admin.get(f"/customers/segments/personas/{persona.pk}/traits/events.json")
    assert r.json()["items"] == [{"name": "Product Viewed", "count": 2, "total": 2}]
    assert admin.get(f"/customers/segments/personas/{persona.pk}/traits/secret.json").status_code == 404
    assert admin.get("/customers/segments/personas/").status_code == 200
    assert admin.get(f"/customers/segments/personas/{persona.pk}/edit/").status_code == 200
    assert admin.post(f"/customers/segments/personas/{persona.pk}/delete/").status_code == 302
    assert not Persona.objects.exists()


def test_refusals_and_other_organisations(login_client, make_org, make_member, org, viewers):
    reader = make_member(org, "reader@acme.example", permissions=["cdp.segment.read", "cdp.profile.read"])
    c = login_client(reader)
    assert c.get("/customers/segments/").status_code == 200
    assert c.get("/customers/segments/new/").status_code == 403
    assert c.post(f"/customers/segments/{viewers.pk}/delete/").status_code == 403
    assert c.post(f"/customers/segments/{viewers.pk}/snapshots/").status_code == 403
    assert Segment.objects.filter(pk=viewers.pk).exists() and not SegmentSnapshot.objects.exists()
    other = login_client(make_org("Other"))
    assert other.get(f"/customers/segments/{viewers.pk}/").status_code == 404
    assert other.post(f"/customers/segments/{viewers.pk}/delete/").status_code == 404
    assert Segment.objects.filter(pk=viewers.pk).exists()
