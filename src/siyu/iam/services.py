"""Writes of identity and access. Services never commit: the edge (request, command, job) owns the transaction.

Every service checks its named permission itself (defence in depth behind the edge's ``require``), resolves the
records it touches through ``visible_to``/``in_org`` (another organisation's or an out-of-scope id is
``NotFound``), applies field security to what it is asked to change, and records an audit entry with the
before/after diff inside the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils.text import slugify

from siyu.kernel import auditing, clock
from siyu.kernel import permissions as registry
from siyu.kernel.actor import Actor, DataScope, FieldAccess
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from . import fieldsec
from .auth import KEY_PREFIX, hash_key
from .models import ApiKey, Department, FieldSecurity, Membership, Organization, Role, RoleScope, User
from .personal import mobile_plain, sealed_mobile
from .selectors import object_keys
from .sessions import end_sessions_of_membership

# The roles every new organisation starts with; administrators edit them freely afterwards.
DEFAULT_ROLES = [
    {"name": "Administrator", "permissions": ["*"], "default_scope": DataScope.ORGANIZATION, "is_admin": True},
    {"name": "Sales manager", "permissions": ["cdp.*", "sales.*", "iam.user.read", "iam.department.read"],
     "default_scope": DataScope.DEPARTMENT_TREE, "is_admin": False},
    {"name": "Sales rep", "permissions": ["cdp.profile.read", "cdp.profile.update", "sales.*", "iam.user.read"],
     "default_scope": DataScope.OWN, "is_admin": False},
]
PERSONAL = {"mobile": "phone"}
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,79}$")


# --- shared checks ------------------------------------------------------------------------------------------


def _require(actor: Actor, operation: str) -> None:
    if not actor.can(operation):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


def _visible(qs, actor: Actor, pk: Any, what: str = "record"):
    obj = qs.visible_to(actor).filter(pk=_pk(pk)).first() if _pk(pk) is not None else None
    if obj is None:
        raise NotFound(f"{what} not found")
    return obj


def _pk(value: Any) -> int | None:
    if hasattr(value, "pk"):
        return value.pk
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _reference(qs, actor: Actor, value: Any, field: str):
    """A record named in a request body: unknown, foreign or out of scope is a field error, not a 404."""
    if value in (None, ""):
        return None
    pk = _pk(value)
    obj = qs.visible_to(actor).filter(pk=pk).first() if pk is not None else None
    if obj is None:
        raise ValidationFailed(f"unknown {field}", fields={field: ["no such record"]})
    return obj


def _only_keys(changes: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["not a field that can be changed"] for k in unknown})


def _optional_text(value: Any, field: str, max_length: int) -> str:
    text = (value if isinstance(value, str) else "" if value is None else str(value)).strip()
    if len(text) > max_length:
        raise ValidationFailed(f"{field} is too long", fields={field: [f"at most {max_length} characters"]})
    if "\x00" in text:  # PostgreSQL cannot store NUL in text
        raise ValidationFailed(f"{field} is not valid", fields={field: ["must not contain NUL characters"]})
    return text


def _required_text(value: Any, field: str, max_length: int) -> str:
    text = _optional_text(value, field, max_length)
    if not text:
        raise ValidationFailed(f"{field} is required", fields={field: ["required"]})
    return text


def validate_grants(grants: list[str], *, field: str = "permissions") -> list[str]:
    """Operation names or wildcards that match at least one declared operation (``*``, ``cdp.*``, ``cdp.profile.*``)."""
    names = [op.name for op in registry.all_operations()]
    cleaned: list[str] = []
    bad: list[str] = []
    for grant in grants:
        g = str(grant).strip()
        ok = g == "*" or registry.is_declared(g) or (
            g.endswith(".*") and g.count(".") <= 2 and any(registry.matches(g, n) for n in names)
        )
        (cleaned if ok else bad).append(g)
    if bad:
        raise ValidationFailed("unknown permissions", fields={field: [f"unknown permission {b!r}" for b in bad]})
    return sorted(set(cleaned))


def _ensure_can_grant(actor: Actor, grants: list[str], *, is_admin: bool = False, field: str = "permissions") -> None:
    """Nobody hands out more than they hold: no escalation through roles or API keys."""
    if is_admin and not (actor.is_admin or actor.is_system):
        where = "is_admin" if field == "permissions" else field
        raise ValidationFailed("only administrators grant administration", fields={where: ["administrators only"]})
    missing = [g for g in grants if not actor.can(g)]
    if missing:
        raise ValidationFailed(
            "cannot grant permissions you do not hold", fields={field: [f"you do not hold {m!r}" for m in missing]}
        )


# --- organisations ------------------------------------------------------------------------------------------


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_organization(*, name: str, admin_email: str, admin_password: str, admin_name: str = "") -> Membership:
    """A new tenant with its root department, default roles and a first administrator (existing person or new).

    Callers are trusted operators (the CLI, the demo loader): there is no actor yet to check.
    """
    name = _required_text(name, "name", 200)
    email = _clean_email(admin_email, "admin_email")
    user = User.objects.filter(email=email).first()
    if user is None:
        _check_password(admin_password, "admin_password")
    org = Organization.objects.create(name=name, slug=_unique_slug(name))
    root = Department.objects.create(org=org, name=name, path="/")
    roles = {r["name"]: Role.objects.create(org=org, **r) for r in DEFAULT_ROLES}
    if user is None:
        user = User.objects.create_user(email, admin_password, name=admin_name)
    membership = Membership.objects.create(org=org, user=user, department=root, title="Administrator")
    membership.roles.add(roles["Administrator"])
    system = Actor.system(org.pk, label="create_organization")
    auditing.record_write(system, "create", "iam.organization", org.pk, {"name": [None, org.name], "slug": [None, org.slug]},
                          admin_user_id=user.pk)
    return membership


def update_organization(*, actor: Actor, changes: Mapping[str, Any]) -> Organization:
    """Rename the organisation or require a second factor for its administrators."""
    _require(actor, "iam.organization.manage")
    _only_keys(changes, {"name", "require_admin_2fa"})
    org = Organization.objects.get(pk=actor.org_id)
    before = {"name": org.name, "require_admin_2fa": org.require_admin_2fa}
    if "name" in changes:
        org.name = _required_text(changes["name"], "name", 200)
    if "require_admin_2fa" in changes:
        org.require_admin_2fa = bool(changes["require_admin_2fa"])
    org.save(update_fields=["name", "require_admin_2fa"])
    after = {"name": org.name, "require_admin_2fa": org.require_admin_2fa}
    auditing.record_write(actor, "update", "iam.organization", org.pk, auditing.diff(before, after))
    return org


# --- members ------------------------------------------------------------------------------------------------


def _clean_email(value: str, field: str = "email") -> str:
    email = (value or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed("invalid email", fields={field: ["not a valid email address"]}) from exc
    return email


def _check_password(password: str | None, field: str = "password", user: User | None = None) -> None:
    if not password:
        raise ValidationFailed("password is required", fields={field: ["required"]})
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed("weak password", fields={field: list(exc.messages)}) from exc


def member_state(m: Membership) -> dict[str, Any]:
    """The audited view of a membership (the mobile in plain text here; ``diff`` masks it)."""
    return {
        "email": m.user.email,
        "name": m.user.name,
        "title": m.title,
        "department_id": m.department_id,
        "role_ids": sorted(m.roles.values_list("pk", flat=True)),
        "mobile": mobile_plain(m),
        "is_active": m.is_active,
    }


def _roles_for(actor: Actor, role_ids: list[Any]) -> list[Role]:
    ids = {_pk(r) for r in role_ids}
    if None in ids:
        raise ValidationFailed("unknown role", fields={"role_ids": ["not a role id"]})
    roles = list(Role.objects.in_org(actor).filter(pk__in=ids))
    if len(roles) != len(ids):
        raise ValidationFailed("unknown role", fields={"role_ids": ["no such role"]})
    for role in roles:
        _ensure_can_grant(actor, role.permissions, is_admin=role.is_admin, field="role_ids")
    return roles


def add_member(
    *, actor: Actor, email: str, password: str | None = None, name: str = "", title: str = "",
    department: Department | int | None = None, roles: list[Role] | list[int] | None = None, mobile: str = "",
) -> Membership:
    """Invite a person into the organisation: an existing person (by email) is added, a new one is created
    (with ``password``, or with no usable password until one is set). Raises ``Conflict`` when already a member."""
    _require(actor, "iam.user.create")
    email = _clean_email(email)
    dept = _reference(Department.objects, actor, department, "department_id")
    role_list = _roles_for(actor, list(roles or []))
    sealed, index = sealed_mobile(mobile or "")
    title = _optional_text(title, "title", 120)
    name = _optional_text(name, "name", 120)
    user = User.objects.filter(email=email).first()
    if user is not None and Membership.objects.in_org(actor).filter(user=user).exists():
        raise Conflict("already a member", fields={"email": ["already a member of this organisation"]})
    if user is None:
        if password:
            _check_password(password)
        user = User.objects.create_user(email, password or None, name=name)
    m = Membership.objects.create(
        org_id=actor.org_id, user=user, department=dept, title=title, mobile=sealed, mobile_index=index
    )
    if role_list:
        m.roles.set(role_list)
    auditing.record_write(actor, "create", "iam.user", m.pk, auditing.diff({}, member_state(m), personal=PERSONAL))
    return m


invite_member = add_member

MEMBER_FIELDS = {"name", "title", "department_id", "role_ids", "mobile", "custom"}


def update_member(*, actor: Actor, membership_id: int, changes: Mapping[str, Any]) -> Membership:
    """Change a member's name, title, department, roles or mobile. ``changes`` holds only what changes;
    a field the actor's field security hides or makes read-only refuses the whole change (422)."""
    _require(actor, "iam.user.update")
    m = _visible(Membership.objects.select_related("user"), actor, membership_id, "user")
    _only_keys(changes, MEMBER_FIELDS)
    fieldsec.ensure_writable(actor, "iam.user", changes)
    before = member_state(m)
    if "custom" in changes:
        # Custom fields are validated by the platform context's definitions; until it offers the validator
        # through its services, iam refuses them rather than storing unvalidated data.
        raise ValidationFailed("custom fields are not writable here yet", fields={"custom": ["not supported yet"]})
    if "department_id" in changes:
        m.department = _reference(Department.objects, actor, changes["department_id"], "department_id")
    if "title" in changes:
        m.title = _optional_text(changes["title"], "title", 120)
    if "mobile" in changes:
        m.mobile, m.mobile_index = sealed_mobile(changes["mobile"] or "")
    new_roles = _roles_for(actor, list(changes["role_ids"] or [])) if "role_ids" in changes else None
    if new_roles is not None and m.user_id == actor.user_id and not actor.is_system:
        if any(r.is_admin for r in m.roles.all()) and not any(r.is_admin for r in new_roles):
            raise Conflict("you cannot remove your own administration", fields={"role_ids": ["keep an administrator role"]})
    if "name" in changes:
        m.user.name = _optional_text(changes["name"], "name", 120)
        m.user.save(update_fields=["name"])
    m.save()
    if new_roles is not None:
        m.roles.set(new_roles)
    changes_diff = auditing.diff(before, member_state(m), personal=PERSONAL)
    if changes_diff:
        auditing.record_write(actor, "update", "iam.user", m.pk, changes_diff)
    return m


