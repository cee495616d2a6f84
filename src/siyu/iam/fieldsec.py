"""Field security for iam's own objects: hide fields when serialising, refuse writes to restricted fields.

Field rules live on roles (``FieldSecurity``) and are folded into ``Actor.field_access`` by the selectors; this
module only applies them. ``FIELDS`` lists the fields of iam's objects that rules can name (the console's field
security page offers them; other contexts' objects are typed in by key until the platform metadata describes
them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed

# Object key -> fields a rule can restrict (the API field names). ``id`` is never restrictable.
FIELDS: dict[str, tuple[str, ...]] = {
    "iam.user": ("email", "name", "title", "department_id", "role_ids", "mobile", "is_active", "custom"),
    "iam.department": ("name", "parent_id", "manager_id"),
    "iam.role": ("name", "description", "permissions", "default_scope", "is_admin", "scopes", "field_rules"),
    "iam.apikey": ("name", "scopes", "expires_at", "last_used_at"),
}


def visible(actor: Actor, object_key: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the fields the actor may not see."""
    hidden = actor.hidden_fields(object_key)
    return {k: v for k, v in data.items() if k not in hidden}


def ensure_writable(actor: Actor, object_key: str, fields: Iterable[str]) -> None:
    """A write naming a hidden or read-only field is refused whole (422), before anything changes."""
    blocked = actor.read_only_fields(object_key)
    hidden = actor.hidden_fields(object_key)
    errors = {
        f: ["this field is not visible to you" if f in hidden else "this field is read-only for you"]
        for f in sorted(set(fields) & blocked)
    }
    if errors:
        raise ValidationFailed("field security forbids this change", fields=errors)
