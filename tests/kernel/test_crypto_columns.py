"""kernel.encrypted: registered columns, normalisation, blind-index search, masking and audited unmasking."""

from __future__ import annotations

import json

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.iam import services as iam
from siyu.iam.models import Department, FieldSecurity, Membership, Role
from siyu.iam.selectors import actor_for_membership
from siyu.kernel import crypto, encrypted, permissions
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.errors import NotFound, PermissionDenied, ValidationFailed

PHONE = "+8613800138000"


def audit_rows(org) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.in_org(Actor.system(org.pk)).order_by("seq"))


def member_with_mobile(admin_actor, email, raw) -> Membership:
    m = iam.add_member(actor=admin_actor, email=email, password=None)
    encrypted.set_encrypted(m, "mobile", raw)
    m.save()
    return m


def actor_with(org, email, permissions_, scope=DataScope.ORGANIZATION, department=None):
    role = Role.objects.create(org=org, name=f"role {email}", permissions=list(permissions_), default_scope=scope)
    admin = actor_for_membership(Membership.objects.in_org(Actor.system(org.pk)).filter(roles__is_admin=True).first())
    m = iam.add_member(actor=admin, email=email, password=None, department=department, roles=[role])
    return actor_for_membership(m), role


def test_membership_mobile_is_registered_with_its_unmask_permission():
    spec = encrypted.column(Membership, "mobile")
    assert (spec.index_field, spec.context, spec.kind, spec.object_key) == (
        "mobile_index", "iam.membership.mobile", "phone", "iam.user")
    assert permissions.is_declared("iam.user.unmask")
    with pytest.raises(LookupError, match="iam.Membership.title is not a registered encrypted column"):
        encrypted.column(Membership, "title")


def test_registering_differently_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        encrypted.register(Membership, field="mobile", index_field="mobile_index", context="other", kind="phone")
    # The same registration again is harmless (ready() may run in several test processes).
    encrypted.register(Membership, field="mobile", index_field="mobile_index", context="iam.membership.mobile",
                       kind="phone")


@pytest.mark.parametrize("raw", ["13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000",
                                 "008613800138000", "8613800138000", "１３８００１３８０００", " +86-138-0013-8000 "])
def test_every_chinese_writing_of_a_mobile_is_one_value(admin_actor, raw):
    m = member_with_mobile(admin_actor, "a@acme.example", raw)
    m.refresh_from_db()
    assert m.mobile.startswith(f"v1:{crypto.active_key_id()}:")
    assert encrypted.reveal(m, "mobile") == PHONE
    assert m.mobile_index == crypto.blind_index(PHONE, context="iam.membership.mobile")
    found = Membership.objects.in_org(admin_actor).filter(mobile_index=encrypted.lookup(Membership, "mobile", "138 0013 8000"))
    assert list(found.values_list("pk", flat=True)) == [m.pk]


def test_set_encrypted_matches_what_iam_add_member_stores(admin_actor):
    a = iam.add_member(actor=admin_actor, email="a@acme.example", password=None, mobile="13800138000")
    b = member_with_mobile(admin_actor, "b@acme.example", "13800138000")
    assert a.mobile_index == b.mobile_index
    assert encrypted.reveal(a, "mobile") == encrypted.reveal(b, "mobile") == PHONE


