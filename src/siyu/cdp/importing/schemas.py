"""API schemas of imports and exports (``/api/v1/cdp/imports``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field


class ImportCreate(Schema):
    """A small file sent in the JSON body (text, or base64 for GBK files and spreadsheets); larger files go
    to ``POST /upload`` as multipart, the console, or ``siyu import``."""

    model_config = ConfigDict(extra="forbid")
    file_name: str = Field(min_length=1, max_length=255)
    content: str = Field(max_length=900_000)
    content_encoding: Literal["text", "base64"] = "text"
    mapping: dict[str, Any] | None = Field(None, description="save this mapping at once (see the mapping format)")


class MappingIn(Schema):
    model_config = ConfigDict(extra="forbid")
    columns: dict[str, Any] = Field(description='column -> target: "name", "identifier:phone", "tag:Group", '
                                                '"custom:key", "skip", or {"to": …} objects')
    source: str = Field("import", max_length=60)
    allow_without_identifier: bool = False


class ImportResult(Schema):
    created: int
    merged: int
    errors: int
    updated: int
    profiles_merged: int
    reviews: int
    duplicates: int
    skipped: int
    failure: str = ""


class ImportOut(Schema):
    id: int
    file_name: str
    status: str
    dry_run: bool
    encoding: str
    columns: list[str]
    mapping: dict[str, Any]
    total_rows: int
    done_rows: int
    result: ImportResult
    has_error_report: bool
    stale: bool
    created_at: dt.datetime
    finished_at: dt.datetime | None = None


class ImportPage(Schema):
    items: list[ImportOut]
    next_cursor: str | None = None


class ImportPreviewOut(Schema):
    encoding: str
    kind: str
    columns: list[str]
    rows: list[list[str]]
    suggested: dict[str, str]
