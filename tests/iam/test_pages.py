from __future__ import annotations

import re

import pytest
from django.urls import reverse

from siyu.audit.models import AuditLogEntry
from siyu.iam import services
from siyu.iam.models import ApiKey, Department, Membership, Organization, Role
from siyu.kernel.actor import Actor, DataScope

PAGES = [
    ("iam_users", {}), ("iam_user_invite", {}), ("iam_departments", {}), ("iam_roles", {}),
    ("iam_role_create", {}), ("iam_data_scopes", {}), ("iam_field_security", {}), ("iam_api_keys", {}),
    ("iam_organization", {}), ("account_security", {}), ("switch_org", {}),
]


@pytest.fixture
def admin_client(admin_membership, login_client):
    return login_client(admin_membership)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_every_page_renders_for_an_administrator(admin_client, admin_membership, lang):
    admin_client.cookies["django_language"] = lang
    role = Role.objects.get(org=admin_membership.org, name="Sales rep")
    dept = Department.objects.get(org=admin_membership.org)
    urls = [reverse(n, kwargs=k) for n, k in PAGES] + [
        reverse("iam_user_detail", args=[admin_membership.pk]), reverse("iam_user_edit", args=[admin_membership.pk]),
        reverse("iam_role_edit", args=[role.pk]), reverse("iam_department_edit", args=[dept.pk]),
        f"{reverse('iam_data_scopes')}?role={role.pk}", f"{reverse('iam_field_security')}?role={role.pk}&object=iam.user",
    ]
    for url in urls:
        r = admin_client.get(url)
        assert r.status_code == 200, url
        assert b'<html lang="' + lang.encode() in r.content


def test_login_page_is_public_and_other_pages_need_a_session(db, client):
    assert client.get("/login/").status_code == 200
    r = client.get("/iam/users/")
    assert r.status_code == 302 and r["Location"] == "/login/?next=/iam/users/"


def test_missing_permission_renders_403_is_audited_and_changes_nothing(org, make_member, login_client):
    m = make_member(org, "nobody@acme.example", permissions=["cdp.profile.read"])
    c = login_client(m)
    for name, kwargs in PAGES[:9]:
        assert c.get(reverse(name, kwargs=kwargs)).status_code == 403, name
    assert c.post(reverse("iam_departments"), {"name": "Sneaky"}).status_code == 403
    assert c.post(reverse("iam_api_keys"), {"name": "Sneaky", "permissions": ["*"]}).status_code == 403
    assert not Department.objects.filter(name="Sneaky").exists() and not ApiKey.objects.filter(name="Sneaky").exists()
    denied = AuditLogEntry.objects.filter(action="denied").values_list("meta__operation", flat=True)
    assert "iam.user.read" in list(denied) and "iam.apikey.manage" in list(denied)


def test_records_of_another_org_or_out_of_scope_are_404(org, admin_client, make_org, make_member, login_client):
    globex = make_org("Globex")
    g_role = Role.objects.get(org=globex.org, name="Sales rep")
    g_dept = Department.objects.get(org=globex.org)
    g_key, _ = services.issue_api_key(actor=Actor.system(globex.org_id), name="g", scopes=["*"])
    gets = [reverse("iam_user_detail", args=[globex.pk]), reverse("iam_user_edit", args=[globex.pk]),
            reverse("iam_role_edit", args=[g_role.pk]), reverse("iam_department_edit", args=[g_dept.pk]),
            f"{reverse('iam_data_scopes')}?role={g_role.pk}", f"{reverse('iam_field_security')}?role={g_role.pk}"]
    for url in gets:
        assert admin_client.get(url).status_code == 404, url
    posts = [reverse("iam_user_disable", args=[globex.pk]), reverse("iam_department_delete", args=[g_dept.pk]),
             reverse("iam_department_move", args=[g_dept.pk]), reverse("iam_role_delete", args=[g_role.pk]),
             reverse("iam_api_key_revoke", args=[g_key.pk])]
    for url in posts:
        assert admin_client.post(url).status_code == 404, url
    globex.refresh_from_db()
    g_key.refresh_from_db()
    assert globex.is_active and g_key.revoked_at is None
    assert Role.objects.filter(pk=g_role.pk).exists() and Department.objects.filter(pk=g_dept.pk).exists()
    own = make_member(org, "own@acme.example", permissions=["iam.user.*"], scope=DataScope.OWN)
    other = make_member(org, "other@acme.example")
    c = login_client(own)
    assert c.get(reverse("iam_user_detail", args=[other.pk])).status_code == 404
    assert c.post(reverse("iam_user_disable", args=[other.pk])).status_code == 404
    assert Membership.objects.get(pk=other.pk).is_active


def test_invite_edit_and_disable_through_the_console(org, admin_client):
    dept = Department.objects.get(org=org)
    role = Role.objects.get(org=org, name="Sales rep")
    r = admin_client.post(reverse("iam_user_invite"), {
        "email": "mei@acme.example", "password": "a long enough passphrase", "name": "Mei", "title": "Rep",
        "department_id": dept.pk, "role_ids": [role.pk], "mobile": "13900001111"})
    m = Membership.objects.get(user__email="mei@acme.example")
    assert r.status_code == 302 and r["Location"] == reverse("iam_user_detail", args=[m.pk])
    detail = admin_client.get(r["Location"]).content.decode()
    assert "139****1111" in detail and "13900001111" not in detail
    r = admin_client.post(reverse("iam_user_invite"), {"email": "bad@acme.example", "mobile": "12"})
    assert r.status_code == 200 and not Membership.objects.filter(user__email="bad@acme.example").exists()
    r = admin_client.post(reverse("iam_user_edit", args=[m.pk]), {
        "name": "Mei Han", "title": "Lead", "department_id": dept.pk, "role_ids": [role.pk], "mobile": ""})
    assert r.status_code == 302
    m.refresh_from_db()
    assert (m.user.name, m.title) == ("Mei Han", "Lead") and m.mobile  # empty mobile keeps the number
    r = admin_client.post(reverse("iam_user_disable", args=[m.pk]))
    assert r.status_code == 302 and not Membership.objects.get(pk=m.pk).is_active
    listing = admin_client.get(reverse("iam_users") + "?active=0", HTTP_HX_REQUEST="true")
    assert listing.status_code == 200 and "mei@acme.example" in listing.content.decode()
    assert "<html" not in listing.content.decode()


