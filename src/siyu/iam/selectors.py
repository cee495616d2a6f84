"""Reads of identity and access that other code needs: building the actor, listing what an actor may see."""

from __future__ import annotations

from django.db.models import Q

from siyu.kernel.actor import SCOPE_WIDTH, Actor, DataScope, FieldAccess
from siyu.kernel.permissions import Operation, all_operations

from .models import ApiKey, Department, Membership, Organization, Role
from .personal import mobile_index, normalize_mobile


def memberships_of(user) -> list[Membership]:
    """The organisations a person may switch between (the person's own rows: no actor yet)."""
    return list(
        Membership.objects.unscoped_all_orgs()
        .filter(user=user, is_active=True)
        .select_related("org")
        .order_by("org__name")
    )


def _department_tree_ids(org_id: int, dept_ids: set[int]) -> set[int]:
    if not dept_ids:
        return set()
    org = Actor.system(org_id, label="actor-builder")
    roots = Department.objects.in_org(org).filter(pk__in=dept_ids).values_list("path", "pk")
    cond = Q()
    for path, pk in roots:
        cond |= Q(path__startswith=f"{path}{pk}/")
    tree = set(dept_ids)
    if cond:
        tree |= set(Department.objects.in_org(org).filter(cond).values_list("pk", flat=True))
    return tree


def _widest(values) -> DataScope | None:
    best = None
    for v in values:
        s = DataScope(v)
        if best is None or SCOPE_WIDTH[s] > SCOPE_WIDTH[best]:
            best = s
    return best


def actor_for_membership(membership: Membership) -> Actor:
    """Fold the member's roles into one actor.

    Permissions are the union; the scope on an object is the widest any role gives it (a role's explicit
    scope for the object, else its default); a field is restricted only when every role restricts it.
    """
    roles = list(
        Role.objects.in_org(Actor.system(membership.org_id))
        .filter(memberships=membership)
        .prefetch_related("scopes", "field_rules")
    )
    permissions: set[str] = set()
    for role in roles:
        permissions.update(role.permissions)
    explicit = [{rs.object_key: rs.scope for rs in role.scopes.all()} for role in roles]
    keys = {k for e in explicit for k in e}
    scopes = {k: _widest(e.get(k, r.default_scope) for r, e in zip(roles, explicit, strict=True)) for k in keys}
    field_access: dict[str, dict[str, FieldAccess]] = {}
    if roles:
        per_role = [{(r.object_key, r.field_name): FieldAccess(r.access) for r in role.field_rules.all()} for role in roles]
        for key, name in set.intersection(*(set(p) for p in per_role)):
            accesses = [p[(key, name)] for p in per_role]
            access = FieldAccess.READ_ONLY if FieldAccess.READ_ONLY in accesses else FieldAccess.HIDDEN
            field_access.setdefault(key, {})[name] = access
    dept_ids = {membership.department_id} if membership.department_id else set()
    return Actor(
        org_id=membership.org_id,
        user_id=membership.user_id,
        permissions=frozenset(permissions),
        scopes=scopes,
        default_scope=_widest(r.default_scope for r in roles),
        department_id=membership.department_id,
        department_ids=frozenset(dept_ids),
        department_tree_ids=frozenset(_department_tree_ids(membership.org_id, dept_ids)),
        field_access=field_access,
        is_admin=any(r.is_admin for r in roles),
        label=str(membership.user_id),
    )


def organization_by_slug_or_id(value: str) -> Organization | None:
    qs = Organization.objects.all()
    if value.isdigit():
        return qs.filter(pk=int(value)).first()
    return qs.filter(slug=value).first()


# --- listings for the API and the console (already scoped; the edge checks the read permission) ------------


def members_for(
    actor: Actor, *, q: str | None = None, department_id: int | None = None, is_active: bool | None = None,
    role_id: int | None = None, mobile: str | None = None,
):
    """Memberships the actor may see (organisation and data scope), with simple filters."""
    qs = Membership.objects.visible_to(actor).select_related("user").prefetch_related("roles")
    if q:
        qs = qs.filter(Q(user__email__icontains=q) | Q(user__name__icontains=q) | Q(title__icontains=q))
    if department_id is not None:
        qs = qs.filter(department_id=department_id)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    if role_id is not None:
        qs = qs.filter(roles__pk=role_id)
    if mobile:
        qs = qs.filter(mobile_index=mobile_index(normalize_mobile(mobile)))
    return qs


def departments_for(actor: Actor, *, parent_id: int | None = None, q: str | None = None):
    qs = Department.objects.visible_to(actor)
    if parent_id is not None:
        qs = qs.filter(parent_id=parent_id)
    if q:
        qs = qs.filter(name__icontains=q)
    return qs


def department_tree(actor: Actor) -> list[tuple[Department, int]]:
    """Visible departments in tree order (parents before children, siblings by name) with their depth."""
    depts = list(Department.objects.visible_to(actor).select_related("manager"))
    children: dict[int | None, list[Department]] = {}
    ids = {d.pk for d in depts}
    for d in depts:
        # A department whose parent is out of scope is shown as a root of what the actor sees.
        children.setdefault(d.parent_id if d.parent_id in ids else None, []).append(d)
    out: list[tuple[Department, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for d in sorted(children.get(parent, []), key=lambda x: (x.name, x.pk)):
            out.append((d, depth))
            walk(d.pk, depth + 1)

    walk(None, 0)
    return out


def roles_for(actor: Actor, *, q: str | None = None):
    qs = Role.objects.in_org(actor).prefetch_related("scopes", "field_rules")
    if q:
        qs = qs.filter(name__icontains=q)
    return qs


def api_keys_for(actor: Actor, *, active: bool | None = None):
    qs = ApiKey.objects.in_org(actor)
    if active is True:
        qs = qs.filter(revoked_at__isnull=True)
    elif active is False:
        qs = qs.filter(revoked_at__isnull=False)
    return qs


def permission_groups() -> list[tuple[str, list[Operation]]]:
    """Declared operations grouped by context (the first part of the name), for the permission matrix."""
    groups: dict[str, list[Operation]] = {}
    for op in all_operations():
        groups.setdefault(op.name.split(".", 1)[0], []).append(op)
    return sorted(groups.items())


def object_keys() -> list[str]:
    """Objects that roles can scope: every object some declared operation acts on."""
    return sorted({op.object_key for op in all_operations()})
