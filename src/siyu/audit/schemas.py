from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema

# NUL cannot be stored or compared in PostgreSQL text; refusing it here keeps such input a 422, not a 500.
_NO_NUL = r"^[^\x00]*$"


class AuditEntryFilters(Schema):
    action: str | None = Field(None, max_length=40, pattern=_NO_NUL, description="e.g. create, update, login, denied, export")
    object_type: str | None = Field(None, max_length=80, pattern=_NO_NUL, description='object key, e.g. "iam.user"')
    object_id: str | None = Field(None, max_length=80, pattern=_NO_NUL)
    actor_user_id: int | None = Field(None, ge=1, le=2**63 - 1)
    since: dt.datetime | None = Field(None, description="entries at or after this time")
    until: dt.datetime | None = Field(None, description="entries before this time")


class AuditEntryOut(Schema):
    id: int
    seq: int
    at: dt.datetime
    action: str
    object_type: str
    object_id: str
    actor_user_id: int | None
    actor_api_key_id: int | None
    actor_label: str
    changes: dict[str, Any]
    ip: str | None
    meta: dict[str, Any]
    prev_hash: str
    hash: str


class AuditEntryPage(Schema):
    items: list[AuditEntryOut]
    next_cursor: str | None
