"""The platform API: objects, field definitions and records, with permissions, scope, field security and audit."""

from __future__ import annotations

import json

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.iam.models import FieldSecurity, Role
from siyu.kernel.actor import DataScope
from siyu.platform.models import CustomRecord, FieldDefinition, ObjectDefinition

BASE = "/api/v1/platform"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def admin(org, api_client):
    return api_client(org)


@pytest.fixture
def deal(admin):
    """custom.deal with a required text, an integer and a phone field, made through the API."""
    assert post(admin, f"{BASE}/objects", {"key": "deal", "label": "Deal"}).status_code == 201
    for body in ({"key": "title", "label": "Title", "type": "text", "required": True},
                 {"key": "size", "label": "Size", "type": "integer", "options": {"max": 1000}},
                 {"key": "mobile", "label": "Mobile", "type": "phone"}):
        r = post(admin, f"{BASE}/objects/custom.deal/fields", body)
        assert r.status_code == 201, r.content
    return "custom.deal"


def test_objects_and_fields(admin, deal):
    r = admin.get(f"{BASE}/objects")
    assert r.status_code == 200
    objects = [(o["key"], o["is_standard"]) for o in r.json()]
    assert ("iam.user", True) in objects and objects[-1] == ("custom.deal", False)
    assert [o for o in objects if not o[1]] == [("custom.deal", False)]
    r = admin.get(f"{BASE}/objects/{deal}/fields")
    assert [(f["key"], f["type"], f["required"]) for f in r.json()] == [
        ("title", "text", True), ("size", "integer", False), ("mobile", "phone", False)]
    # custom fields on the standard object iam.user
    r = post(admin, f"{BASE}/objects/iam.user/fields", {"key": "shoe_size", "label": "Shoe size", "type": "integer"})
    assert r.status_code == 201
    assert r.json() == {"key": "shoe_size", "label": "Shoe size", "type": "integer", "options": {}, "required": False,
                        "indexed": False, "order": 0, "is_standard": False, "archived": False}
    assert AuditLogEntry.objects.filter(action="create", object_type="platform.field").count() == 4


BAD_DEFINITIONS = [
    ({"key": "Bad Key", "label": "x", "type": "text"}, 422, {"key": ["lower-case letters, digits and _, starting "
                                                                     "with a letter (at most 40)"]}),
    ({"key": "title", "label": "x", "type": "text"}, 409, {"key": [
        "a field with this key exists or existed (keys are never reused)"]}),
    ({"key": "owner_id", "label": "x", "type": "text"}, 409, {"key": ["a standard field has this key"]}),
    ({"key": "x", "label": "x", "type": "blob"}, 422, None),
    ({"key": "x", "label": "x", "type": "text", "options": {"max_length": 0}}, 422, {"options": [
        "max_length must be a whole number from 1 to 1000"]}),
    ({"key": "x", "label": "x", "type": "text", "options": {"colour": "red"}}, 422, {"options": ["unknown options: colour"]}),
    ({"key": "x", "label": "x", "type": "single_select", "options": {}}, 422, {"options": [
        "choices: give at least one choice"]}),
    ({"key": "x", "label": "x", "type": "lookup", "options": {"object": "custom.nope"}}, 422, {"options": [
        "object: choose an existing object"]}),
    ({"key": "x", "label": "x", "type": "long_text", "indexed": True}, 422, {"indexed": [
        "long_text fields cannot be indexed"]}),
    ({"key": "x", "label": "   ", "type": "text"}, 422, {"label": ["1 to 120 characters"]}),
]


def test_bad_field_definitions(admin, deal):
    before = FieldDefinition.objects.count()
    for body, status, fields in BAD_DEFINITIONS:
        r = post(admin, f"{BASE}/objects/{deal}/fields", body)
        assert r.status_code == status, (body, r.content)
        if fields is not None:
            assert r.json()["fields"] == fields, body
    assert FieldDefinition.objects.count() == before