def set_member_active(*, actor: Actor, membership_id: int, active: bool) -> Membership:
    """Disable or enable a member. Disabling ends every session that acts in this organisation at once."""
    _require(actor, "iam.user.disable")
    m = _visible(Membership.objects.select_related("user"), actor, membership_id, "user")
    if not active and m.user_id == actor.user_id and not actor.is_system:
        raise Conflict("you cannot disable yourself", fields={"is_active": ["you cannot disable yourself"]})
    if m.is_active == active:
        return m
    m.is_active = active
    m.save(update_fields=["is_active", "updated_at"])
    ended = 0 if active else end_sessions_of_membership(m, reason="member_disabled")
    auditing.record_write(
        actor, "enable" if active else "disable", "iam.user", m.pk, {"is_active": [not active, active]},
        sessions_ended=ended,
    )
    return m


def disable_member(*, actor: Actor, membership_id: int) -> Membership:
    return set_member_active(actor=actor, membership_id=membership_id, active=False)


def enable_member(*, actor: Actor, membership_id: int) -> Membership:
    return set_member_active(actor=actor, membership_id=membership_id, active=True)


# --- departments --------------------------------------------------------------------------------------------


def _dept_state(d: Department) -> dict[str, Any]:
    return {"name": d.name, "parent_id": d.parent_id, "manager_id": d.manager_id, "path": d.path}


