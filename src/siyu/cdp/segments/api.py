"""Segments and personas under ``/api/v1/cdp/segments``: CRUD, the live count (``POST /preview``), members
(keyset-paginated, within the caller's data scope), snapshots and persona traits.

Each operation parses, authorises (``require``), calls one service or selector and returns a schema. Rule
errors are 422 with the path of the bad node as the field (``{"rules.rules[1].within_days": ["…"]}``).
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from siyu.kernel.api import ERRORS, require

from .. import presenters
from ..schemas import ProfilePage
from ..selectors import profile_meta
from . import selectors, services
from .schemas import (
    PersonaIn,
    PersonaOut,
    PersonaPage,
    PersonaUpdate,
    PreviewIn,
    PreviewOut,
    RecomputeOut,
    SegmentCreate,
    SegmentOut,
    SegmentPage,
    SegmentUpdate,
    SnapshotCreate,
    SnapshotOut,
    SnapshotPage,
    TraitsOut,
)

router = Router(tags=["cdp segments"])


class PageParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)


def _profile_reader(request: HttpRequest):
    """Member lists show profiles: they need the profile read permission as well as the segment one."""
    require(request, "cdp.segment.read")
    return require(request, "cdp.profile.read")


def _profiles(actor, page) -> dict:
    meta = profile_meta(actor)
    return {"items": [presenters.profile_data(actor, meta, p) for p in page.items], "next_cursor": page.next_cursor}


def _snapshot(s) -> dict:
    return {"id": s.pk, "segment_id": s.segment_id, "label": s.purpose, "member_count": s.member_count,
            "created_at": s.created_at}


# --- segments ---------------------------------------------------------------------------------------------

@router.get("", response={200: SegmentPage, **ERRORS}, summary="List segments")
def list_segments(request: HttpRequest, params: Query[PageParams]):
    actor = require(request, "cdp.segment.read")
    page = selectors.page_segments(actor, cursor=params.cursor, limit=params.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("", response={201: SegmentOut, **ERRORS}, summary="Create a segment (members are computed at once)")
def create_segment(request: HttpRequest, payload: SegmentCreate):
    actor = require(request, "cdp.segment.manage")
    segment = services.create_segment(actor=actor, name=payload.name, description=payload.description,
                                      rules=payload.rules, is_active=payload.is_active)
    return Status(201, segment)


@router.post("/preview", response={200: PreviewOut, **ERRORS},
             summary="Count the profiles (you can see) that rules select now: the rule builder's live count")
def preview(request: HttpRequest, payload: PreviewIn):
    actor = _profile_reader(request) if payload.sample else require(request, "cdp.segment.read")
    result = services.preview_segment(actor=actor, rules=payload.rules, sample=payload.sample)
    meta = profile_meta(actor) if result.sample else None
    return {"count": result.count, "milliseconds": result.milliseconds,
            "sample": [presenters.profile_data(actor, meta, p) for p in result.sample]}


# personas before "/{segment_id}" so that the literal path is matched first
@router.get("/personas", response={200: PersonaPage, **ERRORS}, summary="List personas")
def list_personas(request: HttpRequest, params: Query[PageParams]):
    actor = require(request, "cdp.segment.read")
    page = selectors.page_personas(actor, cursor=params.cursor, limit=params.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/personas", response={201: PersonaOut, **ERRORS}, summary="Create a persona")
def create_persona(request: HttpRequest, payload: PersonaIn):
    actor = require(request, "cdp.persona.manage")
    return Status(201, services.create_persona(actor=actor, data=payload.model_dump()))


@router.get("/personas/{persona_id}", response={200: PersonaOut, **ERRORS}, summary="A persona")
def get_persona(request: HttpRequest, persona_id: int):
    actor = require(request, "cdp.segment.read")
    return selectors.persona(actor, persona_id)


@router.patch("/personas/{persona_id}", response={200: PersonaOut, **ERRORS}, summary="Change a persona")
def update_persona(request: HttpRequest, persona_id: int, payload: PersonaUpdate):
    actor = require(request, "cdp.persona.manage")
    return services.update_persona(actor=actor, persona_id=persona_id, data=payload.model_dump(exclude_unset=True))


@router.delete("/personas/{persona_id}", response={204: None, **ERRORS}, summary="Delete a persona")
def delete_persona(request: HttpRequest, persona_id: int):
    actor = require(request, "cdp.persona.manage")
    services.delete_persona(actor=actor, persona_id=persona_id)
    return Status(204, None)


@router.get("/personas/{persona_id}/traits", response={200: TraitsOut, **ERRORS},
            summary="Size and trait distributions of the persona's segment (members you can see)")
def persona_traits(request: HttpRequest, persona_id: int):
    actor = require(request, "cdp.segment.read")
    return selectors.persona_traits(actor, selectors.persona(actor, persona_id))


@router.get("/{segment_id}", response={200: SegmentOut, **ERRORS}, summary="A segment")
def get_segment(request: HttpRequest, segment_id: int):
    actor = require(request, "cdp.segment.read")
    return selectors.segment(actor, segment_id)


@router.patch("/{segment_id}", response={200: SegmentOut, **ERRORS},
              summary="Change a segment (new rules recompute its members)")
def update_segment(request: HttpRequest, segment_id: int, payload: SegmentUpdate):
    actor = require(request, "cdp.segment.manage")
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    return services.update_segment(actor=actor, segment_id=segment_id, changes=changes)


@router.delete("/{segment_id}", response={204: None, **ERRORS}, summary="Delete a segment")
def delete_segment(request: HttpRequest, segment_id: int):
    actor = require(request, "cdp.segment.manage")
    services.delete_segment(actor=actor, segment_id=segment_id)
    return Status(204, None)


@router.post("/{segment_id}/recompute", response={200: RecomputeOut, **ERRORS},
             summary="Recompute the members now, emitting SegmentEntered / SegmentExited for each change")
def recompute(request: HttpRequest, segment_id: int):
    actor = require(request, "cdp.segment.manage")
    changes = services.recompute_segment(actor=actor, segment_id=segment_id)
    segment = selectors.segment(actor, segment_id)
    return {"entered": sum(map(len, changes.entered.values())), "exited": sum(map(len, changes.exited.values())),
            "member_count": segment.member_count}


@router.get("/{segment_id}/members", response={200: ProfilePage, **ERRORS}, exclude_unset=True,
            summary="Current members you can see, newest profile first (keyset: pass next_cursor back)")
def list_members(request: HttpRequest, segment_id: int, params: Query[PageParams]):
    actor = _profile_reader(request)
    segment = selectors.segment(actor, segment_id)
    return _profiles(actor, selectors.page_members(actor, segment, cursor=params.cursor, limit=params.limit))


@router.post("/{segment_id}/snapshots", response={201: SnapshotOut, **ERRORS},
             summary="Freeze the members now (optionally only those with consent for a purpose and channel)")
def create_snapshot(request: HttpRequest, segment_id: int, payload: SnapshotCreate):
    actor = require(request, "cdp.segment.manage")
    snapshot = services.create_snapshot(actor=actor, segment_id=segment_id, label=payload.label,
                                        consent_purpose=payload.consent_purpose, channel=payload.channel)
    return Status(201, _snapshot(snapshot))


@router.get("/{segment_id}/snapshots", response={200: SnapshotPage, **ERRORS}, summary="Snapshots, newest first")
def list_snapshots(request: HttpRequest, segment_id: int, params: Query[PageParams]):
    actor = require(request, "cdp.segment.read")
    segment = selectors.segment(actor, segment_id)
    page = selectors.page_snapshots(actor, segment, cursor=params.cursor, limit=params.limit)
    return {"items": [_snapshot(s) for s in page.items], "next_cursor": page.next_cursor}


@router.get("/{segment_id}/snapshots/{snapshot_id}/members", response={200: ProfilePage, **ERRORS},
            exclude_unset=True, summary="A snapshot's frozen members you can see")
def list_snapshot_members(request: HttpRequest, segment_id: int, snapshot_id: int, params: Query[PageParams]):
    actor = _profile_reader(request)
    snapshot = selectors.snapshot(actor, selectors.segment(actor, segment_id), snapshot_id)
    return _profiles(actor, selectors.page_snapshot_members(actor, snapshot, cursor=params.cursor,
                                                            limit=params.limit))