def test_field_update_rules(admin, deal):
    url = f"{BASE}/objects/{deal}/fields"
    r = patch(admin, f"{url}/title", {"key": "renamed"})
    assert r.status_code == 422  # the key is immutable
    r = patch(admin, f"{url}/title", {"type": "integer"})
    assert r.status_code == 422
    assert r.json()["fields"] == {"type": ["cannot change text to integer: stored values would not be valid"]}
    r = patch(admin, f"{url}/title", {"type": "long_text", "label": "Long title"})
    assert r.status_code == 200
    assert (r.json()["type"], r.json()["label"]) == ("long_text", "Long title")
    r = admin.delete(f"{url}/size")
    assert r.status_code == 200 and r.json()["archived"] is True
    assert [f["key"] for f in admin.get(url).json()] == ["title", "mobile"]
    assert [f["key"] for f in admin.get(f"{url}?include_archived=true").json()] == ["title", "size", "mobile"]
    assert post(admin, url, {"key": "size", "label": "Again", "type": "text"}).status_code == 409  # never reused
    assert patch(admin, f"{url}/size", {"label": "x"}).status_code == 404


def test_record_crud_with_validation_masking_and_audit(admin, deal):
    url = f"{BASE}/objects/{deal}/records"
    r = post(admin, url, {"data": {"size": "lots", "mobile": "12", "nope": 1}})
    assert r.status_code == 422
    assert r.json()["fields"] == {"size": ["must be a whole number"], "mobile": ["must be a valid phone number"],
                                  "nope": ["unknown field"], "title": ["required"]}
    assert CustomRecord.objects.count() == 0
    r = post(admin, url, {"data": {"title": "First", "size": 10, "mobile": "138-1234-5678"}})
    assert r.status_code == 201, r.content
    rec = r.json()
    assert rec["object"] == deal and rec["data"] == {"title": "First", "size": 10, "mobile": "138****5678"}
    stored = CustomRecord.objects.get(pk=rec["id"]).data
    assert stored["mobile"]["ct"].startswith("v1:") and "13812345678" not in json.dumps(stored)
    entry = AuditLogEntry.objects.get(action="create", object_type=deal)
    assert entry.changes == {"mobile": [None, "138****5678"], "size": [None, 10], "title": [None, "First"]}

    r = patch(admin, f"{url}/{rec['id']}", {"data": {"size": 1001}})
    assert r.status_code == 422 and r.json()["fields"] == {"size": ["must be at most 1000"]}
    r = patch(admin, f"{url}/{rec['id']}", {"data": {"size": None, "title": "Renamed"}})
    assert r.status_code == 200 and r.json()["data"] == {"title": "Renamed", "mobile": "138****5678"}
    r = patch(admin, f"{url}/{rec['id']}", {"data": {"title": ""}})
    assert r.status_code == 422 and r.json()["fields"] == {"title": ["required"]}

    r = admin.get(f"{url}?filter[mobile][eq]=13812345678")
    assert [i["id"] for i in r.json()["items"]] == [rec["id"]]
    r = admin.get(f"{url}?filters=" + json.dumps([{"field": "title", "op": "eq", "value": "Renamed"}]))
    assert [i["id"] for i in r.json()["items"]] == [rec["id"]]
    r = admin.get(f"{url}?filter[size][contains]=1")
    assert r.status_code == 422
    assert r.json()["fields"] == {"filter[size][contains]": ["operator contains is not supported for this field"]}

    r = admin.get(f"{url}/{rec['id']}?unmask=true")
    assert r.status_code == 200 and r.json()["data"]["mobile"] == "+8613812345678"
    assert AuditLogEntry.objects.filter(action="unmask", object_type=deal, object_id=str(rec["id"])).count() == 1

    r = admin.delete(f"{url}/{rec['id']}")
    assert r.status_code == 204
    assert CustomRecord.objects.count() == 0
    assert AuditLogEntry.objects.get(action="delete", object_type=deal).changes == {
        "mobile": ["138****5678", None], "title": ["Renamed", None]}


