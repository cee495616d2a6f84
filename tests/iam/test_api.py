from __future__ import annotations

import json

import pytest
from django.test import Client

from siyu.iam.models import ApiKey, Department, Membership, Role
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.pagination import encode_cursor


def _json(client, method, url, body=None):
    r = getattr(client, method)(url, data=json.dumps(body) if body is not None else None,
                                content_type="application/json")
    return r.status_code, (r.json() if r.content else None)


@pytest.fixture
def admin_api(org, api_client):
    return api_client(org)


def test_users_list_pages_with_a_cursor_and_filters(org, admin_actor, admin_api, make_member):
    for i in range(4):
        make_member(org, f"u{i}@acme.example")
    status, first = _json(admin_api, "get", "/api/v1/iam/users?limit=2")
    assert status == 200 and len(first["items"]) == 2 and first["next_cursor"]
    _, second = _json(admin_api, "get", f"/api/v1/iam/users?limit=2&cursor={first['next_cursor']}")
    _, third = _json(admin_api, "get", f"/api/v1/iam/users?limit=2&cursor={second['next_cursor']}")
    emails = [u["email"] for page in (first, second, third) for u in page["items"]]
    assert emails == ["admin@acme.example", "u0@acme.example", "u1@acme.example", "u2@acme.example",
                      "u3@acme.example"]
    assert third["next_cursor"] is None
    _, found = _json(admin_api, "get", "/api/v1/iam/users?q=u2")
    assert [u["email"] for u in found["items"]] == ["u2@acme.example"]
    assert _json(admin_api, "get", "/api/v1/iam/users?cursor=garbage")[0] == 422
    assert _json(admin_api, "get", "/api/v1/iam/users?limit=0")[0] == 422


def test_user_create_get_update_and_masked_mobile(org, admin_api, audit_rows):
    role = Role.objects.get(org=org, name="Sales rep")
    status, body = _json(admin_api, "post", "/api/v1/iam/users", {
        "email": "new@acme.example", "name": "New", "password": "a long enough passphrase",
        "role_ids": [role.pk], "mobile": "13812345678"})
    assert status == 201
    assert (body["email"], body["name"], body["role_ids"], body["mobile"], body["is_active"]) == (
        "new@acme.example", "New", [role.pk], "138****5678", True)
    status, body = _json(admin_api, "patch", f"/api/v1/iam/users/{body['id']}", {"title": "Rep"})
    assert status == 200 and body["title"] == "Rep"
    _, found = _json(admin_api, "get", "/api/v1/iam/users?mobile=+86 138-1234-5678")
    assert [u["email"] for u in found["items"]] == ["new@acme.example"]
    status, err = _json(admin_api, "post", "/api/v1/iam/users", {"email": "x@acme.example", "mobile": "abc"})
    assert status == 422 and list(err["fields"]) == ["mobile"]
    status, err = _json(admin_api, "post", "/api/v1/iam/users", {"email": "new@acme.example"})
    assert status == 409


def test_other_org_ids_answer_404_and_change_nothing(org, admin_api, make_org):
    globex = make_org("Globex")
    dept = Department.objects.in_org(Actor.system(globex.org_id)).get()
    role = Role.objects.get(org=globex.org, name="Sales rep")
    key = ApiKey.objects.create(org=globex.org, name="theirs", prefix="abcdefabcdef", key_hash="0" * 64, scopes=["*"])
    calls = [
        ("get", f"/api/v1/iam/users/{globex.pk}", None),
        ("patch", f"/api/v1/iam/users/{globex.pk}", {"title": "pwned"}),
        ("post", f"/api/v1/iam/users/{globex.pk}/disable", None),
        ("get", f"/api/v1/iam/departments/{dept.pk}", None),
        ("patch", f"/api/v1/iam/departments/{dept.pk}", {"name": "pwned"}),
        ("delete", f"/api/v1/iam/departments/{dept.pk}", None),
        ("get", f"/api/v1/iam/roles/{role.pk}", None),
        ("patch", f"/api/v1/iam/roles/{role.pk}", {"name": "pwned"}),
        ("delete", f"/api/v1/iam/roles/{role.pk}", None),
        ("get", f"/api/v1/iam/api-keys/{key.pk}", None),
        ("post", f"/api/v1/iam/api-keys/{key.pk}/revoke", None),
    ]
    for method, url, body in calls:
        status, err = _json(admin_api, method, url, body)
        assert (status, err["code"]) == (404, "not_found"), url
    globex.refresh_from_db()
    dept.refresh_from_db()
    role.refresh_from_db()
    key.refresh_from_db()
    assert (globex.title, globex.is_active, dept.name, role.name, key.revoked_at) == (
        "Administrator", True, "Globex", "Sales rep", None)


