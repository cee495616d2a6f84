"""Reads of identity and access that other code needs: building the actor, listing what an actor may see."""

from __future__ import annotations

from django.db.models import Q

from siyu.kernel.actor import SCOPE_WIDTH, Actor, DataScope, FieldAccess

from .models import Department, Membership, Organization, Role


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
