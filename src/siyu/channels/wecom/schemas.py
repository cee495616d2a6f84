"""API schemas of the WeCom channel (``/api/v1/channels/wecom``). Secrets go in, never out."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field


class CorpCreate(Schema):
    model_config = ConfigDict(extra="forbid")
    corp_id: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=80)
    secret: str = Field(min_length=1, max_length=200, description="the customer-contact secret")
    callback_token: str = Field(min_length=1, max_length=32)
    encoding_aes_key: str = Field(min_length=43, max_length=43)
    agent_id: int | None = Field(None, ge=1, le=2**31 - 1)
    agent_secret: str = Field("", max_length=200)
    api_base: str = Field("", max_length=300, description="empty = WeCom; the simulator's URL in development")


class CorpUpdate(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=80)
    secret: str | None = Field(None, max_length=200, description="empty or absent keeps the stored secret")
    callback_token: str | None = Field(None, max_length=32)
    encoding_aes_key: str | None = Field(None, max_length=43)
    agent_id: int | None = Field(None, ge=1, le=2**31 - 1)
    agent_secret: str | None = Field(None, max_length=200)
    api_base: str | None = Field(None, max_length=300)
    is_active: bool | None = None


class CorpOut(Schema):
    id: int
    corp_id: str
    name: str
    api_base: str
    agent_id: int | None
    has_app: bool
    is_active: bool
    callback_url: str
    created_at: dt.datetime


SyncKind = Literal["employees", "contacts", "reconcile", "tags"]


class SyncIn(Schema):
    model_config = ConfigDict(extra="forbid")
    kind: SyncKind


class SyncRunOut(Schema):
    id: int
    kind: str
    status: str
    total: int
    done: int
    added: int
    updated: int
    deleted: int
    error: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class FollowOut(Schema):
    userid: str
    employee: str
    remark: str
    added_at: dt.datetime | None
    add_way: int | None
    state: str
    tag_ids: list[str]
    deleted: bool
    deleted_by: str
    live_code_id: int | None


class ContactOut(Schema):
    id: int
    corp_id: str
    external_userid: str
    name: str
    type: int
    profile_id: int | None
    follows: list[FollowOut]


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None


class TagChange(Schema):
    model_config = ConfigDict(extra="forbid")
    add: list[str] = Field([], max_length=100, description="WeCom corp tag ids")
    remove: list[str] = Field([], max_length=100)


class MarkedOut(Schema):
    marked: int


class MemberIn(Schema):
    model_config = ConfigDict(extra="forbid")
    userid: str = Field(min_length=1, max_length=64)
    weight: int = Field(1, ge=1, le=100)
    is_backup: bool = False


class ScheduleIn(Schema):
    model_config = ConfigDict(extra="forbid")
    weekdays: list[int] = Field([1, 2, 3, 4, 5, 6, 7], max_length=7)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class AttachmentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["image", "link", "miniprogram"]
    media_id: str = Field("", max_length=200)
    url: str = Field("", max_length=1000)
    title: str = Field("", max_length=200)
    description: str = Field("", max_length=500)
    picture_url: str = Field("", max_length=1000)
    appid: str = Field("", max_length=64)
    page: str = Field("", max_length=500)
    picture_media_id: str = Field("", max_length=200)


class WelcomeIn(Schema):
    model_config = ConfigDict(extra="forbid")
    text: str = Field("", max_length=4000)
    attachments: list[AttachmentIn] = Field([], max_length=9)


class LiveCodeFields(Schema):
    model_config = ConfigDict(extra="forbid")
    skip_verify: bool | None = None
    schedule: ScheduleIn | None = None
    daily_cap: int | None = Field(None, ge=1, le=100_000)
    tag_ids: list[str] | None = Field(None, max_length=100)
    welcome: WelcomeIn | None = None
    channel_label: str | None = Field(None, max_length=120)
    source_label: str | None = Field(None, max_length=60)


class LiveCodeCreate(LiveCodeFields):
    corp: int = Field(description="the corp's id in Siyu")
    name: str = Field(min_length=1, max_length=80)
    state: str = Field("", max_length=30, description="empty: a unique one is generated")
    members: list[MemberIn] = Field(min_length=1, max_length=100)


class LiveCodeUpdate(LiveCodeFields):
    name: str | None = Field(None, min_length=1, max_length=80)
    state: str | None = Field(None, min_length=1, max_length=30)
    members: list[MemberIn] | None = Field(None, min_length=1, max_length=100)


class MemberOut(Schema):
    userid: str
    name: str
    weight: int
    is_backup: bool


class LiveCodeOut(Schema):
    id: int
    corp: int
    name: str
    state: str
    config_id: str
    qr_code: str
    skip_verify: bool
    schedule: dict
    daily_cap: int | None
    tag_ids: list[str]
    welcome: dict
    channel_label: str
    source_label: str
    current_users: list[str]
    members: list[MemberOut]
    is_active: bool
    created_at: dt.datetime


class StatsOut(Schema):
    days: list[str]
    adds: list[int]
    deletions: list[int]
    net: list[int]
    retention: list[float | None]
    totals: dict[str, int]


# --- customer groups, group live codes, transfers ------------------------------------------------------------------


class GroupOut(Schema):
    id: int
    corp: int
    chat_id: str
    name: str
    owner: str | None
    status: int
    member_count: int
    external_count: int
    dismissed_at: dt.datetime | None
    synced_at: dt.datetime | None


class GroupPage(Schema):
    items: list[GroupOut]
    next_cursor: str | None


class GroupStatsOut(Schema):
    days: list[str]
    joins: list[int]
    quits: list[int]
    members: list[int]


class GroupCodeCreate(Schema):
    corp: int
    name: str = Field(..., max_length=200)
    state: str | None = Field(None, max_length=200)
    chat_ids: list[str] = Field(..., max_length=20)
    capacity: int | None = None
    auto_create_room: bool = False
    room_base_name: str | None = Field(None, max_length=200)
    room_base_id: int | None = None


class GroupCodeOut(Schema):
    id: int
    corp: int
    name: str
    state: str
    config_id: str
    qr_code: str
    chat_ids: list[str]
    current_chat_ids: list[str]
    capacity: int
    auto_create_room: bool
    room_base_name: str
    is_active: bool


class TransferCreate(Schema):
    corp: int
    kind: str = "onjob"
    handover: str = Field(..., max_length=64)
    takeover: str = Field(..., max_length=64)
    external_userids: list[str] = Field(..., max_length=200)
    message: str | None = Field(None, max_length=1000)


class TransferOut(Schema):
    id: int
    corp: int
    kind: str
    handover: str
    takeover: str
    external_userid: str
    status: str
    errcode: int
    reason: str
    started_at: dt.datetime
    expected_takeover_at: dt.datetime
    takeover_at: dt.datetime | None


class PolledOut(Schema):
    settled: int