def _manager(actor: Actor, value: Any) -> User | None:
    if value in (None, ""):
        return None
    m = Membership.objects.in_org(actor).filter(user_id=_pk(value), is_active=True).select_related("user").first()
    if m is None:
        raise ValidationFailed("unknown manager", fields={"manager_id": ["not an active member of this organisation"]})
    return m.user


def add_department(
    *, actor: Actor, name: str, parent: Department | int | None, manager: User | int | None = None
) -> Department:
    """A department under ``parent`` (or a new root)."""
    _require(actor, "iam.department.manage")
    name = _required_text(name, "name", 120)
    parent_obj = _reference(Department.objects, actor, parent, "parent_id")
    path = f"{parent_obj.path}{parent_obj.pk}/" if parent_obj else "/"
    if len(path) > 480:
        raise ValidationFailed("too deep", fields={"parent_id": ["the department tree is too deep here"]})
    dept = Department.objects.create(
        org_id=actor.org_id, name=name, parent=parent_obj, path=path, manager=_manager(actor, manager)
    )
    auditing.record_write(actor, "create", "iam.department", dept.pk, auditing.diff({}, _dept_state(dept)))
    return dept


def update_department(*, actor: Actor, department_id: int, changes: Mapping[str, Any]) -> Department:
    """Rename, set the manager, or move (``parent_id``) a department."""
    _require(actor, "iam.department.manage")
    dept = _visible(Department.objects, actor, department_id, "department")
    _only_keys(changes, {"name", "manager_id", "parent_id"})
    fieldsec.ensure_writable(actor, "iam.department", changes)
    before = _dept_state(dept)
    if "name" in changes:
        dept.name = _required_text(changes["name"], "name", 120)
    if "manager_id" in changes:
        dept.manager = _manager(actor, changes["manager_id"])
    dept.save()
    if "parent_id" in changes and _pk(changes["parent_id"]) != dept.parent_id:
        dept = _move(actor, dept, changes["parent_id"])
    d = auditing.diff(before, _dept_state(dept))
    if d:
        auditing.record_write(actor, "update", "iam.department", dept.pk, d)
    return dept