def test_users_list_loads_more_with_the_cursor(org, admin_client, make_member):
    for i in range(26):
        Membership.objects.create(org=org, user=services.User.objects.create_user(f"bulk{i}@acme.example", None))
    first = admin_client.get(reverse("iam_users")).content.decode()
    cursor = re.search(r'cursor=([A-Za-z0-9_-]+)', first).group(1)
    more = admin_client.get(f"{reverse('iam_users')}?cursor={cursor}", HTTP_HX_REQUEST="true").content.decode()
    assert "bulk25@acme.example" in more and "bulk0@acme.example" not in more and "<table" not in more


def test_departments_add_move_and_delete(org, admin_client):
    root = Department.objects.get(org=org)
    admin_client.post(reverse("iam_departments"), {"name": "Sales", "parent_id": root.pk})
    admin_client.post(reverse("iam_departments"), {"name": "East", "parent_id": ""})
    sales, east = Department.objects.get(name="Sales"), Department.objects.get(name="East")
    r = admin_client.post(reverse("iam_department_move", args=[east.pk]), {"parent_id": sales.pk},
                          HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and 'data-testid="department-tree"' in r.content.decode()
    east.refresh_from_db()
    assert east.path == f"/{root.pk}/{sales.pk}/"
    admin_client.post(reverse("iam_department_move", args=[sales.pk]), {"parent_id": east.pk})
    sales.refresh_from_db()
    assert sales.parent_id == root.pk
    admin_client.post(reverse("iam_department_delete", args=[sales.pk]))
    assert Department.objects.filter(pk=sales.pk).exists()
    admin_client.post(reverse("iam_department_delete", args=[east.pk]))
    assert not Department.objects.filter(pk=east.pk).exists()


def test_role_matrix_scopes_and_field_security(org, admin_client):
    r = admin_client.post(reverse("iam_role_create"), {
        "name": "Support", "default_scope": "own", "permissions": ["iam.user.read", "iam.department.*"],
        "extra_permissions": "iam.role.read"})
    role = Role.objects.get(org=org, name="Support")
    assert r.status_code == 302
    assert sorted(role.permissions) == ["iam.department.*", "iam.role.read", "iam.user.read"]
    page = admin_client.get(reverse("iam_role_edit", args=[role.pk])).content.decode()
    assert 'value="iam.user.read" id="perm-iam.user.read" checked' in page
    r = admin_client.post(reverse("iam_role_create"), {"name": "Bad", "default_scope": "own",
                                                       "extra_permissions": "made.up.thing"})
    assert r.status_code == 200 and not Role.objects.filter(name="Bad").exists()
    admin_client.post(f"{reverse('iam_data_scopes')}?role={role.pk}", {
        "role": role.pk, "default_scope": "department", "scope:iam.user": "organization"})
    role.refresh_from_db()
    assert role.default_scope == "department"
    assert {s.object_key: s.scope for s in role.scopes.all()} == {"iam.user": "organization"}
    admin_client.post(reverse("iam_field_security"), {
        "role": role.pk, "object": "iam.user", "access:mobile": "hidden", "access:title": "read_only"})
    assert sorted(role.field_rules.values_list("field_name", "access")) == [("mobile", "hidden"), ("title", "read_only")]


def test_api_key_is_shown_once_and_can_be_revoked(org, admin_client):
    r = admin_client.post(reverse("iam_api_keys"), {"name": "ERP", "permissions": ["iam.user.read"]})
    body = r.content.decode()
    raw = re.search(r"(siyu_[A-Za-z0-9_-]{40,})", body).group(1)
    assert r["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(name="ERP")
    assert raw not in admin_client.get(reverse("iam_api_keys")).content.decode()
    r = admin_client.post(reverse("iam_api_key_revoke", args=[key.pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_organisation_settings(org, admin_client):
    r = admin_client.post(reverse("iam_organization"), {"name": "Acme Ltd", "require_admin_2fa": "on"})
    assert r.status_code == 302
    org = Organization.objects.get(pk=org.pk)
    assert (org.name, org.require_admin_2fa) == ("Acme Ltd", True)


def test_switch_org_only_to_own_active_memberships(org, admin_client, admin_membership, make_org):
    globex = make_org("Globex")
    services.add_member(actor=Actor.system(globex.org_id), email=admin_membership.user.email)
    r = admin_client.post(reverse("switch_org"), {"org": globex.org_id, "next": "/iam/users/"})
    assert r.status_code == 302 and r["Location"] == "/iam/users/"
    assert admin_client.session["org_id"] == globex.org_id
    stranger = make_org("Initech")
    assert admin_client.post(reverse("switch_org"), {"org": stranger.org_id}).status_code == 404
    assert admin_client.post(reverse("switch_org"), {"org": "x"}).status_code == 404
    assert admin_client.session["org_id"] == globex.org_id
    r = admin_client.post(reverse("switch_org"), {"org": org.pk, "next": "https://evil.example/"})
    assert r["Location"] == "/"
