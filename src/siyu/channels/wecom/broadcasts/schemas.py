"""API schemas of WeCom broadcasts (``/api/v1/channels/wecom/broadcasts``). Attachments come in as welcome
messages' do (``AttachmentIn``); the service checks each field against WeCom's limits."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import ConfigDict, Field

from siyu.channels.wecom.schemas import AttachmentIn
from siyu.channels.wecom.validation import ATTACHMENTS_MAX, TEXT_MAX_BYTES


class BroadcastCreate(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    corp_id: int = Field(description="the corp's id in Siyu")
    segment_id: int = Field(description="its members are frozen now, narrowed to marketing consent on WeCom")
    snapshot_id: int | None = Field(None, description="an existing snapshot of the segment instead")
    text: str = Field("", max_length=TEXT_MAX_BYTES, description=f"≤ {TEXT_MAX_BYTES} bytes; may be empty "
                      "when there is an attachment")
    attachments: list[AttachmentIn] = Field([], max_length=ATTACHMENTS_MAX)
    scheduled_at: dt.datetime | None = Field(None, description="empty: now; at most 60 days ahead")


class BroadcastOut(Schema):
    id: int
    name: str
    corp_id: int
    segment_id: int | None
    snapshot_id: int
    text: str
    attachments: list[dict[str, str]]
    status: str
    scheduled_at: dt.datetime
    planned_at: dt.datetime | None
    handed_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime
    error: str
    counts: dict[str, int] | None = Field(None, description="customers per status (one broadcast only)")


class BroadcastPage(Schema):
    items: list[BroadcastOut]
    next_cursor: str | None


class EmployeeResultOut(Schema):
    userid: str
    name: str
    total: int
    sent: int
    accepted: int = Field(description="handed to WeCom, the employee has not sent it yet")
    not_friend: int
    refused_limit: int
    failed: int
