"""Who is acting: built once per request (or job) by iam, read by the tenancy layer and services.

Kernel owns the shape so that scoping code never has to import iam.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from . import permissions as perms


class DataScope(enum.StrEnum):
    OWN = "own"
    DEPARTMENT = "department"
    DEPARTMENT_TREE = "department_tree"
    ORGANIZATION = "organization"


SCOPE_WIDTH = {
    DataScope.OWN: 0,
    DataScope.DEPARTMENT: 1,
    DataScope.DEPARTMENT_TREE: 2,
    DataScope.ORGANIZATION: 3,
}


class FieldAccess(enum.StrEnum):
    HIDDEN = "hidden"
    READ_ONLY = "read_only"


@dataclass(frozen=True)
class Actor:
    org_id: int
    user_id: int | None
    permissions: frozenset[str] = frozenset()
    # object key ("iam.user", "cdp.profile") -> widest data scope over the actor's roles
    scopes: dict[str, DataScope] = field(default_factory=dict)
    default_scope: DataScope | None = None
    department_id: int | None = None
    # departments the actor belongs to, and those plus all their descendants
    department_ids: frozenset[int] = frozenset()
    department_tree_ids: frozenset[int] = frozenset()
    # object key -> {field name -> FieldAccess}; the most permissive over the actor's roles
    field_access: dict[str, dict[str, FieldAccess]] = field(default_factory=dict)
    is_admin: bool = False
    api_key_id: int | None = None
    is_system: bool = False
    label: str = ""

    def can(self, operation: str) -> bool:
        if self.is_system:
            return True
        return any(perms.matches(g, operation) for g in self.permissions)

    def scope_for(self, object_key: str) -> DataScope | None:
        if self.is_system or self.is_admin:
            return DataScope.ORGANIZATION
        return self.scopes.get(object_key, self.default_scope)

    def sees_whole_org(self, object_key: str) -> bool:
        """The actor's data scope for ``object_key`` is the whole organisation: no row of it can be out of scope."""
        return self.scope_for(object_key) == DataScope.ORGANIZATION

    def hidden_fields(self, object_key: str) -> set[str]:
        if self.is_system or self.is_admin:
            return set()
        return {f for f, a in self.field_access.get(object_key, {}).items() if a == FieldAccess.HIDDEN}

    def read_only_fields(self, object_key: str) -> set[str]:
        if self.is_system or self.is_admin:
            return set()
        return {f for f, a in self.field_access.get(object_key, {}).items() if a is not None}

    @classmethod
    def system(cls, org_id: int, label: str = "system") -> Actor:
        """The dangerous actor: sees the whole organisation. Jobs and migrations only, never a request."""
        return cls(org_id=org_id, user_id=None, is_system=True, label=label)