def move_department(*, actor: Actor, department_id: int, new_parent: Department | int | None) -> Department:
    """Move a department (with its whole subtree) under another; never under itself or its own descendant."""
    return update_department(actor=actor, department_id=department_id, changes={"parent_id": _pk(new_parent)})


def _move(actor: Actor, dept: Department, new_parent: Any) -> Department:
    parent = _reference(Department.objects, actor, new_parent, "parent_id")
    old_prefix = f"{dept.path}{dept.pk}/"
    if parent is not None and (parent.pk == dept.pk or f"{parent.path}{parent.pk}/".startswith(old_prefix)):
        raise ValidationFailed("cannot move under itself", fields={"parent_id": ["cannot move a department under itself or its own sub-department"]})
    new_path = f"{parent.path}{parent.pk}/" if parent else "/"
    new_prefix = f"{new_path}{dept.pk}/"
    subtree = Department.objects.in_org(actor).filter(path__startswith=old_prefix)
    deepest = max([len(p) for p in subtree.values_list("path", flat=True)] + [len(old_prefix)])
    if deepest - len(old_prefix) + len(new_prefix) > 500:
        raise ValidationFailed("too deep", fields={"parent_id": ["the department tree would be too deep"]})
    # One UPDATE re-paths the whole subtree: swap the old prefix for the new one.
    subtree.update(path=Concat(Value(new_prefix), Substr(F("path"), len(old_prefix) + 1), output_field=Department._meta.get_field("path")))
    dept.parent = parent
    dept.path = new_path
    dept.save(update_fields=["parent", "path", "updated_at"])
    return dept


