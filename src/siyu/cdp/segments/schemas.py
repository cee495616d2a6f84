"""API schemas of segments, snapshots and personas. Rules are free JSON here and validated by
:mod:`.rules` (per-path errors); see the README for their grammar."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import Field

from ..schemas import ProfileOut

RULES_DOC = ('Rule tree: {"op": "and"|"or", "rules": [...]}, {"op": "not", "rule": {...}} or a condition with '
             '"type": attribute, tag, identity, consent, lifecycle or event. Omitted: every active profile.')


class SegmentCreate(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    rules: dict[str, Any] | None = Field(None, description=RULES_DOC)
    is_active: bool = True


class SegmentUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    rules: dict[str, Any] | None = Field(None, description=RULES_DOC)
    is_active: bool | None = None


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    rules: dict[str, Any]
    is_active: bool
    member_count: int
    computed_at: dt.datetime | None
    owner_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SegmentPage(Schema):
    items: list[SegmentOut]
    next_cursor: str | None


class PreviewIn(Schema):
    rules: dict[str, Any] = Field(..., description=RULES_DOC)
    sample: int = Field(0, ge=0, le=20, description="also return this many matching profiles (newest first)")


class PreviewOut(Schema):
    count: int
    milliseconds: int
    sample: list[ProfileOut] = []


class RecomputeOut(Schema):
    entered: int
    exited: int
    member_count: int


class SnapshotCreate(Schema):
    label: str = Field("", max_length=120, description="what the snapshot is for (a broadcast's name)")
    consent_purpose: str = Field("", max_length=60, description="keep only profiles that may be contacted for this purpose")
    channel: str = Field("", max_length=40, description="… on this channel")


class SnapshotOut(Schema):
    id: int
    segment_id: int
    label: str
    member_count: int
    created_at: dt.datetime


class SnapshotPage(Schema):
    items: list[SnapshotOut]
    next_cursor: str | None


class PersonaIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    summary: str = Field("", max_length=2000)
    demographics: str = Field("", max_length=4000)
    consumption_habits: str = Field("", max_length=4000)
    interests: str = Field("", max_length=4000)
    decision_path: str = Field("", max_length=4000)
    channels: str = Field("", max_length=4000)
    pain_points: str = Field("", max_length=4000)
    segment_id: int | None = None


class PersonaUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    summary: str | None = Field(None, max_length=2000)
    demographics: str | None = Field(None, max_length=4000)
    consumption_habits: str | None = Field(None, max_length=4000)
    interests: str | None = Field(None, max_length=4000)
    decision_path: str | None = Field(None, max_length=4000)
    channels: str | None = Field(None, max_length=4000)
    pain_points: str | None = Field(None, max_length=4000)
    segment_id: int | None = None


class PersonaOut(Schema):
    id: int
    name: str
    summary: str
    demographics: str
    consumption_habits: str
    interests: str
    decision_path: str
    channels: str
    pain_points: str
    segment_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonaPage(Schema):
    items: list[PersonaOut]
    next_cursor: str | None


class TraitItem(Schema):
    name: str
    count: int
    total: int | None = None


class TraitsOut(Schema):
    size: int
    traits: dict[str, list[TraitItem]]
