"""The standard object iam.user (Membership, registered by the composition root): custom fields in its
``custom`` column, validated, filtered and sorted with its standard fields, serialised with field security."""

from __future__ import annotations

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.iam import services as iam
from siyu.iam.models import FieldSecurity, Membership, Role
from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import DataScope
from siyu.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.kernel.pagination import paginate
from siyu.platform import selectors, services
from siyu.platform.filtering import Filter, apply_filters
from siyu.platform.serialization import display_cells, serialize_record, visible_columns


@pytest.fixture
def members(admin_actor, admin_membership):
    services.create_field(actor=admin_actor, object_key="iam.user", key="level", label="Level", type="integer")
    services.create_field(actor=admin_actor, object_key="iam.user", key="region", label="Region",
                          type="single_select", options={"choices": [{"value": "north", "label": "North"},
                                                                     {"value": "south", "label": "South"}]})
    a = iam.add_member(actor=admin_actor, email="a@acme.example", name="Ann", title="Rep", mobile="13800000001")
    b = iam.add_member(actor=admin_actor, email="b@acme.example", name="Bo", mobile="13800000002")
    services.set_custom_values(actor=admin_actor, object_key="iam.user", instance=a, data={"level": 3, "region": "north"})
    services.set_custom_values(actor=admin_actor, object_key="iam.user", instance=b, data={"level": 1})
    return admin_membership, a, b


def emails(actor, filters, sort=None):
    qs, order = apply_filters(Membership.objects.visible_to(actor).select_related("user"), actor=actor,
                              object_key="iam.user", filters=[Filter(*f) for f in filters], sort=sort)
    return [m.user.email for m in paginate(qs, order=order, limit=50).items]


CASES = [
    ([("level", "gte", "1")], "level", ["b@acme.example", "a@acme.example"]),
    ([("region", "is_empty", "true")], "email", ["admin@acme.example", "b@acme.example"]),
    ([("name", "contains", "an")], None, ["a@acme.example"]),
    ([("mobile", "eq", "138 0000 0002")], None, ["b@acme.example"]),
    ([("mobile", "is_empty", "true")], None, ["admin@acme.example"]),
    ([("title", "is_empty", "false")], None, ["admin@acme.example", "a@acme.example"]),
    ([("is_active", "eq", "true")], "-level", ["a@acme.example", "b@acme.example", "admin@acme.example"]),
    ([], "-name", ["b@acme.example", "a@acme.example", "admin@acme.example"]),
    ([], "department_id,id", ["admin@acme.example", "a@acme.example", "b@acme.example"]),
]


def test_standard_and_custom_fields_filter_and_sort(admin_actor, members):
    for filters, sort, expected in CASES:
        assert emails(admin_actor, filters, sort) == expected, (filters, sort)


def test_validate_custom_and_set_custom_values(admin_actor, members):
    _, a, _ = members
    assert services.validate_custom(actor=admin_actor, object_key="iam.user", data={"level": "7"}) == {"level": 7}
    with pytest.raises(ValidationFailed) as exc:
        services.validate_custom(actor=admin_actor, object_key="iam.user", data={"level": "x", "region": "west"})
    assert exc.value.fields == {"level": ["must be a whole number"], "region": ["must be one of the field's choices"]}
    with pytest.raises(ValidationFailed) as exc:
        services.validate_custom(actor=admin_actor, object_key="iam.user", data=["level"])
    assert exc.value.fields == {"data": ["an object of field keys to values"]}
    services.set_custom_values(actor=admin_actor, object_key="iam.user", instance=a, data={"region": None})
    a.refresh_from_db()
    assert a.custom == {"level": 3}
    entry = AuditLogEntry.objects.filter(action="update", object_type="iam.user", object_id=str(a.pk)).last()
    assert entry.changes == {"custom.region": ["north", None]}
    with pytest.raises(NotFound):
        services.validate_custom(actor=admin_actor, object_key="custom.nothing", data={})


def test_serialize_with_field_security(org, admin_actor, members, make_member):
    _, a, _ = members
    member = make_member(org, "viewer@acme.example", scope=DataScope.ORGANIZATION, permissions=("iam.user.read",))
    role = Role.objects.in_org(admin_actor).get(name="role-viewer@acme.example")
    FieldSecurity.objects.create(role=role, object_key="iam.user", field_name="level", access="hidden")
    FieldSecurity.objects.create(role=role, object_key="iam.user", field_name="mobile", access="hidden")
    FieldSecurity.objects.create(role=role, object_key="iam.user", field_name="region", access="read_only")
    viewer = actor_for_membership(member)
    meta = selectors.object_meta(viewer, "iam.user")
    a = Membership.objects.select_related("user").get(pk=a.pk)
    out = serialize_record(viewer, meta, a)
    assert out["data"] == {"region": "north"}
    assert "mobile" not in out and out["email"] == "a@acme.example" and out["name"] == "Ann"
    full = serialize_record(admin_actor, selectors.object_meta(admin_actor, "iam.user"), a)
    assert full["mobile"] == "138****0001" and full["data"] == {"level": 3, "region": "north"}
    cols = visible_columns(viewer, meta)
    assert [c[0] for c in cols] == ["id", "name", "email", "title", "department_id", "is_active", "created_at",
                                    "region"]
    cells = display_cells(viewer, meta, a, cols)
    assert cells[1:4] == ["Ann", "a@acme.example", "Rep"] and cells[-1] == "North"
    with pytest.raises(ValidationFailed) as exc:
        services.set_custom_values(actor=viewer, object_key="iam.user", instance=a, data={"region": "south"})
    assert exc.value.fields == {"region": ["read-only for you"]}
    a.refresh_from_db()
    assert a.custom == {"level": 3, "region": "north"}


def test_field_management_needs_the_permission(org, make_member, admin_actor):
    member = make_member(org, "nope@acme.example", permissions=("platform.record.*",))
    actor = actor_for_membership(member)
    with pytest.raises(PermissionDenied):
        services.create_field(actor=actor, object_key="iam.user", key="x", label="X", type="text")
    with pytest.raises(PermissionDenied):
        services.create_object(actor=actor, key="x", label="X")
    assert selectors.list_fields(admin_actor, "iam.user") == []


def test_type_changes_and_immutable_options(admin_actor):
    services.create_field(actor=admin_actor, object_key="iam.user", key="ratio", label="R", type="decimal",
                          options={"decimal_places": 2})
    with pytest.raises(ValidationFailed) as exc:
        services.update_field(actor=admin_actor, object_key="iam.user", field_key="ratio",
                              options={"decimal_places": 3})
    assert exc.value.fields == {"options": ["decimal_places cannot change"]}
    services.create_field(actor=admin_actor, object_key="iam.user", key="stage", label="S", type="single_select",
                          options={"choices": [{"value": "a", "label": "A"}]}, indexed=True)
    fd = services.update_field(actor=admin_actor, object_key="iam.user", field_key="stage", type="text")
    assert (fd.type, fd.options, fd.indexed) == ("text", {}, True)
    fd = services.update_field(actor=admin_actor, object_key="iam.user", field_key="stage", type="long_text")
    assert (fd.type, fd.indexed) == ("long_text", False)  # long text cannot be indexed: the flag follows