def delete_department(*, actor: Actor, department_id: int) -> None:
    """Delete an empty department: one with sub-departments or members is refused (409)."""
    _require(actor, "iam.department.manage")
    dept = _visible(Department.objects, actor, department_id, "department")
    if Department.objects.in_org(actor).filter(parent=dept).exists():
        raise Conflict("department has sub-departments", fields={"department": ["move or delete its sub-departments first"]})
    if Membership.objects.in_org(actor).filter(department=dept).exists():
        raise Conflict("department has members", fields={"department": ["move its members to another department first"]})
    before = _dept_state(dept)
    pk = dept.pk
    dept.delete()
    auditing.record_write(actor, "delete", "iam.department", pk, auditing.diff(before, {}))


# --- roles --------------------------------------------------------------------------------------------------


def role_state(r: Role) -> dict[str, Any]:
    return {
        "name": r.name, "description": r.description, "permissions": sorted(r.permissions),
        "default_scope": r.default_scope, "is_admin": r.is_admin,
        "scopes": {s.object_key: s.scope for s in r.scopes.all().order_by("object_key")},
        "field_rules": sorted(f"{f.object_key}.{f.field_name}={f.access}" for f in r.field_rules.all()),
    }


def _scope(value: Any, field: str) -> str:
    try:
        return DataScope(value).value
    except ValueError as exc:
        raise ValidationFailed("unknown data scope", fields={field: [f"one of {', '.join(s.value for s in DataScope)}"]}) from exc


def _clean_scopes(scopes: Mapping[str, Any]) -> dict[str, str]:
    known = set(object_keys())
    bad = sorted(k for k in scopes if k not in known)
    if bad:
        raise ValidationFailed("unknown objects", fields={"scopes": [f"unknown object {b!r}" for b in bad]})
    return {k: _scope(v, "scopes") for k, v in scopes.items()}