def test_field_security_hides_on_read_and_refuses_on_write(org, make_member, login_client):
    viewer = make_member(org, "viewer@acme.example", permissions=["iam.user.*"], scope=DataScope.ORGANIZATION)
    role = viewer.roles.get()
    role.field_rules.create(object_key="iam.user", field_name="mobile", access="hidden")
    role.field_rules.create(object_key="iam.user", field_name="title", access="read_only")
    target = make_member(org, "target@acme.example")
    c = login_client(viewer)
    status, body = _json(c, "get", f"/api/v1/iam/users/{target.pk}")
    assert status == 200 and "mobile" not in body and body["title"] == ""
    _, page = _json(c, "get", "/api/v1/iam/users")
    assert all("mobile" not in u for u in page["items"])
    status, err = _json(c, "patch", f"/api/v1/iam/users/{target.pk}", {"title": "Boss", "name": "Changed"})
    assert status == 422 and err["fields"] == {"title": ["this field is read-only for you"]}
    status, err = _json(c, "patch", f"/api/v1/iam/users/{target.pk}", {"mobile": "13800000000"})
    assert status == 422 and err["fields"] == {"mobile": ["this field is not visible to you"]}
    target.refresh_from_db()
    assert (target.title, target.user.name, target.mobile) == ("", "", "")


def test_out_of_scope_members_are_404(org, make_member, api_client, login_client):
    own = make_member(org, "own@acme.example", permissions=["iam.user.*"], scope=DataScope.OWN)
    other = make_member(org, "other@acme.example")
    c = login_client(own)
    _, page = _json(c, "get", "/api/v1/iam/users")
    assert [u["email"] for u in page["items"]] == ["own@acme.example"]
    assert _json(c, "patch", f"/api/v1/iam/users/{other.pk}", {"title": "x"})[0] == 404
    assert Membership.objects.get(pk=other.pk).title == ""


def test_missing_permission_is_403_and_changes_nothing(org, api_client):
    c = api_client(org, scopes=["iam.user.read"])
    status, err = _json(c, "post", "/api/v1/iam/departments", {"name": "Nope"})
    assert (status, err["code"]) == (403, "permission_denied")
    assert not Department.objects.filter(name="Nope").exists()


def test_departments_crud_and_move(org, admin_api):
    root = Department.objects.get(org=org)
    status, a = _json(admin_api, "post", "/api/v1/iam/departments", {"name": "A", "parent_id": root.pk})
    assert status == 201 and a["path"] == f"/{root.pk}/"
    _, b = _json(admin_api, "post", "/api/v1/iam/departments", {"name": "B", "parent_id": a["id"]})
    status, moved = _json(admin_api, "patch", f"/api/v1/iam/departments/{a['id']}", {"parent_id": b["id"]})
    assert status == 422 and list(moved["fields"]) == ["parent_id"]
    status, moved = _json(admin_api, "patch", f"/api/v1/iam/departments/{b['id']}", {"parent_id": None, "name": "B2"})
    assert status == 200 and (moved["path"], moved["name"], moved["parent_id"]) == ("/", "B2", None)
    _, listed = _json(admin_api, "get", f"/api/v1/iam/departments?parent_id={root.pk}")
    assert [d["name"] for d in listed["items"]] == ["A"]
    assert _json(admin_api, "delete", f"/api/v1/iam/departments/{root.pk}")[0] == 409
    assert _json(admin_api, "delete", f"/api/v1/iam/departments/{b['id']}")[0] == 204
    assert not Department.objects.filter(pk=b["id"]).exists()


