from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema


class ProcessIn(Schema):
    object_key: str
    name: str
    conditions: list[dict[str, Any]] = []
    steps: list[dict[str, Any]]
    priority: int = 0
    remind_after_hours: int = 24


class ProcessOut(Schema):
    id: int
    object_key: str
    name: str
    conditions: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    priority: int
    remind_after_hours: int
    is_active: bool


class SubmitIn(Schema):
    object_key: str
    object_id: str
    comment: str = ""


class DecisionIn(Schema):
    approve: bool
    comment: str = ""


class CommentIn(Schema):
    body: str


class TaskOut(Schema):
    id: int
    step: int
    approver_id: int
    on_behalf_of_id: int | None
    status: str
    comment: str
    decided_at: dt.datetime | None


class CommentOut(Schema):
    id: int
    user_id: int | None
    kind: str
    body: str
    created_at: dt.datetime


class RequestOut(Schema):
    id: int
    process_id: int | None
    object_key: str
    object_id: str
    title: str
    status: str
    step: int
    submitted_by_id: int | None
    snapshot: dict[str, Any] | None
    snapshot_hash: str
    created_at: dt.datetime
    decided_at: dt.datetime | None
    tasks: list[TaskOut] = []
    comments: list[CommentOut] = []


class RequestPage(Schema):
    items: list[RequestOut]
    next_cursor: str | None


class DelegationIn(Schema):
    delegate_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime


class DelegationOut(Schema):
    id: int
    delegate_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime


class NoticeOut(Schema):
    id: int
    request_id: int
    kind: str
    text: str
    read_at: dt.datetime | None
    created_at: dt.datetime


class ReadIn(Schema):
    ids: list[int]


class CountOut(Schema):
    count: int