def _clean_field_rules(rules: list[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    known = set(object_keys()) | set(fieldsec.FIELDS)
    out: dict[tuple[str, str], str] = {}
    for rule in rules:
        key, name, access = rule.get("object_key", ""), rule.get("field_name", ""), rule.get("access", "")
        if key not in known:
            raise ValidationFailed("unknown object", fields={"field_rules": [f"unknown object {key!r}"]})
        if not _FIELD_NAME.match(str(name)) or name == "id":
            raise ValidationFailed("bad field name", fields={"field_rules": [f"not a field name {name!r}"]})
        if key in fieldsec.FIELDS and name not in fieldsec.FIELDS[key]:
            raise ValidationFailed("unknown field", fields={"field_rules": [f"{key} has no field {name!r}"]})
        try:
            out[(key, name)] = FieldAccess(access).value
        except ValueError as exc:
            raise ValidationFailed("bad access", fields={"field_rules": ["access is hidden or read_only"]}) from exc
    return [(k, n, a) for (k, n), a in sorted(out.items())]


ROLE_FIELDS = {"name", "description", "permissions", "default_scope", "is_admin", "scopes", "field_rules"}


def _apply_role(actor: Actor, role: Role, changes: Mapping[str, Any]) -> None:
    if "name" in changes:
        role.name = _required_text(changes["name"], "name", 120)
        if Role.objects.in_org(actor).filter(name=role.name).exclude(pk=role.pk).exists():
            raise Conflict("role name taken", fields={"name": ["another role has this name"]})
    if "description" in changes:
        role.description = _optional_text(changes["description"], "description", 2000)
    if "permissions" in changes:
        role.permissions = validate_grants(list(changes["permissions"] or []))
    if "default_scope" in changes:
        role.default_scope = _scope(changes["default_scope"], "default_scope")
    if "is_admin" in changes:
        role.is_admin = bool(changes["is_admin"])
    _ensure_can_grant(actor, role.permissions, is_admin=role.is_admin)
    scopes = _clean_scopes(changes["scopes"] or {}) if "scopes" in changes else None
    rules = _clean_field_rules(list(changes["field_rules"] or [])) if "field_rules" in changes else None
    role.save()
    if scopes is not None:
        role.scopes.all().delete()
        RoleScope.objects.bulk_create([RoleScope(role=role, object_key=k, scope=v) for k, v in sorted(scopes.items())])
    if rules is not None:
        role.field_rules.all().delete()
        FieldSecurity.objects.bulk_create(
            [FieldSecurity(role=role, object_key=k, field_name=n, access=a) for k, n, a in rules]
        )


def create_role(*, actor: Actor, data: Mapping[str, Any]) -> Role:
    """A role from ``name``, ``description``, ``permissions`` (names or wildcards from the registry),
    ``default_scope``, ``is_admin``, ``scopes`` ({object key: scope}) and ``field_rules``
    ([{object_key, field_name, access}])."""
    _require(actor, "iam.role.manage")
    _only_keys(data, ROLE_FIELDS)
    if "name" not in data:
        raise ValidationFailed("name is required", fields={"name": ["required"]})
    role = Role(org_id=actor.org_id, permissions=[], default_scope=DataScope.OWN.value)
    _apply_role(actor, role, data)
    auditing.record_write(actor, "create", "iam.role", role.pk, auditing.diff({}, role_state(role)))
    return role


def update_role(*, actor: Actor, role_id: int, changes: Mapping[str, Any]) -> Role:
    """Change any part of a role; ``scopes`` and ``field_rules``, when given, replace the role's whole set."""
    _require(actor, "iam.role.manage")
    role = _visible(Role.objects, actor, role_id, "role")
    _only_keys(changes, ROLE_FIELDS)
    fieldsec.ensure_writable(actor, "iam.role", changes)
    # Editing a role its holders already have must not let a non-administrator touch an administrator role.
    _ensure_can_grant(actor, role.permissions, is_admin=role.is_admin)
    before = role_state(role)
    if role.is_admin and changes.get("is_admin") is False and not _other_admin_role_members(actor, role):
        raise Conflict("last administrator role", fields={"is_admin": ["the organisation needs an administrator"]})
    _apply_role(actor, role, changes)
    d = auditing.diff(before, role_state(role))
    if d:
        auditing.record_write(actor, "update", "iam.role", role.pk, d)
    return role


def _other_admin_role_members(actor: Actor, role: Role) -> bool:
    return (
        Membership.objects.in_org(actor)
        .filter(is_active=True, roles__is_admin=True)
        .exclude(roles=role)
        .exists()
    )


def delete_role(*, actor: Actor, role_id: int) -> None:
    """Delete a role nobody holds (409 otherwise)."""
    _require(actor, "iam.role.manage")
    role = _visible(Role.objects, actor, role_id, "role")
    _ensure_can_grant(actor, role.permissions, is_admin=role.is_admin)
    if role.memberships.exists():
        raise Conflict("role in use", fields={"role": ["remove it from its members first"]})
    before = role_state(role)
    pk = role.pk
    role.delete()
    auditing.record_write(actor, "delete", "iam.role", pk, auditing.diff(before, {}))


# --- API keys -----------------------------------------------------------------------------------------------


def issue_api_key(
    *, actor: Actor, name: str, scopes: list[str], created_by: User | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw secret, which is shown once and never stored (only its hash)."""
    _require(actor, "iam.apikey.manage")
    name = _required_text(name, "name", 120)
    if not scopes:
        raise ValidationFailed("at least one scope", fields={"scopes": ["at least one scope is required"]})
    scopes = validate_grants(scopes, field="scopes")
    _ensure_can_grant(actor, scopes, field="scopes")
    if expires_at is not None and expires_at <= clock.now():
        raise ValidationFailed("expiry in the past", fields={"expires_at": ["must be in the future"]})
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}{prefix}{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        org_id=actor.org_id, name=name, prefix=prefix, key_hash=hash_key(raw), scopes=scopes,
        created_by=created_by or (User.objects.filter(pk=actor.user_id).first() if actor.user_id else None),
        expires_at=expires_at,
    )
    auditing.record_write(actor, "create", "iam.apikey", key.pk,
                          {"name": [None, name], "scopes": [None, scopes], "prefix": [None, prefix]})
    return key, raw


def revoke_api_key(*, actor: Actor, key: ApiKey | int) -> ApiKey:
    """Revoke a key: it stops authenticating at once. Revoking twice is a no-op."""
    _require(actor, "iam.apikey.manage")
    obj = _visible(ApiKey.objects, actor, key, "API key")
    if obj.revoked_at is None:
        obj.revoked_at = clock.now()
        obj.save(update_fields=["revoked_at", "updated_at"])
        auditing.record_write(actor, "revoke", "iam.apikey", obj.pk, {"revoked_at": [None, obj.revoked_at.isoformat()]})
    return obj
