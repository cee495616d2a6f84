"""Writes of identity and access. Services never commit: the edge (request, command, job) owns the transaction."""

from __future__ import annotations

import secrets

from django.utils.text import slugify

from siyu.kernel import clock
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.errors import Conflict, ValidationFailed

from .auth import KEY_PREFIX, hash_key
from .models import ApiKey, Department, Membership, Organization, Role, User

# The roles every new organisation starts with; administrators edit them freely afterwards.
DEFAULT_ROLES = [
    {"name": "Administrator", "permissions": ["*"], "default_scope": DataScope.ORGANIZATION, "is_admin": True},
    {"name": "Sales manager", "permissions": ["cdp.*", "sales.*", "iam.user.read", "iam.department.read"],
     "default_scope": DataScope.DEPARTMENT_TREE, "is_admin": False},
    {"name": "Sales rep", "permissions": ["cdp.profile.read", "cdp.profile.update", "sales.*", "iam.user.read"],
     "default_scope": DataScope.OWN, "is_admin": False},
]


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_organization(*, name: str, admin_email: str, admin_password: str, admin_name: str = "") -> Membership:
    """A new tenant with its root department, default roles and a first administrator (existing person or new)."""
    name = name.strip()
    if not name:
        raise ValidationFailed("name is required", fields={"name": ["required"]})
    org = Organization.objects.create(name=name, slug=_unique_slug(name))
    root = Department.objects.create(org=org, name=name, path="/")
    roles = {r["name"]: Role.objects.create(org=org, **r) for r in DEFAULT_ROLES}
    user = User.objects.filter(email=admin_email.strip().lower()).first()
    if user is None:
        user = User.objects.create_user(admin_email, admin_password, name=admin_name)
    membership = Membership.objects.create(org=org, user=user, department=root, title="Administrator")
    membership.roles.add(roles["Administrator"])
    return membership


def add_department(*, actor: Actor, name: str, parent: Department | None) -> Department:
    path = f"{parent.path}{parent.pk}/" if parent else "/"
    return Department.objects.create(org_id=actor.org_id, name=name, parent=parent, path=path)


def add_member(
    *, actor: Actor, email: str, password: str | None, name: str = "", department: Department | None = None,
    roles: list[Role] | None = None,
) -> Membership:
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, password, name=name)
    if Membership.objects.visible_to(Actor.system(actor.org_id)).filter(user=user).exists():
        raise Conflict("already a member", fields={"email": ["already a member of this organisation"]})
    m = Membership.objects.create(org_id=actor.org_id, user=user, department=department)
    if roles:
        m.roles.set(roles)
    return m


def issue_api_key(*, actor: Actor, name: str, scopes: list[str], created_by: User | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw secret, which is shown once and never stored."""
    if not scopes:
        raise ValidationFailed("at least one scope", fields={"scopes": ["at least one scope is required"]})
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}{prefix}{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        org_id=actor.org_id, name=name, prefix=prefix, key_hash=hash_key(raw), scopes=scopes, created_by=created_by
    )
    return key, raw


def revoke_api_key(*, actor: Actor, key: ApiKey) -> None:
    key.revoked_at = clock.now()
    key.save(update_fields=["revoked_at", "updated_at"])
