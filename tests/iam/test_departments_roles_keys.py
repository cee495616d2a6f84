from __future__ import annotations

import pytest
from django.test import Client

from siyu.iam import services
from siyu.iam.auth import lookup_api_key
from siyu.iam.models import ApiKey, Department, Role
from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import Actor, DataScope, FieldAccess
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed


def _paths(org):
    return {d.name: d.path for d in Department.objects.in_org(Actor.system(org.pk))}


def test_move_re_paths_the_whole_subtree(org, admin_actor, audit_rows):
    root = Department.objects.in_org(admin_actor).get(parent=None)
    a = services.add_department(actor=admin_actor, name="A", parent=root)
    b = services.add_department(actor=admin_actor, name="B", parent=a)
    c = services.add_department(actor=admin_actor, name="C", parent=b)
    x = services.add_department(actor=admin_actor, name="X", parent=root)
    services.move_department(actor=admin_actor, department_id=b.pk, new_parent=x)
    paths = _paths(org)
    assert paths["B"] == f"/{root.pk}/{x.pk}/"
    assert paths["C"] == f"/{root.pk}/{x.pk}/{b.pk}/"
    assert paths["A"] == f"/{root.pk}/"
    assert audit_rows("update")[-1][2] == {
        "parent_id": [a.pk, x.pk], "path": [f"/{root.pk}/{a.pk}/", f"/{root.pk}/{x.pk}/"],
    }
    # to the top level and back
    services.move_department(actor=admin_actor, department_id=b.pk, new_parent=None)
    assert _paths(org)["C"] == f"/{b.pk}/"
    with pytest.raises(ValidationFailed) as exc:
        services.move_department(actor=admin_actor, department_id=b.pk, new_parent=c)
    assert list(exc.value.fields) == ["parent_id"]
    with pytest.raises(ValidationFailed):
        services.move_department(actor=admin_actor, department_id=b.pk, new_parent=b)
    assert _paths(org)["C"] == f"/{b.pk}/"


def test_department_tree_scope_narrows_what_a_manager_sees(org, admin_actor, make_member):
    root = Department.objects.in_org(admin_actor).get(parent=None)
    sales = services.add_department(actor=admin_actor, name="Sales", parent=root)
    east = services.add_department(actor=admin_actor, name="East", parent=sales)
    services.add_department(actor=admin_actor, name="Ops", parent=root)
    manager = make_member(org, "m@acme.example", permissions=["iam.department.*"], scope=DataScope.DEPARTMENT_TREE,
                          department=sales)
    actor = actor_for_membership(manager)
    assert sorted(Department.objects.visible_to(actor).values_list("name", flat=True)) == ["East", "Sales"]
    with pytest.raises(NotFound):
        services.update_department(actor=actor, department_id=root.pk, changes={"name": "Mine"})
    services.update_department(actor=actor, department_id=east.pk, changes={"name": "East China"})
    assert Department.objects.get(pk=root.pk).name == "Acme"


def test_delete_refuses_departments_with_children_or_members(org, admin_actor, make_member, make_org):
    root = Department.objects.in_org(admin_actor).get(parent=None)
    a = services.add_department(actor=admin_actor, name="A", parent=root)
    b = services.add_department(actor=admin_actor, name="B", parent=a)
    with pytest.raises(Conflict):
        services.delete_department(actor=admin_actor, department_id=a.pk)
    make_member(org, "x@acme.example", department=b)
    with pytest.raises(Conflict):
        services.delete_department(actor=admin_actor, department_id=b.pk)
    foreign_root = Department.objects.in_org(Actor.system(make_org("Globex").org_id)).get()
    with pytest.raises(NotFound):
        services.delete_department(actor=admin_actor, department_id=foreign_root.pk)
    assert Department.objects.filter(pk__in=[a.pk, b.pk, foreign_root.pk]).count() == 3
    empty = services.add_department(actor=admin_actor, name="Empty", parent=root)
    services.delete_department(actor=admin_actor, department_id=empty.pk)
    assert not Department.objects.filter(pk=empty.pk).exists()


