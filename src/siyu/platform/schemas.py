"""API schemas of the platform context."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field


class ObjectOut(Schema):
    key: str
    label: str
    is_standard: bool
    scope_key: str


class ObjectCreate(Schema):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=47, description="custom.<name> or <name>; the key is created as "
                                                               "custom.<name>")
    label: str = Field(min_length=1, max_length=120)


class FieldOut(Schema):
    key: str
    label: str
    type: str
    options: dict[str, Any]
    required: bool
    indexed: bool
    order: int
    is_standard: bool
    archived: bool


class FieldCreate(Schema):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=40)
    label: str = Field(min_length=1, max_length=120)
    type: str = Field(min_length=1, max_length=30)
    options: dict[str, Any] = {}
    required: bool = False
    indexed: bool = False
    order: int = Field(0, ge=-100000, le=100000)


class FieldUpdate(Schema):
    """Everything but the key (immutable: sending it is a 422)."""

    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, min_length=1, max_length=120)
    type: str | None = Field(None, min_length=1, max_length=30)
    options: dict[str, Any] | None = None
    required: bool | None = None
    indexed: bool | None = None
    order: int | None = Field(None, ge=-100000, le=100000)


class RecordOut(Schema):
    id: int
    object: str
    owner_id: int | None = None
    department_id: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    data: dict[str, Any]


class RecordPage(Schema):
    items: list[RecordOut]
    next_cursor: str | None


class RecordWrite(Schema):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = {}


class ListParams(Schema):
    """Query parameters of a metadata-driven list (records here; other contexts may subclass to add their own).
    ``filter[field][op]=value`` parameters are read from the query string besides these."""

    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    sort: str | None = Field(None, max_length=200, description="field or -field, comma-separated (at most 3)")
    filters: str | None = Field(None, max_length=10000, description='JSON: [{"field": "k", "op": "eq", "value": 1}]; '
                                                                    "or use filter[field][op]=value parameters")
