"""What an actor is shown of iam's records, as plain dictionaries shared by the API and the console:
personal data masked, fields hidden by field security left out."""

from __future__ import annotations

from typing import Any

from siyu.kernel.actor import Actor

from .fieldsec import visible
from .models import ApiKey, Department, Membership, Role
from .personal import mobile_for_display


def user_data(actor: Actor, m: Membership) -> dict[str, Any]:
    return visible(actor, "iam.user", {
        "id": m.pk,
        "user_id": m.user_id,
        "email": m.user.email,
        "name": m.user.name,
        "title": m.title,
        "department_id": m.department_id,
        "role_ids": sorted(r.pk for r in m.roles.all()),
        "mobile": mobile_for_display(actor, m),
        "is_active": m.is_active,
        "custom": m.custom,
        "created_at": m.created_at,
    })


def department_data(actor: Actor, d: Department) -> dict[str, Any]:
    return visible(actor, "iam.department", {
        "id": d.pk, "name": d.name, "parent_id": d.parent_id, "path": d.path, "manager_id": d.manager_id,
        "created_at": d.created_at,
    })


def role_data(actor: Actor, r: Role) -> dict[str, Any]:
    return visible(actor, "iam.role", {
        "id": r.pk,
        "name": r.name,
        "description": r.description,
        "permissions": sorted(r.permissions),
        "default_scope": r.default_scope,
        "is_admin": r.is_admin,
        "scopes": {s.object_key: s.scope for s in r.scopes.all()},
        "field_rules": [
            {"object_key": f.object_key, "field_name": f.field_name, "access": f.access}
            for f in sorted(r.field_rules.all(), key=lambda f: (f.object_key, f.field_name))
        ],
        "created_at": r.created_at,
    })


def api_key_data(actor: Actor, k: ApiKey) -> dict[str, Any]:
    return visible(actor, "iam.apikey", {
        "id": k.pk, "name": k.name, "prefix": k.prefix, "scopes": list(k.scopes), "created_by_id": k.created_by_id,
        "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    })