def test_roles_crud_with_scopes_and_field_rules(org, admin_api):
    status, role = _json(admin_api, "post", "/api/v1/iam/roles", {
        "name": "Auditor", "permissions": ["iam.user.read"],
        "default_scope": "department", "scopes": {"iam.user": "organization"},
        "field_rules": [{"object_key": "iam.user", "field_name": "mobile", "access": "hidden"}]})
    assert status == 201
    assert (role["scopes"], role["field_rules"], role["default_scope"]) == (
        {"iam.user": "organization"},
        [{"object_key": "iam.user", "field_name": "mobile", "access": "hidden"}], "department")
    status, err = _json(admin_api, "patch", f"/api/v1/iam/roles/{role['id']}", {"permissions": ["no.such.thing"]})
    assert status == 422 and list(err["fields"]) == ["permissions"]
    status, err = _json(admin_api, "patch", f"/api/v1/iam/roles/{role['id']}", {"scopes": {"iam.user": "galaxy"}})
    assert status == 422
    status, updated = _json(admin_api, "patch", f"/api/v1/iam/roles/{role['id']}", {"field_rules": []})
    assert status == 200 and updated["field_rules"] == [] and updated["permissions"] == ["iam.user.read"]
    assert _json(admin_api, "post", "/api/v1/iam/roles", {"name": "Auditor"})[0] == 409
    assert _json(admin_api, "delete", f"/api/v1/iam/roles/{role['id']}")[0] == 204


def test_api_keys_show_the_secret_once(org, admin_api):
    status, created = _json(admin_api, "post", "/api/v1/iam/api-keys", {"name": "ERP", "scopes": ["iam.user.read"]})
    assert status == 201 and created["key"].startswith("siyu_")
    _, listed = _json(admin_api, "get", "/api/v1/iam/api-keys?active=true")
    assert all("key" not in k for k in listed["items"])
    assert sorted(k["name"] for k in listed["items"]) == ["ERP", "test"]
    status, revoked = _json(admin_api, "post", f"/api/v1/iam/api-keys/{created['id']}/revoke")
    assert status == 200 and revoked["revoked_at"]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {created['key']}").get("/api/v1/iam/users").status_code == 401


BIG = 2**70


def test_hostile_input_gets_4xx_never_500(org, admin_api):
    calls = [
        ("get", f"/api/v1/iam/users/{BIG}", None, 404),
        ("get", f"/api/v1/iam/users?department_id={BIG}&role_id={BIG}", None, 200),
        ("get", "/api/v1/iam/users?q=a%00b", None, 422),
        ("get", "/api/v1/iam/departments?q=%00", None, 422),
        ("post", "/api/v1/iam/users", {"email": "x@acme.example", "name": "a\x00b"}, 422),
        ("post", "/api/v1/iam/users", {"email": "y@acme.example", "role_ids": [BIG], "department_id": BIG}, 422),
        ("post", "/api/v1/iam/departments", {"name": "x", "parent_id": BIG, "manager_id": BIG}, 422),
        ("post", "/api/v1/iam/roles", {"name": "r\x00"}, 422),
        ("patch", f"/api/v1/iam/departments/{BIG}", {"name": "x"}, 404),
        ("post", "/api/v1/iam/api-keys", {"name": "k", "scopes": ["\x00"]}, 422),
        ("get", f"/api/v1/iam/users?cursor={encode_cursor(['abc'])}", None, 422),
        ("get", "/api/v1/iam/users?mobile=%00", None, 422),
    ]
    for method, url, body, expected in calls:
        status, _ = _json(admin_api, method, url, body)
        assert status == expected, (url, body, status)
    assert Membership.objects.filter(org=org).count() == 1
    assert not Department.objects.filter(name="x").exists()
