"""Filtering and sorting on custom (JSON) and standard fields, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from siyu.kernel.errors import ValidationFailed
from siyu.kernel.pagination import paginate
from siyu.platform import selectors, services
from siyu.platform.filtering import Filter, apply_filters, parse_json_filters, parse_query_filters

ROWS = [
    {"name": "Alpha", "seats": 5, "ratio": "1.5", "budget": "100.00", "starts": "2025-01-10",
     "kickoff": "2025-01-10T09:00:00+08:00", "active": True, "stage": "new", "tags": ["vip"],
     "phone": "138 1234 5678", "email": "A@Example.com", "site": "https://alpha.example"},
    {"name": "Beta", "seats": 12, "ratio": "0.25", "budget": {"amount": "20.5", "currency": "USD"},
     "starts": "2025-03-01", "kickoff": "2025-03-01T00:00:00Z", "active": False, "stage": "won",
     "tags": ["vip", "b2b"], "phone": "+86 139 0000 1111"},
    {"name": "gamma beta", "seats": -3, "notes": "long story"},
]


@pytest.fixture
def records(admin_actor, project):
    return [services.create_record(actor=admin_actor, object_key=project, data=row) for row in ROWS]


def names(actor, filters, sort=None):
    meta = selectors.object_meta(actor, "custom.project")
    qs, order = apply_filters(selectors.records_visible_to(actor, meta), actor=actor, meta=meta,
                              filters=[Filter(*f) for f in filters], sort=sort)
    return [r.data["name"] for r in paginate(qs, order=order, limit=200).items]


FILTER_CASES = [
    ([("name", "eq", "Alpha")], ["Alpha"]),
    ([("name", "ne", "Alpha")], ["Beta", "gamma beta"]),
    ([("name", "contains", "BETA")], ["Beta", "gamma beta"]),
    ([("name", "in", "Alpha,Beta")], ["Alpha", "Beta"]),
    ([("notes", "is_empty", "true")], ["Alpha", "Beta"]),
    ([("notes", "is_empty", "false")], ["gamma beta"]),
    ([("seats", "eq", "12")], ["Beta"]),
    ([("seats", "gt", "4")], ["Alpha", "Beta"]),
    ([("seats", "lt", 0)], ["gamma beta"]),
    ([("seats", "gte", "5"), ("seats", "lte", "5")], ["Alpha"]),
    ([("seats", "in", [5, -3])], ["Alpha", "gamma beta"]),
    ([("ratio", "eq", "1.50")], ["Alpha"]),
    ([("ratio", "gt", "0.3")], ["Alpha"]),
    ([("budget", "gt", "50")], ["Alpha"]),
    ([("budget", "eq", "20.50")], ["Beta"]),
    ([("budget", "is_empty", True)], ["gamma beta"]),
    ([("starts", "lt", "2025-02-01")], ["Alpha"]),
    ([("kickoff", "eq", "2025-01-10T01:00:00Z")], ["Alpha"]),
    ([("kickoff", "gt", "2025-02-01T00:00:00+08:00")], ["Beta"]),
    ([("active", "eq", "true")], ["Alpha"]),
    ([("active", "eq", False)], ["Beta"]),
    ([("active", "ne", True)], ["Beta", "gamma beta"]),
    ([("stage", "eq", "won")], ["Beta"]),
    ([("stage", "in", "new,won")], ["Alpha", "Beta"]),
    ([("tags", "contains", "b2b")], ["Beta"]),
    ([("tags", "contains", "vip")], ["Alpha", "Beta"]),
    ([("tags", "is_empty", "true")], ["gamma beta"]),
    ([("phone", "eq", "13812345678")], ["Alpha"]),
    ([("phone", "eq", "+8613900001111")], ["Beta"]),
    ([("phone", "in", "13812345678,13900001111")], ["Alpha", "Beta"]),
    ([("email", "eq", " a@example.COM ")], ["Alpha"]),
    ([("email", "is_empty", "true")], ["Beta", "gamma beta"]),
    ([("site", "contains", "alpha")], ["Alpha"]),
    ([("id", "gt", "0"), ("name", "ne", "Beta")], ["Alpha", "gamma beta"]),
]

SORT_CASES = [
    ("seats", ["gamma beta", "Alpha", "Beta"]),
    ("-seats", ["Beta", "Alpha", "gamma beta"]),
    ("ratio", ["Beta", "Alpha", "gamma beta"]),  # empty values last in both directions
    ("-ratio", ["Alpha", "Beta", "gamma beta"]),
    ("budget", ["Beta", "Alpha", "gamma beta"]),
    ("-starts", ["Beta", "Alpha", "gamma beta"]),
    ("kickoff", ["Alpha", "Beta", "gamma beta"]),
    ("name", ["Alpha", "Beta", "gamma beta"]),
    ("-id", ["gamma beta", "Beta", "Alpha"]),
    ("-created_at", ["gamma beta", "Beta", "Alpha"]),
    ("stage,-seats", ["Alpha", "Beta", "gamma beta"]),
]


def test_filters_and_sorting(admin_actor, records):
    # one fixture for all cases: building the object and its records is the slow part
    for filters, expected in FILTER_CASES:
        assert names(admin_actor, filters) == expected, filters
    for sort, expected in SORT_CASES:
        assert names(admin_actor, [], sort=sort) == expected, sort


def test_keyset_pages_through_a_custom_sort_with_empties(admin_actor, project):
    for i in range(7):
        data = {"name": f"r{i}"} | ({"seats": i % 3} if i % 2 == 0 else {})
        services.create_record(actor=admin_actor, object_key=project, data=data)
    meta = selectors.object_meta(admin_actor, project)
    qs, order = apply_filters(selectors.records_visible_to(admin_actor, meta), actor=admin_actor, meta=meta,
                              filters=[], sort="-seats")
    seen, cursor = [], None
    while True:
        page = paginate(qs, order=order, cursor=cursor, limit=2)
        seen += [r.data["name"] for r in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    # seats: r0=0 r2=2 r4=1 r6=0; r1 r3 r5 empty (last, by id)
    assert seen == ["r2", "r4", "r0", "r6", "r1", "r3", "r5"]


BAD_CASES = [
    ([("nope", "eq", "1")], None, "filter[nope][eq]", "unknown field"),
    ([("seats", "contains", "1")], None, "filter[seats][contains]", "operator contains is not supported for this field"),
    ([("seats", "gt", "many")], None, "filter[seats][gt]", "must be a whole number"),
    ([("stage", "eq", "lost")], None, "filter[stage][eq]", "must be one of the field's choices"),
    ([("phone", "eq", "12")], None, "filter[phone][eq]", "must be a valid phone number"),
    ([("kickoff", "gt", "2025-01-01T00:00:00")], None, "filter[kickoff][gt]",
     "must be an ISO 8601 date and time with a UTC offset, e.g. 2025-03-01T09:30:00+08:00"),
    ([], "phone", "sort", "cannot sort by phone"),
    ([], "tags", "sort", "cannot sort by tags"),
    ([], "zzz", "sort", "cannot sort by zzz"),
]


def test_bad_filters_are_422_naming_the_filter(admin_actor, records):
    for filters, sort, field, message in BAD_CASES:
        with pytest.raises(ValidationFailed) as exc:
            names(admin_actor, filters, sort=sort)
        assert exc.value.fields == {field: [message]}, (filters, sort)


def test_query_and_json_filter_parsing():
    assert parse_query_filters({"filter[seats][gt]": "3", "sort": "x", "limit": "2"}) == [Filter("seats", "gt", "3")]
    with pytest.raises(ValidationFailed) as exc:
        parse_query_filters({"filter[Seats]": "3"})
    assert exc.value.fields == {"filter[Seats]": ["use filter[field][operator]=value"]}
    assert parse_json_filters('[{"field": "a", "op": "eq", "value": 1}]') == [Filter("a", "eq", 1)]
    for bad in ("{", '{"a": 1}', '[{"field": 1, "op": "eq"}]'):
        with pytest.raises(ValidationFailed):
            parse_json_filters(bad)


def test_hidden_fields_cannot_be_filtered_or_sorted(org, make_member, admin_actor, records):
    from siyu.iam.models import FieldSecurity, Role
    from siyu.iam.selectors import actor_for_membership
    from siyu.kernel.actor import DataScope

    member = make_member(org, "rep@acme.example", scope=DataScope.ORGANIZATION)
    role = Role.objects.in_org(admin_actor).get(name="role-rep@acme.example")
    FieldSecurity.objects.create(role=role, object_key="custom.project", field_name="seats", access="hidden")
    actor = actor_for_membership(member)
    assert names(actor, [("name", "eq", "Alpha")]) == ["Alpha"]
    with pytest.raises(ValidationFailed) as exc:
        names(actor, [("seats", "gt", "1")])
    assert exc.value.fields == {"filter[seats][gt]": ["unknown field"]}
    with pytest.raises(ValidationFailed):
        names(actor, [], sort="seats")
