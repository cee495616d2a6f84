"""API schemas of the CDP (``/api/v1/cdp``). Outputs leave out what field security hides (``exclude_unset``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from siyu.kernel.api import OutSchema

# A type that takes any printable text comes first: it is what a generated example (schemathesis, the
# authorisation matrix) sends, and the order means nothing else.
IdentityTypeIn = Literal["user_id", "erp_id", "phone", "email", "wecom_external_userid", "unionid", "openid",
                         "anonymous_id", "device_id"]
Kind = Literal["person", "company"]
Gender = Literal["male", "female", "unknown", ""]


class IdentifierIn(Schema):
    model_config = ConfigDict(extra="forbid")
    type: IdentityTypeIn
    value: str = Field(min_length=1, max_length=200)
    namespace: str = Field("", max_length=80, description="WeCom corp id or WeChat app id (external_userid, openid)")


class ProfileFields(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    gender: Gender | None = None
    birthday: dt.date | None = None
    province: str | None = Field(None, max_length=40)
    city: str | None = Field(None, max_length=40)
    source: str | None = Field(None, max_length=60)
    channel: str | None = Field(None, max_length=120)


class ProfileCreate(ProfileFields):
    kind: Kind = "person"
    identifiers: list[IdentifierIn] = Field([], max_length=20)
    custom: dict[str, Any] = {}
    owner_id: int | None = Field(None, description="a user id; default: you, for a person")
    account_id: int | None = Field(None, description="the company account a person belongs to")
    lifecycle_stage: str | None = Field(None, max_length=40)


class AccountCreate(ProfileFields):
    identifiers: list[IdentifierIn] = Field([], max_length=20)
    custom: dict[str, Any] = {}
    owner_id: int | None = None


class ProfileUpdate(ProfileFields):
    kind: Kind | None = None
    custom: dict[str, Any] | None = None
    owner_id: int | None = None
    account_id: int | None = None
    lifecycle_stage: str | None = Field(None, max_length=40)


class ProfileOut(OutSchema):
    id: int
    kind: str | None = None
    status: str | None = None
    name: str | None = None
    gender: str | None = None
    birthday: dt.date | None = None
    province: str | None = None
    city: str | None = None
    source: str | None = None
    channel: str | None = None
    lifecycle_stage: str | None = None
    owner_id: int | None = None
    department_id: int | None = None
    account_id: int | None = None
    identity_count: int | None = None
    first_seen_at: dt.datetime | None = None
    last_seen_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    custom: dict[str, Any] = {}


class ProfilePage(OutSchema):
    items: list[ProfileOut]
    next_cursor: str | None


class IdentityOut(OutSchema):
    id: int
    type: str
    namespace: str
    masked: str
    source: str
    created_at: dt.datetime


class TagOut(OutSchema):
    id: int
    group: str
    name: str
    group_kind: str
    channel: str


class Ref(OutSchema):
    id: int
    name: str


class ProfileDetail(ProfileOut):
    merged_into_id: int | None = None
    identities: list[IdentityOut] | None = None
    tags: list[TagOut] | None = None
    owner: Ref | None = None
    account: Ref | None = None


class ProfileWritten(OutSchema):
    created: bool = Field(description="true: a new profile; false: the identifiers matched an existing one")
    profile: ProfileDetail
    merged_profile_ids: list[int] = Field([], description="profiles resolution merged into this one")
    review_id: int | None = Field(None, description="a merge the guard sent to the review queue")


class SearchOut(OutSchema):
    match: Literal["exact", "name"]
    items: list[ProfileOut]


class OwnerIn(Schema):
    model_config = ConfigDict(extra="forbid")
    owner_id: int | None = Field(description="a user id of an active member; null clears the owner")


class RevealIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200, description="why you need to see it (audited)")


class RevealOut(Schema):
    id: int
    type: str
    value: str


class TagCreate(Schema):
    model_config = ConfigDict(extra="forbid")
    group: str = Field(min_length=1, max_length=80)
    name: str = Field(min_length=1, max_length=80)


class TagsIn(Schema):
    model_config = ConfigDict(extra="forbid")
    tags: list[TagCreate] = Field(min_length=1, max_length=50,
                                  description="by group and name (unique per group); a tag that does not exist yet "
                                              "is created, which needs cdp.tag.manage")


class ConsentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    purpose: str = Field(min_length=1, max_length=60, description="marketing, profiling, conversation_archive, …")
    granted: bool
    channel: str = Field("", max_length=40, description="empty: every channel of the purpose")
    source: str = Field("api", min_length=1, max_length=60)
    notice_version: str = Field("", max_length=40)
    evidence: dict[str, Any] = {}


class ConsentRecordOut(Schema):
    id: int
    purpose: str
    channel: str
    granted: bool
    at: dt.datetime
    source: str
    notice_version: str
    actor_user_id: int | None
    evidence: dict[str, Any]


class ConsentStateOut(Schema):
    purpose: str
    label: str
    channel: str
    granted: bool | None
    at: dt.datetime | None
    source: str | None


class ConsentOut(Schema):
    status: list[ConsentStateOut]
    history: list[ConsentRecordOut]


class PurposeOut(Schema):
    key: str
    label: str
    channels: list[str]
    is_sensitive: bool
    notice_version: str


class StageIn(Schema):
    model_config = ConfigDict(extra="forbid")
    stage: str = Field(min_length=1, max_length=40)


class StageDef(Schema):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=40)
    label: str = Field(min_length=1, max_length=80)


class StagesIn(Schema):
    model_config = ConfigDict(extra="forbid")
    stages: list[StageDef] = Field(min_length=1, max_length=20)


class StageOut(Schema):
    key: str
    label: str
    order: int


class TransitionOut(Schema):
    stage: str
    entered_at: dt.datetime
    exited_at: dt.datetime | None


class LifecycleOut(Schema):
    stage: str
    changed_at: dt.datetime | None
    history: list[TransitionOut]


class TimelineItem(OutSchema):
    id: int
    kind: str
    label: str
    icon: str
    summary: str
    at: dt.datetime
    ref_type: str
    ref_id: str
    link: str | None = None  # where the full content is read, only for actors allowed to read it


class TimelinePage(OutSchema):
    items: list[TimelineItem]
    next_cursor: str | None


class ReviewOut(Schema):
    id: int
    profiles: list[int]
    reason: str
    status: str
    identifiers: list[list[str]]
    source: str
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by_id: int | None


class ReviewPage(Schema):
    items: list[ReviewOut]
    next_cursor: str | None


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_id: int
    reason: str
    created_at: dt.datetime
    undone_at: dt.datetime | None
    actor_user_id: int | None
    survivor_name: str
    merged_name: str


class MergePage(Schema):
    items: list[MergeOut]
    next_cursor: str | None