def test_list_pages_with_keyset_cursor(admin, deal):
    url = f"{BASE}/objects/{deal}/records"
    for i in range(5):
        assert post(admin, url, {"data": {"title": f"t{i}", "size": 10 - i}}).status_code == 201
    seen, cursor = [], ""
    while True:
        r = admin.get(f"{url}?sort=size&limit=2{'&cursor=' + cursor if cursor else ''}")
        assert r.status_code == 200
        seen += [i["data"]["title"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == ["t4", "t3", "t2", "t1", "t0"]
    assert admin.get(f"{url}?cursor=garbage").status_code == 422
    assert admin.get(f"{url}?limit=0").status_code == 422


def test_permissions_are_checked_and_nothing_changes(org, api_client, admin, deal):
    reader = api_client(org, scopes=["platform.record.read", "platform.object.read"])
    rec = post(admin, f"{BASE}/objects/{deal}/records", {"data": {"title": "x"}}).json()
    before = (ObjectDefinition.objects.count(), FieldDefinition.objects.count(), CustomRecord.objects.count())
    attempts = [
        post(reader, f"{BASE}/objects", {"key": "other", "label": "Other"}),
        post(reader, f"{BASE}/objects/{deal}/fields", {"key": "z", "label": "Z", "type": "text"}),
        patch(reader, f"{BASE}/objects/{deal}/fields/title", {"label": "Z"}),
        reader.delete(f"{BASE}/objects/{deal}/fields/title"),
        post(reader, f"{BASE}/objects/{deal}/records", {"data": {"title": "y"}}),
        patch(reader, f"{BASE}/objects/{deal}/records/{rec['id']}", {"data": {"title": "y"}}),
        reader.delete(f"{BASE}/objects/{deal}/records/{rec['id']}"),
        reader.get(f"{BASE}/objects/{deal}/records/{rec['id']}?unmask=true"),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert (ObjectDefinition.objects.count(), FieldDefinition.objects.count(), CustomRecord.objects.count()) == before
    assert CustomRecord.objects.get(pk=rec["id"]).data == {"title": "x"}
    assert reader.get(f"{BASE}/objects/{deal}/records/{rec['id']}").status_code == 200


def test_other_organisation_gets_404_and_changes_nothing(make_org, api_client, admin, deal):
    rec = post(admin, f"{BASE}/objects/{deal}/records", {"data": {"title": "x"}}).json()
    other = api_client(make_org("Other Co").org)
    responses = [
        other.get(f"{BASE}/objects/{deal}/fields"),
        other.get(f"{BASE}/objects/{deal}/records"),
        other.get(f"{BASE}/objects/{deal}/records/{rec['id']}"),
        patch(other, f"{BASE}/objects/{deal}/records/{rec['id']}", {"data": {"title": "stolen"}}),
        other.delete(f"{BASE}/objects/{deal}/records/{rec['id']}"),
        patch(other, f"{BASE}/objects/{deal}/fields/title", {"label": "stolen"}),
        other.delete(f"{BASE}/objects/{deal}/fields/title"),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert CustomRecord.objects.get(pk=rec["id"]).data == {"title": "x"}
    assert FieldDefinition.objects.get(key="title").label == "Title"
    # the same key in another organisation is that organisation's own object
    assert post(other, f"{BASE}/objects", {"key": "deal", "label": "Their deal"}).status_code == 201
    assert other.get(f"{BASE}/objects/{deal}/records").json() == {"items": [], "next_cursor": None}


def test_data_scope_and_field_security_for_members(org, admin_actor, make_member, login_client, admin, deal):
    """A member with "own" scope sees only their own records; another member's record is 404; a read-only field
    cannot be written (422, nothing changed) and a hidden one is neither shown nor writable."""
    perms = ("platform.record.*", "platform.object.read")
    alice = make_member(org, "alice@acme.example", scope=DataScope.OWN, permissions=perms)
    bob = make_member(org, "bob@acme.example", scope=DataScope.OWN, permissions=perms)
    a, b = login_client(alice), login_client(bob)
    url = f"{BASE}/objects/{deal}/records"
    ra = post(a, url, {"data": {"title": "alice's", "size": 1}}).json()
    rb = post(b, url, {"data": {"title": "bob's"}}).json()
    assert ra["owner_id"] == alice.user_id
    assert [i["id"] for i in a.get(url).json()["items"]] == [ra["id"]]
    assert a.get(f"{url}/{rb['id']}").status_code == 404
    assert patch(a, f"{url}/{rb['id']}", {"data": {"title": "mine"}}).status_code == 404
    assert a.delete(f"{url}/{rb['id']}").status_code == 404
    assert CustomRecord.objects.get(pk=rb["id"]).data == {"title": "bob's"}
    # the admin (organisation scope) sees both
    assert len(admin.get(url).json()["items"]) == 2

    role = Role.objects.in_org(admin_actor).get(name="role-alice@acme.example")
    FieldSecurity.objects.create(role=role, object_key=deal, field_name="size", access="read_only")
    FieldSecurity.objects.create(role=role, object_key=deal, field_name="mobile", access="hidden")
    r = patch(a, f"{url}/{ra['id']}", {"data": {"size": 2, "title": "changed"}})
    assert r.status_code == 422 and r.json()["fields"] == {"size": ["read-only for you"]}
    r = patch(a, f"{url}/{ra['id']}", {"data": {"mobile": "13812345678"}})
    assert r.status_code == 422 and r.json()["fields"] == {"mobile": ["read-only for you"]}
    assert CustomRecord.objects.get(pk=ra["id"]).data == {"title": "alice's", "size": 1}
    patch(admin, f"{url}/{ra['id']}", {"data": {"mobile": "13812345678"}})
    assert a.get(f"{url}/{ra['id']}").json()["data"] == {"title": "alice's", "size": 1}
    assert [f["key"] for f in a.get(f"{BASE}/objects/{deal}/fields").json()] == ["title", "size"]


def test_department_scope_uses_the_record_department(org, admin_actor, make_member, login_client, deal):
    from siyu.iam import services as iam

    sales = iam.add_department(actor=admin_actor, name="Sales", parent=None)
    ops = iam.add_department(actor=admin_actor, name="Ops", parent=None)
    manager = make_member(org, "m@acme.example", scope=DataScope.DEPARTMENT, department=sales)
    seller = make_member(org, "s@acme.example", scope=DataScope.OWN, department=sales)
    outsider = make_member(org, "o@acme.example", scope=DataScope.OWN, department=ops)
    url = f"{BASE}/objects/{deal}/records"
    r1 = post(login_client(seller), url, {"data": {"title": "sales deal"}}).json()
    post(login_client(outsider), url, {"data": {"title": "ops deal"}})
    assert r1["department_id"] == sales.pk
    assert [i["data"]["title"] for i in login_client(manager).get(url).json()["items"]] == ["sales deal"]


def test_scope_per_custom_object(org, admin_actor, make_member, login_client, admin, deal):
    """Roles scope each custom object by its own key: organisation-wide on custom.deal, nothing on another."""
    from siyu.iam.models import RoleScope

    post(admin, f"{BASE}/objects", {"key": "ticket", "label": "Ticket"})
    post(admin, f"{BASE}/objects/{deal}/records", {"data": {"title": "admin's"}})
    post(admin, f"{BASE}/objects/custom.ticket/records", {"data": {}})
    member = make_member(org, "c@acme.example", scope=DataScope.OWN)
    role = Role.objects.in_org(admin_actor).get(name="role-c@acme.example")
    RoleScope.objects.create(role=role, object_key=deal, scope=DataScope.ORGANIZATION)
    c = login_client(member)
    assert len(c.get(f"{BASE}/objects/{deal}/records").json()["items"]) == 1
    assert c.get(f"{BASE}/objects/custom.ticket/records").json()["items"] == []


@pytest.mark.parametrize("url", [
    f"{BASE}/objects/nothing.here/fields", f"{BASE}/objects/custom.nope/records", f"{BASE}/objects/iam.user/records",
    f"{BASE}/objects/custom.deal/records/999999",
])
def test_unknown_objects_and_records_are_404(admin, deal, url):
    assert admin.get(url).status_code == 404


@pytest.mark.parametrize("url", [f"{BASE}/objects/BAD/fields", f"{BASE}/objects/{'a' * 90}.b/records"])
def test_bad_keys_are_422(admin, url):
    assert admin.get(url).status_code == 422


def test_lookup_and_user_fields(org, admin, admin_membership, deal):
    url = f"{BASE}/objects/{deal}/fields"
    assert post(admin, url, {"key": "parent", "label": "Parent", "type": "lookup",
                             "options": {"object": deal}}).status_code == 201
    assert post(admin, url, {"key": "rep", "label": "Rep", "type": "user"}).status_code == 201
    first = post(admin, f"{BASE}/objects/{deal}/records", {"data": {"title": "a"}}).json()
    r = post(admin, f"{BASE}/objects/{deal}/records",
             {"data": {"title": "b", "parent": first["id"], "rep": admin_membership.pk}})
    assert r.status_code == 201 and r.json()["data"]["parent"] == first["id"]
    r = post(admin, f"{BASE}/objects/{deal}/records", {"data": {"title": "c", "parent": 999999, "rep": 999999}})
    assert r.status_code == 422
    assert r.json()["fields"] == {"parent": ["no such record"], "rep": ["no such user in this organisation"]}
    r = admin.get(f"{BASE}/objects/{deal}/records?filter[rep][eq]={admin_membership.pk}")
    assert [i["data"]["title"] for i in r.json()["items"]] == ["b"]
