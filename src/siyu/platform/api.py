"""The platform API under ``/api/v1/platform``: objects, field definitions and custom object records.

Each operation parses, authorises (``require``), calls one service or selector and returns a schema. Record
lists filter with ``filter[field][op]=value`` query parameters (or ``filters`` as a JSON list), sort with
``sort=field,-other`` and page with ``cursor``/``limit``.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from siyu.kernel.api import ERRORS, require
from siyu.kernel.pagination import paginate

from . import selectors, services
from .filtering import apply_filters, parse_json_filters, parse_query_filters
from .models import FieldDefinition, ObjectDefinition
from .schemas import (
    FieldCreate,
    FieldOut,
    FieldUpdate,
    ListParams,
    ObjectCreate,
    ObjectOut,
    RecordOut,
    RecordPage,
    RecordWrite,
)
from .serialization import serialize_record

router = Router(tags=["platform"])

KEY = Path(..., max_length=80, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
FIELD_KEY = Path(..., max_length=40, pattern=r"^[a-z][a-z0-9_]*$")


def _object(obj: ObjectDefinition) -> dict:
    return {"key": obj.key, "label": str(obj.label), "is_standard": obj.is_standard, "scope_key": obj.scope_key}


def _field(fd: FieldDefinition) -> dict:
    return {"key": fd.key, "label": fd.label, "type": fd.type, "options": fd.options, "required": fd.required,
            "indexed": fd.indexed, "order": fd.order, "is_standard": fd.is_standard,
            "archived": fd.archived_at is not None}


def _record(actor, meta, record, *, unmask: bool = False) -> dict:
    return {"object": meta.key, **serialize_record(actor, meta, record, unmask=unmask)}


# --- objects and fields ------------------------------------------------------------------------------------

@router.get("/objects", response={200: list[ObjectOut], **ERRORS}, summary="List objects (standard and custom)")
def list_objects(request: HttpRequest):
    actor = require(request, "platform.object.read")
    return [_object(o) for o in selectors.list_objects(actor)]


@router.post("/objects", response={201: ObjectOut, **ERRORS}, summary="Create a custom object")
def create_object(request: HttpRequest, payload: ObjectCreate):
    actor = require(request, "platform.object.manage")
    return Status(201, _object(services.create_object(actor=actor, key=payload.key, label=payload.label)))


@router.get("/objects/{key}/fields", response={200: list[FieldOut], **ERRORS}, summary="List an object's custom fields")
def list_fields(request: HttpRequest, key: str = KEY, include_archived: bool = False):
    actor = require(request, "platform.object.read")
    return [_field(f) for f in selectors.list_fields(actor, key, include_archived=include_archived)]


@router.post("/objects/{key}/fields", response={201: FieldOut, **ERRORS}, summary="Add a custom field")
def create_field(request: HttpRequest, payload: FieldCreate, key: str = KEY):
    actor = require(request, "platform.field.manage")
    fd = services.create_field(actor=actor, object_key=key, **payload.model_dump())
    return Status(201, _field(fd))


@router.patch("/objects/{key}/fields/{field_key}", response={200: FieldOut, **ERRORS},
              summary="Change a custom field (never its key)")
def update_field(request: HttpRequest, payload: FieldUpdate, key: str = KEY, field_key: str = FIELD_KEY):
    actor = require(request, "platform.field.manage")
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    return _field(services.update_field(actor=actor, object_key=key, field_key=field_key, **changes))


@router.delete("/objects/{key}/fields/{field_key}", response={200: FieldOut, **ERRORS},
               summary="Archive a custom field (values are kept)")
def archive_field(request: HttpRequest, key: str = KEY, field_key: str = FIELD_KEY):
    actor = require(request, "platform.field.manage")
    return _field(services.archive_field(actor=actor, object_key=key, field_key=field_key))


# --- records -----------------------------------------------------------------------------------------------

@router.get("/objects/{key}/records", response={200: RecordPage, **ERRORS}, summary="List records of a custom object")
def list_records(request: HttpRequest, key: str = KEY, params: Query[ListParams] = None):
    actor = require(request, "platform.record.read")
    meta = selectors.custom_object_meta(actor, key)
    filters = parse_query_filters(request.GET) + parse_json_filters(params.filters)
    qs, order = apply_filters(selectors.records_visible_to(actor, meta), actor=actor, meta=meta, filters=filters,
                              sort=params.sort)
    page = paginate(qs, order=order, cursor=params.cursor, limit=params.limit)
    return {"items": [_record(actor, meta, r) for r in page.items], "next_cursor": page.next_cursor}


@router.post("/objects/{key}/records", response={201: RecordOut, **ERRORS}, summary="Create a record")
def create_record(request: HttpRequest, payload: RecordWrite, key: str = KEY):
    actor = require(request, "platform.record.create")
    record = services.create_record(actor=actor, object_key=key, data=payload.data)
    return Status(201, _record(actor, selectors.custom_object_meta(actor, key), record))


@router.get("/objects/{key}/records/{record_id}", response={200: RecordOut, **ERRORS}, summary="Get a record")
def get_record(request: HttpRequest, record_id: int, key: str = KEY, unmask: bool = False):
    actor = require(request, "platform.record.read")
    meta = selectors.custom_object_meta(actor, key)
    if unmask:
        record = services.unmask_record(actor=actor, object_key=key, record_id=record_id)
    else:
        record = selectors.visible_record(actor, meta, record_id)
    return _record(actor, meta, record, unmask=unmask)


@router.patch("/objects/{key}/records/{record_id}", response={200: RecordOut, **ERRORS}, summary="Update a record")
def update_record(request: HttpRequest, payload: RecordWrite, record_id: int, key: str = KEY):
    actor = require(request, "platform.record.update")
    record = services.update_record(actor=actor, object_key=key, record_id=record_id, data=payload.data)
    return _record(actor, selectors.custom_object_meta(actor, key), record)


@router.delete("/objects/{key}/records/{record_id}", response={204: None, **ERRORS}, summary="Delete a record")
def delete_record(request: HttpRequest, record_id: int, key: str = KEY):
    actor = require(request, "platform.record.delete")
    services.delete_record(actor=actor, object_key=key, record_id=record_id)
    return Status(204, None)