def test_invalid_mobile_is_a_field_error_and_changes_nothing(admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    before = (m.mobile, m.mobile_index)
    with pytest.raises(ValidationFailed) as exc:
        encrypted.set_encrypted(m, "mobile", "12345")
    assert exc.value.fields == {"mobile": ["not a valid phone number"]}
    assert (m.mobile, m.mobile_index) == before


def test_empty_value_clears_envelope_and_index(admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    assert encrypted.set_encrypted(m, "mobile", "  ") == ""
    assert (m.mobile, m.mobile_index) == ("", "")
    assert encrypted.reveal(m, "mobile") == ""


def test_lookup_value_of_a_non_value_matches_nothing():
    assert encrypted.lookup_value("phone", "not a phone", context="iam.membership.mobile") is None
    assert encrypted.lookup_value("email", "", context="x") is None
    assert encrypted.lookup_value("email", " Li.Lei@Example.COM ", context="x") == crypto.blind_index(
        "li.lei@example.com", context="x")


def test_kinds_normalise():
    assert encrypted.normalise("email", " Li.Lei@Example.COM ") == "li.lei@example.com"
    assert encrypted.normalise("text", "  张三 ") == "张三"
    with pytest.raises(ValueError, match="not an e-mail address"):
        encrypted.normalise("email", "li.lei")
    with pytest.raises(ValueError, match="unknown encrypted kind"):
        encrypted.normalise("bank", "x")


def test_seal_gives_platform_shaped_envelope_and_index():
    context = encrypted.json_context("iam.user", "wechat_phone")
    assert context == "platform:iam.user:wechat_phone"
    sealed = encrypted.seal("phone", "138 0013 8000", context=context)
    assert sealed.value == PHONE
    assert crypto.decrypt(sealed.envelope, context=context) == PHONE
    assert sealed.index == crypto.blind_index(PHONE, context=context)


def test_display_always_masks_and_only_an_audited_reveal_shows_the_value(org, admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    reader, _ = actor_with(org, "reader@acme.example", ["iam.user.read"])
    unmasker, _ = actor_with(org, "unmasker@acme.example", ["iam.user.read", "iam.user.unmask"])
    before = len(audit_rows(org))
    assert encrypted.display(m, "mobile", reader) == "138****8000"
    # Even with the unmask permission a page shows the mask: unmasking is a deliberate, audited act.
    assert encrypted.display(m, "mobile", unmasker) == "138****8000"
    assert encrypted.display(m, "mobile", admin_actor) == "138****8000"
    assert len(audit_rows(org)) == before
    assert encrypted.reveal_for(unmasker, m, "mobile", "customer called back") == PHONE
    assert len(audit_rows(org)) == before + 1


def test_display_shows_nothing_when_field_security_hides_the_field(org, admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    hidden, role = actor_with(org, "hidden@acme.example", ["iam.user.read", "iam.user.unmask"])
    FieldSecurity.objects.create(role=role, object_key="iam.user", field_name="mobile", access="hidden")
    hidden = actor_for_membership(Membership.objects.in_org(hidden).get(user_id=hidden.user_id))
    assert encrypted.display(m, "mobile", hidden) == ""
    count = len(audit_rows(org))
    with pytest.raises(PermissionDenied):
        encrypted.reveal_for(hidden, m, "mobile", "support call")
    assert len(audit_rows(org)) == count


def test_reveal_for_with_permission_returns_plaintext_and_audits_without_it(org, admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    unmasker, _ = actor_with(org, "unmasker@acme.example", ["iam.user.read", "iam.user.unmask"])
    before = audit_rows(org)
    assert encrypted.reveal_for(unmasker, m, "mobile", "  customer called back  ", ip="10.0.0.7") == PHONE
    after = audit_rows(org)
    assert len(after) == len(before) + 1
    entry = after[-1]
    assert (entry.action, entry.object_type, entry.object_id, entry.actor_user_id, entry.ip) == (
        "unmask", "iam.user", str(m.pk), unmasker.user_id, "10.0.0.7")
    assert entry.meta == {"field": "mobile", "reason": "customer called back"}
    assert entry.changes == {}
    stored = json.dumps([entry.changes, entry.meta, entry.object_id, entry.actor_label])
    assert "13800138000" not in stored and "8000" not in stored


def test_reveal_for_without_permission_is_denied_and_records_nothing(org, admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    reader, _ = actor_with(org, "reader@acme.example", ["iam.user.read"])
    before = [(e.seq, e.hash) for e in audit_rows(org)]
    with pytest.raises(PermissionDenied, match="needs the iam.user.unmask permission"):
        encrypted.reveal_for(reader, m, "mobile", "curious")
    assert [(e.seq, e.hash) for e in audit_rows(org)] == before
    m.refresh_from_db()
    assert encrypted.reveal(m, "mobile") == PHONE


def test_reveal_for_out_of_scope_or_other_org_is_not_found_and_records_nothing(make_org, org, admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    sales = Department.objects.create(org=org, name="Sales", path="/")
    own_only, _ = actor_with(org, "own@acme.example", ["iam.user.read", "iam.user.unmask"], scope=DataScope.OWN,
                             department=sales)
    other = actor_for_membership(make_org("Globex"))
    before = len(audit_rows(org))
    with pytest.raises(NotFound):
        encrypted.reveal_for(own_only, m, "mobile", "support call")
    with pytest.raises(NotFound):
        encrypted.reveal_for(other, m, "mobile", "support call")
    assert len(audit_rows(org)) == before
    other_org = Membership.objects.in_org(other).first().org
    assert [e.action for e in audit_rows(other_org) if e.action == "unmask"] == []


def test_reveal_for_needs_a_reason(org, admin_actor):
    m = member_with_mobile(admin_actor, "a@acme.example", "13800138000")
    before = len(audit_rows(org))
    with pytest.raises(ValidationFailed) as exc:
        encrypted.reveal_for(admin_actor, m, "mobile", "   ")
    assert exc.value.fields == {"reason": ["required"]}
    assert len(audit_rows(org)) == before
