"""The iam API under ``/api/v1/iam``: users (memberships), departments, roles with their data scopes and field
rules, API keys. Each operation parses, authorises (``require``), calls one service or selector and returns a
schema; lists are keyset-paginated (``cursor``, ``limit``)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from siyu.kernel.api import ERRORS, get_visible_or_404, require
from siyu.kernel.errors import ValidationFailed
from siyu.kernel.pagination import paginate

from . import presenters, selectors, services
from .models import ApiKey, Department, Membership, Role
from .schemas import (
    NO_NUL,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyPage,
    DepartmentCreate,
    DepartmentOut,
    DepartmentPage,
    DepartmentUpdate,
    RoleCreate,
    RoleOut,
    RolePage,
    RoleUpdate,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)

router = Router(tags=["iam"])

CURSOR = Query(None, max_length=500, pattern=NO_NUL, description="next_cursor of the previous page")
SEARCH = Query(None, max_length=200, pattern=NO_NUL, description="text search")
MOBILE = Query(None, max_length=40, pattern=NO_NUL, description="exact mobile number, any format")


def _page(actor, qs, present, cursor, limit):
    try:
        page = paginate(qs, cursor=cursor, limit=limit)
    except (ValueError, TypeError) as exc:
        # A forged cursor whose values do not fit the ordering columns (kernel.pagination checks only its shape).
        if not cursor:
            raise
        raise ValidationFailed("bad cursor", fields={"cursor": ["not a cursor this API issued"]}) from exc
    return {"items": [present(actor, row) for row in page.items], "next_cursor": page.next_cursor}


# --- users --------------------------------------------------------------------------------------------------


def _member(actor, pk):
    return get_visible_or_404(Membership.objects.select_related("user").prefetch_related("roles"), actor, pk=pk)


@router.get("/users", response={200: UserPage, **ERRORS}, exclude_unset=True, summary="List users")
def list_users(
    request: HttpRequest, cursor: str | None = CURSOR, limit: int = 50, q: str | None = SEARCH,
    department_id: int | None = None, is_active: bool | None = None, role_id: int | None = None,
    mobile: str | None = MOBILE,
):
    actor = require(request, "iam.user.read")
    qs = selectors.members_for(actor, q=q, department_id=department_id, is_active=is_active, role_id=role_id,
                               mobile=mobile)
    return _page(actor, qs, presenters.user_data, cursor, limit)


@router.post("/users", response={201: UserOut, **ERRORS}, exclude_unset=True, summary="Invite a user")
def create_user(request: HttpRequest, payload: UserCreate):
    actor = require(request, "iam.user.create")
    m = services.add_member(
        actor=actor, email=payload.email, password=payload.password, name=payload.name, title=payload.title,
        department=payload.department_id, roles=payload.role_ids, mobile=payload.mobile,
    )
    return Status(201, presenters.user_data(actor, _member(actor, m.pk)))


@router.get("/users/{user_id}", response={200: UserOut, **ERRORS}, exclude_unset=True, summary="Get a user")
def get_user(request: HttpRequest, user_id: int):
    actor = require(request, "iam.user.read")
    return presenters.user_data(actor, _member(actor, user_id))


@router.patch("/users/{user_id}", response={200: UserOut, **ERRORS}, exclude_unset=True, summary="Update a user")
def update_user(request: HttpRequest, user_id: int, payload: UserUpdate):
    actor = require(request, "iam.user.update")
    services.update_member(actor=actor, membership_id=user_id, changes=payload.model_dump(exclude_unset=True))
    return presenters.user_data(actor, _member(actor, user_id))


@router.post("/users/{user_id}/disable", response={200: UserOut, **ERRORS}, exclude_unset=True,
             summary="Disable a user (ends their sessions)")
def disable_user(request: HttpRequest, user_id: int):
    actor = require(request, "iam.user.disable")
    services.disable_member(actor=actor, membership_id=user_id)
    return presenters.user_data(actor, _member(actor, user_id))


@router.post("/users/{user_id}/enable", response={200: UserOut, **ERRORS}, exclude_unset=True,
             summary="Enable a user")
def enable_user(request: HttpRequest, user_id: int):
    actor = require(request, "iam.user.disable")
    services.enable_member(actor=actor, membership_id=user_id)
    return presenters.user_data(actor, _member(actor, user_id))


# --- departments --------------------------------------------------------------------------------------------


@router.get("/departments", response={200: DepartmentPage, **ERRORS}, exclude_unset=True,
            summary="List departments")
def list_departments(request: HttpRequest, cursor: str | None = CURSOR, limit: int = 50,
                     parent_id: int | None = None, q: str | None = SEARCH):
    actor = require(request, "iam.department.read")
    return _page(actor, selectors.departments_for(actor, parent_id=parent_id, q=q), presenters.department_data,
                 cursor, limit)


@router.post("/departments", response={201: DepartmentOut, **ERRORS}, exclude_unset=True,
             summary="Create a department")
def create_department(request: HttpRequest, payload: DepartmentCreate):
    actor = require(request, "iam.department.manage")
    d = services.add_department(actor=actor, name=payload.name, parent=payload.parent_id, manager=payload.manager_id)
    return Status(201, presenters.department_data(actor, d))


@router.get("/departments/{department_id}", response={200: DepartmentOut, **ERRORS}, exclude_unset=True,
            summary="Get a department")
def get_department(request: HttpRequest, department_id: int):
    actor = require(request, "iam.department.read")
    return presenters.department_data(actor, get_visible_or_404(Department.objects, actor, pk=department_id))


@router.patch("/departments/{department_id}", response={200: DepartmentOut, **ERRORS}, exclude_unset=True,
              summary="Rename, move or set the manager of a department")
def update_department(request: HttpRequest, department_id: int, payload: DepartmentUpdate):
    actor = require(request, "iam.department.manage")
    d = services.update_department(actor=actor, department_id=department_id, changes=payload.model_dump(exclude_unset=True))
    return presenters.department_data(actor, d)


@router.delete("/departments/{department_id}", response={204: None, **ERRORS}, summary="Delete an empty department")
def delete_department(request: HttpRequest, department_id: int):
    actor = require(request, "iam.department.manage")
    services.delete_department(actor=actor, department_id=department_id)
    return Status(204, None)


# --- roles --------------------------------------------------------------------------------------------------


def _role(actor, pk):
    return get_visible_or_404(Role.objects.prefetch_related("scopes", "field_rules"), actor, pk=pk)


@router.get("/roles", response={200: RolePage, **ERRORS}, exclude_unset=True, summary="List roles")
def list_roles(request: HttpRequest, cursor: str | None = CURSOR, limit: int = 50, q: str | None = SEARCH):
    actor = require(request, "iam.role.read")
    return _page(actor, selectors.roles_for(actor, q=q), presenters.role_data, cursor, limit)


@router.post("/roles", response={201: RoleOut, **ERRORS}, exclude_unset=True, summary="Create a role")
def create_role(request: HttpRequest, payload: RoleCreate):
    actor = require(request, "iam.role.manage")
    role = services.create_role(actor=actor, data=payload.model_dump())
    return Status(201, presenters.role_data(actor, _role(actor, role.pk)))


@router.get("/roles/{role_id}", response={200: RoleOut, **ERRORS}, exclude_unset=True, summary="Get a role")
def get_role(request: HttpRequest, role_id: int):
    actor = require(request, "iam.role.read")
    return presenters.role_data(actor, _role(actor, role_id))


@router.patch("/roles/{role_id}", response={200: RoleOut, **ERRORS}, exclude_unset=True,
              summary="Update a role, its data scopes and field rules")
def update_role(request: HttpRequest, role_id: int, payload: RoleUpdate):
    actor = require(request, "iam.role.manage")
    services.update_role(actor=actor, role_id=role_id, changes=payload.model_dump(exclude_unset=True))
    return presenters.role_data(actor, _role(actor, role_id))


@router.delete("/roles/{role_id}", response={204: None, **ERRORS}, summary="Delete a role nobody holds")
def delete_role(request: HttpRequest, role_id: int):
    actor = require(request, "iam.role.manage")
    services.delete_role(actor=actor, role_id=role_id)
    return Status(204, None)


# --- API keys -----------------------------------------------------------------------------------------------


@router.get("/api-keys", response={200: ApiKeyPage, **ERRORS}, exclude_unset=True, summary="List API keys")
def list_api_keys(request: HttpRequest, cursor: str | None = CURSOR, limit: int = 50, active: bool | None = None):
    actor = require(request, "iam.apikey.manage")
    return _page(actor, selectors.api_keys_for(actor, active=active), presenters.api_key_data, cursor, limit)


@router.post("/api-keys", response={201: ApiKeyCreated, **ERRORS}, exclude_unset=True,
             summary="Issue an API key (the secret is in this response only)")
def create_api_key(request: HttpRequest, payload: ApiKeyCreate):
    actor = require(request, "iam.apikey.manage")
    key, raw = services.issue_api_key(actor=actor, name=payload.name, scopes=payload.scopes,
                                      expires_at=payload.expires_at)
    return Status(201, {**presenters.api_key_data(actor, key), "key": raw})


@router.get("/api-keys/{key_id}", response={200: ApiKeyOut, **ERRORS}, exclude_unset=True, summary="Get an API key")
def get_api_key(request: HttpRequest, key_id: int):
    actor = require(request, "iam.apikey.manage")
    return presenters.api_key_data(actor, get_visible_or_404(ApiKey.objects, actor, pk=key_id))


@router.post("/api-keys/{key_id}/revoke", response={200: ApiKeyOut, **ERRORS}, exclude_unset=True,
             summary="Revoke an API key")
def revoke_api_key(request: HttpRequest, key_id: int):
    actor = require(request, "iam.apikey.manage")
    return presenters.api_key_data(actor, services.revoke_api_key(actor=actor, key=key_id))
