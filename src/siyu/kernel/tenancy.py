"""Row scope lives here and nowhere else.

Every tenant row carries ``org``; :meth:`TenantQuerySet.visible_to` applies organisation, department and owner
scope as one indexed predicate. Code outside this module never filters by organisation by hand
(``tests/kernel/test_no_hand_written_tenant_filters.py`` proves it). The only way around the scope is the
visibly named :meth:`TenantQuerySet.unscoped_all_orgs`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .actor import Actor, DataScope


class TenantQuerySet(models.QuerySet):
    def in_org(self, actor: Actor) -> TenantQuerySet:
        """Rows of the actor's organisation, without data scope (for org-wide reference data)."""
        return self.filter(org_id=actor.org_id)

    def visible_to(self, actor: Actor) -> TenantQuerySet:
        """Rows the actor may see: its organisation, narrowed by the data scope its roles give it."""
        qs = self.filter(org_id=actor.org_id)
        key = getattr(self.model, "scope_key", None)
        # Only a class-level string declares a data scope: a model may have a *field* of that name (platform's
        # ObjectDefinition stores each object's scope key), whose class attribute is a field descriptor.
        if not isinstance(key, str) or not key:
            return qs
        scope = actor.scope_for(key)
        if scope is None:
            return qs.none()
        if actor.sees_whole_org(key):
            return qs
        condition = getattr(self.model, "scope_condition", None)
        if callable(condition):
            # A row with no owner or department column of its own (a WeCom contact is seen through the employees
            # who follow it) says in one Q which of its rows a narrower scope leaves.
            return qs.filter(condition(actor, scope))
        owner = getattr(self.model, "scope_owner_field", None)
        dept = getattr(self.model, "scope_department_field", None)
        cond = Q(**{f"{owner}_id": actor.user_id}) if owner and actor.user_id else Q(pk__in=[])
        if dept and scope == DataScope.DEPARTMENT:
            cond |= Q(**{f"{dept}_id__in": sorted(actor.department_ids)})
        elif dept and scope == DataScope.DEPARTMENT_TREE:
            cond |= Q(**{f"{dept}_id__in": sorted(actor.department_tree_ids)})
        return qs.filter(cond)

    def unscoped_all_orgs(self) -> TenantQuerySet:
        """Dangerous: every organisation's rows. For system jobs that then act per organisation."""
        return self.all()


TenantManager = models.Manager.from_queryset(TenantQuerySet)


class TenantModel(models.Model):
    """Base of every business row.

    Subclasses that are data-scoped set ``scope_key`` (the object key used by roles, e.g. ``"cdp.profile"``)
    and ``scope_owner_field`` / ``scope_department_field`` naming their owner and department foreign keys. A
    model whose rows have no such columns provides instead a classmethod ``scope_condition(actor, scope) -> Q``
    for the scopes narrower than the organisation; it must be one indexed predicate (subqueries, no per-row
    Python), since every list of the model is filtered by it.
    """

    org = models.ForeignKey("iam.Organization", on_delete=models.PROTECT, related_name="+", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_key: str | None = None
    scope_owner_field: str | None = None
    scope_department_field: str | None = None

    objects = TenantManager()

    class Meta:
        abstract = True