def test_roles_validate_permissions_scopes_and_field_rules(org, admin_actor, audit_rows):
    role = services.create_role(actor=admin_actor, data={
        "name": "Analyst", "permissions": ["iam.user.read", "iam.*", "iam.role.*"],
        "default_scope": "department", "scopes": {"iam.user": "organization"},
        "field_rules": [{"object_key": "iam.user", "field_name": "mobile", "access": "hidden"}],
    })
    assert sorted(role.permissions) == ["iam.*", "iam.role.*", "iam.user.read"]
    assert {s.object_key: s.scope for s in role.scopes.all()} == {"iam.user": "organization"}
    assert audit_rows("create")[-1][2]["field_rules"] == [None, ["iam.user.mobile=hidden"]]
    for bad in ({"permissions": ["nope.thing.do"]}, {"permissions": ["iam.user.fly"]}, {"permissions": ["zzz.*"]},
                {"scopes": {"nope.thing": "own"}}, {"scopes": {"iam.user": "galaxy"}},
                {"field_rules": [{"object_key": "iam.user", "field_name": "shoe_size", "access": "hidden"}]},
                {"field_rules": [{"object_key": "iam.user", "field_name": "mobile", "access": "sometimes"}]}):
        with pytest.raises(ValidationFailed):
            services.update_role(actor=admin_actor, role_id=role.pk, changes=bad)
    role.refresh_from_db()
    assert role.default_scope == "department"
    assert sorted(role.permissions) == ["iam.*", "iam.role.*", "iam.user.read"]
    services.update_role(actor=admin_actor, role_id=role.pk, changes={"scopes": {}, "field_rules": []})
    assert (role.scopes.count(), role.field_rules.count()) == (0, 0)


def test_field_rules_reach_the_actor(org, admin_actor, make_member):
    m = make_member(org, "fs@acme.example", permissions=["iam.user.read"])
    role = m.roles.get()
    services.update_role(actor=admin_actor, role_id=role.pk, changes={"field_rules": [
        {"object_key": "iam.user", "field_name": "mobile", "access": "hidden"},
        {"object_key": "iam.user", "field_name": "title", "access": "read_only"},
    ]})
    actor = actor_for_membership(m)
    assert actor.field_access["iam.user"] == {"mobile": FieldAccess.HIDDEN, "title": FieldAccess.READ_ONLY}


def test_role_delete_and_last_admin_guard(org, admin_actor, make_member):
    used = make_member(org, "u@acme.example").roles.get()
    with pytest.raises(Conflict):
        services.delete_role(actor=admin_actor, role_id=used.pk)
    admin_role = Role.objects.get(org=org, name="Administrator")
    with pytest.raises(Conflict):
        services.update_role(actor=admin_actor, role_id=admin_role.pk, changes={"is_admin": False})
    spare = services.create_role(actor=admin_actor, data={"name": "Spare"})
    services.delete_role(actor=admin_actor, role_id=spare.pk)
    assert sorted(Role.objects.filter(org=org).values_list("name", flat=True)) == [
        "Administrator", "Sales manager", "Sales rep", "role-u@acme.example"]


def test_api_key_lifecycle(org, admin_actor, make_member, audit_rows):
    key, raw = services.issue_api_key(actor=admin_actor, name="ERP", scopes=["iam.user.read"])
    assert raw.startswith(f"siyu_{key.prefix}") and raw not in key.key_hash
    assert lookup_api_key(raw)[0].permissions == frozenset({"iam.user.read"})
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/iam/users").status_code == 200
    services.revoke_api_key(actor=admin_actor, key=key.pk)
    assert lookup_api_key(raw)[0] is None
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/iam/users").status_code == 401
    assert [r[0] for r in audit_rows("create", "revoke") if r[1] == "iam.apikey"] == ["create", "revoke"]
    assert raw not in str(audit_rows())


def test_api_keys_cannot_exceed_their_issuer(org, make_member):
    m = make_member(org, "k@acme.example", permissions=["iam.apikey.manage", "iam.user.read"])
    actor = actor_for_membership(m)
    with pytest.raises(ValidationFailed) as exc:
        services.issue_api_key(actor=actor, name="too much", scopes=["*"])
    assert list(exc.value.fields) == ["scopes"]
    with pytest.raises(ValidationFailed):
        services.issue_api_key(actor=actor, name="unknown", scopes=["made.up.scope"])
    key, _ = services.issue_api_key(actor=actor, name="ok", scopes=["iam.user.read"])
    assert ApiKey.objects.filter(org=org).values_list("name", flat=True).get() == "ok"
    assert key.created_by_id == m.user_id
