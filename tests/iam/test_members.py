from __future__ import annotations

import pytest

from siyu.iam import services
from siyu.iam.models import Membership, Role
from siyu.iam.personal import MOBILE_CONTEXT, mobile_index
from siyu.iam.selectors import actor_for_membership
from siyu.kernel import crypto
from siyu.kernel.actor import DataScope
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


def test_invite_new_person_stores_mobile_encrypted_and_audits_it_masked(org, admin_actor, audit_rows):
    m = services.add_member(actor=admin_actor, email=" Li.Lei@Acme.example ", password="another long passphrase",
                            name="Li Lei", title="Rep", mobile="138 1234 5678")
    m.refresh_from_db()
    assert m.user.email == "li.lei@acme.example"
    assert m.user.check_password("another long passphrase")
    assert m.mobile.startswith("v1:")
    assert crypto.decrypt(m.mobile, context=MOBILE_CONTEXT) == "+8613812345678"
    assert m.mobile_index == mobile_index("+8613812345678")
    action, object_type, changes = audit_rows("create")[-1]
    assert (action, object_type) == ("create", "iam.user")
    assert changes["mobile"] == [None, "138****5678"]
    assert changes["email"] == [None, "li.lei@acme.example"]
    assert changes["title"] == [None, "Rep"]


def test_invite_rejects_bad_input_and_duplicates(org, admin_actor, admin_membership):
    before = Membership.objects.count()
    with pytest.raises(ValidationFailed) as bad_mobile:
        services.add_member(actor=admin_actor, email="a@acme.example", mobile="12")
    assert list(bad_mobile.value.fields) == ["mobile"]
    with pytest.raises(ValidationFailed) as bad_email:
        services.add_member(actor=admin_actor, email="not-an-email")
    assert list(bad_email.value.fields) == ["email"]
    with pytest.raises(Conflict):
        services.add_member(actor=admin_actor, email=admin_membership.user.email)
    assert Membership.objects.count() == before


def test_invite_existing_person_from_another_org_keeps_their_password(org, admin_actor, make_org):
    other = make_org("Globex")
    m = services.add_member(actor=admin_actor, email=other.user.email, password=None)
    assert m.user_id == other.user_id
    assert m.user.has_usable_password()


def test_update_member_changes_fields_and_records_a_diff(org, admin_actor, make_member, audit_rows):
    dept = services.add_department(actor=admin_actor, name="Sales", parent=None)
    role = Role.objects.create(org=org, name="Viewer", permissions=["iam.user.read"])
    m = make_member(org, "rep@acme.example")
    services.update_member(actor=admin_actor, membership_id=m.pk, changes={
        "title": "Lead", "department_id": dept.pk, "role_ids": [role.pk], "mobile": "+86 139 0000 1111",
        "name": "Han Meimei",
    })
    m.refresh_from_db()
    assert (m.title, m.department_id, m.user.name) == ("Lead", dept.pk, "Han Meimei")
    assert list(m.roles.values_list("pk", flat=True)) == [role.pk]
    _, _, changes = audit_rows("update")[-1]
    assert changes["title"] == ["", "Lead"]
    assert changes["department_id"] == [None, dept.pk]
    assert changes["role_ids"][1] == [role.pk]
    assert changes["mobile"] == ["", "139****1111"]
    assert changes["name"] == ["", "Han Meimei"]


def test_update_member_refuses_read_only_and_hidden_fields_and_changes_nothing(org, admin_actor, make_member):
    editor = make_member(org, "editor@acme.example", permissions=["iam.user.*"], scope=DataScope.ORGANIZATION)
    role = editor.roles.get()
    role.field_rules.create(object_key="iam.user", field_name="title", access="read_only")
    role.field_rules.create(object_key="iam.user", field_name="mobile", access="hidden")
    target = make_member(org, "target@acme.example")
    actor = actor_for_membership(editor)
    with pytest.raises(ValidationFailed) as exc:
        services.update_member(actor=actor, membership_id=target.pk, changes={"title": "Boss", "name": "X"})
    assert exc.value.fields == {"title": ["this field is read-only for you"]}
    with pytest.raises(ValidationFailed) as exc:
        services.update_member(actor=actor, membership_id=target.pk, changes={"mobile": "13800000000"})
    assert exc.value.fields == {"mobile": ["this field is not visible to you"]}
    target.refresh_from_db()
    assert (target.title, target.user.name, target.mobile) == ("", "", "")


def test_out_of_scope_and_foreign_members_are_not_found(org, admin_actor, make_member, make_org):
    own_only = make_member(org, "own@acme.example", permissions=["iam.user.*"], scope=DataScope.OWN)
    someone = make_member(org, "someone@acme.example")
    foreign = make_org("Globex")
    actor = actor_for_membership(own_only)
    for target in (someone, foreign):
        with pytest.raises(NotFound):
            services.update_member(actor=actor, membership_id=target.pk, changes={"title": "x"})
        with pytest.raises(NotFound):
            services.disable_member(actor=actor, membership_id=target.pk)
    with pytest.raises(NotFound):
        services.update_member(actor=admin_actor, membership_id=foreign.pk, changes={"title": "x"})
    someone.refresh_from_db()
    foreign.refresh_from_db()
    assert (someone.title, someone.is_active, foreign.title, foreign.is_active) == ("", True, "Administrator", True)


def test_services_check_the_permission_themselves(org, make_member):
    reader = make_member(org, "reader@acme.example", permissions=["iam.user.read"], scope=DataScope.ORGANIZATION)
    actor = actor_for_membership(reader)
    with pytest.raises(PermissionDenied):
        services.add_member(actor=actor, email="new@acme.example")
    with pytest.raises(PermissionDenied):
        services.update_member(actor=actor, membership_id=reader.pk, changes={"title": "x"})
    assert not Membership.objects.filter(user__email="new@acme.example").exists()


def test_nobody_grants_a_role_with_more_than_they_hold(org, make_member):
    admin_role = Role.objects.get(org=org, name="Administrator")
    manager = make_member(org, "mgr@acme.example", permissions=["iam.user.*"], scope=DataScope.ORGANIZATION)
    target = make_member(org, "t@acme.example")
    with pytest.raises(ValidationFailed) as exc:
        services.update_member(actor=actor_for_membership(manager), membership_id=target.pk,
                               changes={"role_ids": [admin_role.pk]})
    assert list(exc.value.fields) == ["role_ids"]
    assert not target.roles.filter(pk=admin_role.pk).exists()


def test_disable_and_enable_are_audited_and_self_disable_is_refused(org, admin_actor, admin_membership, make_member,
                                                                     audit_rows):
    m = make_member(org, "rep@acme.example")
    services.disable_member(actor=admin_actor, membership_id=m.pk)
    m.refresh_from_db()
    assert m.is_active is False
    services.enable_member(actor=admin_actor, membership_id=m.pk)
    m.refresh_from_db()
    assert m.is_active is True
    assert [r[:3] for r in audit_rows("disable", "enable")] == [
        ("disable", "iam.user", {"is_active": [True, False]}),
        ("enable", "iam.user", {"is_active": [False, True]}),
    ]
    with pytest.raises(Conflict):
        services.disable_member(actor=admin_actor, membership_id=admin_membership.pk)
    admin_membership.refresh_from_db()
    assert admin_membership.is_active is True


def test_passwords_are_argon2id_at_the_asvs_floor(org, admin_actor, settings):
    settings.PASSWORD_HASHERS = ["siyu.iam.passwords.Argon2idHasher"]
    m = services.add_member(actor=admin_actor, email="argon@acme.example", password="a long enough passphrase")
    assert m.user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
