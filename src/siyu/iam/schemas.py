"""API schemas of iam. Output fields a role may hide are optional: field security omits them from responses
(operations use ``exclude_unset``), so a hidden field is absent, not null."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from ninja import Schema
from pydantic import Field

from siyu.kernel.actor import DataScope, FieldAccess

# NUL cannot be stored or compared in PostgreSQL text: refusing it in the schema keeps it a 422, not a 500.
NO_NUL = r"^[^\x00]*$"


class UserOut(Schema):
    id: int
    user_id: int | None = None
    email: str | None = None
    name: str | None = None
    title: str | None = None
    department_id: int | None = None
    role_ids: list[int] | None = None
    mobile: str | None = Field(None, description="masked (138****5678)")
    is_active: bool | None = None
    custom: dict[str, Any] | None = None
    created_at: dt.datetime | None = None


class UserPage(Schema):
    items: list[UserOut]
    next_cursor: str | None


class UserCreate(Schema):
    email: str = Field(..., max_length=254, pattern=NO_NUL)
    name: str = Field("", max_length=120, pattern=NO_NUL)
    title: str = Field("", max_length=120, pattern=NO_NUL)
    password: str | None = Field(None, max_length=200, pattern=NO_NUL, description="for a new person; omit to invite without one")
    department_id: int | None = None
    role_ids: list[int] = Field(default_factory=list, max_length=100)
    mobile: str = Field("", max_length=40, pattern=NO_NUL)


class UserUpdate(Schema):
    name: str | None = Field(None, max_length=120, pattern=NO_NUL)
    title: str | None = Field(None, max_length=120, pattern=NO_NUL)
    department_id: int | None = None
    role_ids: list[int] | None = Field(None, max_length=100)
    mobile: str | None = Field(None, max_length=40, pattern=NO_NUL)
    custom: dict[str, Any] | None = None


class DepartmentOut(Schema):
    id: int
    name: str | None = None
    parent_id: int | None = None
    path: str | None = None
    manager_id: int | None = None
    created_at: dt.datetime | None = None


class DepartmentPage(Schema):
    items: list[DepartmentOut]
    next_cursor: str | None


class DepartmentCreate(Schema):
    name: str = Field(..., max_length=120, pattern=NO_NUL)
    parent_id: int | None = None
    manager_id: int | None = Field(None, description="a person's user_id")


class DepartmentUpdate(Schema):
    name: str | None = Field(None, max_length=120, pattern=NO_NUL)
    parent_id: int | None = Field(None, description="moves the department with its subtree; null makes it a root")
    manager_id: int | None = None


class FieldRule(Schema):
    object_key: str = Field(..., max_length=80, pattern=NO_NUL)
    field_name: str = Field(..., max_length=80, pattern=NO_NUL)
    access: FieldAccess


class RoleOut(Schema):
    id: int
    name: str | None = None
    description: str | None = None
    permissions: list[str] | None = None
    default_scope: DataScope | None = None
    is_admin: bool | None = None
    scopes: dict[str, DataScope] | None = None
    field_rules: list[FieldRule] | None = None
    created_at: dt.datetime | None = None


class RolePage(Schema):
    items: list[RoleOut]
    next_cursor: str | None


class RoleCreate(Schema):
    name: str = Field(..., max_length=120, pattern=NO_NUL)
    description: str = Field("", max_length=2000, pattern=NO_NUL)
    permissions: list[Annotated[str, Field(max_length=200, pattern=NO_NUL)]] = Field(default_factory=list, max_length=500)
    default_scope: DataScope = DataScope.OWN
    is_admin: bool = False
    scopes: dict[Annotated[str, Field(max_length=80, pattern=NO_NUL)], DataScope] = Field(default_factory=dict, description="object key -> data scope")
    field_rules: list[FieldRule] = Field(default_factory=list, max_length=1000)


class RoleUpdate(Schema):
    name: str | None = Field(None, max_length=120, pattern=NO_NUL)
    description: str | None = Field(None, max_length=2000, pattern=NO_NUL)
    permissions: list[Annotated[str, Field(max_length=200, pattern=NO_NUL)]] | None = Field(None, max_length=500)
    default_scope: DataScope | None = None
    is_admin: bool | None = None
    scopes: dict[Annotated[str, Field(max_length=80, pattern=NO_NUL)], DataScope] | None = Field(None, description="replaces the role's scopes")
    field_rules: list[FieldRule] | None = Field(None, max_length=1000, description="replaces the role's rules")


class ApiKeyOut(Schema):
    id: int
    name: str | None = None
    prefix: str | None = None
    scopes: list[str] | None = None
    created_by_id: int | None = None
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(..., description="the secret, shown this once and never again")


class ApiKeyPage(Schema):
    items: list[ApiKeyOut]
    next_cursor: str | None


class ApiKeyCreate(Schema):
    name: str = Field(..., max_length=120, pattern=NO_NUL)
    scopes: list[Annotated[str, Field(max_length=200, pattern=NO_NUL)]] = Field(..., min_length=1, max_length=500)
    expires_at: dt.datetime | None = None
