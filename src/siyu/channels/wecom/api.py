"""The WeCom channel API under ``/api/v1/channels/wecom``: corps (connect, settings, syncs), external contacts
(list, one, tag in WeCom; only those in the caller's customer scope), channel live codes (create, update, delete,
statistics).

Each operation parses, authorises (``require``), calls one service or selector and returns a schema. A WeCom
failure is a 502 (``channel_failed``), 422 (``channel_rejected``) or 429 (``edge.py``) and nothing is kept.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from siyu.kernel.api import ERRORS, ErrorOut, require
from siyu.kernel.pagination import paginate

from . import corps, grouplivecodes, groups, livecodes, presenters, selectors, sync, transfers
from . import tags as corp_tags
from .edge import translating
from .schemas import (
    ContactOut,
    ContactPage,
    CorpCreate,
    CorpOut,
    CorpUpdate,
    GroupCodeCreate,
    GroupCodeOut,
    GroupPage,
    GroupStatsOut,
    LiveCodeCreate,
    LiveCodeOut,
    LiveCodeUpdate,
    MarkedOut,
    PolledOut,
    StatsOut,
    SyncIn,
    SyncRunOut,
    TagChange,
    TransferCreate,
    TransferOut,
)

router = Router(tags=["channels.wecom"])
CHANNEL_ERRORS = {**ERRORS, 502: ErrorOut}


class ListParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    corp: int | None = Field(None, description="a corp's id in Siyu")
    q: str | None = Field(None, max_length=100)


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


# --- corps ----------------------------------------------------------------------------------------------------


@router.get("/corps", response={200: list[CorpOut], **ERRORS})
def list_corps(request: HttpRequest):
    actor = require(request, "channels.wecom.read")
    return [presenters.corp_data(c, _base(request)) for c in selectors.corps(actor)]


@router.post("/corps", response={201: CorpOut, **ERRORS})
def create_corp(request: HttpRequest, payload: CorpCreate):
    actor = require(request, "channels.wecom.manage")
    corp = corps.add_corp(actor=actor, data=payload.model_dump())
    return Status(201, presenters.corp_data(corp, _base(request)))


@router.get("/corps/{corp_id}", response={200: CorpOut, **ERRORS})
def get_corp(request: HttpRequest, corp_id: int):
    actor = require(request, "channels.wecom.read")
    return presenters.corp_data(corps.corp_of(actor, corp_id), _base(request))


@router.patch("/corps/{corp_id}", response={200: CorpOut, **ERRORS})
def update_corp(request: HttpRequest, corp_id: int, payload: CorpUpdate):
    actor = require(request, "channels.wecom.manage")
    corp = corps.update_corp(actor=actor, corp_pk=corp_id, data=payload.model_dump(exclude_unset=True))
    return presenters.corp_data(corp, _base(request))


@router.post("/corps/{corp_id}/syncs", response={202: SyncRunOut, **ERRORS})
def start_sync(request: HttpRequest, corp_id: int, payload: SyncIn):
    actor = require(request, "channels.wecom.manage")
    return Status(202, presenters.sync_run_data(sync.start_sync(actor=actor, corp_pk=corp_id, kind=payload.kind)))


@router.get("/corps/{corp_id}/syncs", response={200: list[SyncRunOut], **ERRORS})
def list_syncs(request: HttpRequest, corp_id: int):
    actor = require(request, "channels.wecom.read")
    runs = selectors.sync_runs(actor, corps.corp_of(actor, corp_id))[:50]
    return [presenters.sync_run_data(r) for r in runs]


# --- external contacts ------------------------------------------------------------------------------------------


@router.get("/contacts", response={200: ContactPage, **ERRORS})
def list_contacts(request: HttpRequest, params: Query[ListParams]):
    actor = require(request, "channels.wecom.read")
    qs = selectors.external_contacts(actor, corp_pk=params.corp, q=(params.q or "").strip())
    page = paginate(qs, order=["-id"], cursor=params.cursor, limit=params.limit)
    follows = selectors.follows_of(actor, page.items)
    return {"items": [presenters.contact_data(c, follows[c.pk]) for c in page.items],
            "next_cursor": page.next_cursor}


@router.get("/contacts/{contact_id}", response={200: ContactOut, **ERRORS})
def get_contact(request: HttpRequest, contact_id: int):
    actor = require(request, "channels.wecom.read")
    contact = selectors.external_contact_of(actor, contact_id)  # 404 outside the caller's customer scope
    return presenters.contact_data(contact, selectors.follows_of(actor, [contact])[contact.pk])


@router.post("/contacts/{contact_id}/tags", response={200: MarkedOut, **CHANNEL_ERRORS})
def tag_contact(request: HttpRequest, contact_id: int, payload: TagChange):
    actor = require(request, "channels.wecom.manage")
    with translating():
        marked = corp_tags.tag_contact(actor=actor, contact_pk=contact_id, add=payload.add, remove=payload.remove)
    return {"marked": marked}


# --- live codes ---------------------------------------------------------------------------------------------------


@router.get("/live-codes", response={200: list[LiveCodeOut], **ERRORS})
def list_live_codes(request: HttpRequest, corp: int | None = None):
    actor = require(request, "channels.livecode.read")
    return [presenters.live_code_data(c) for c in selectors.live_codes(actor, corp_pk=corp)[:500]]


@router.post("/live-codes", response={201: LiveCodeOut, **CHANNEL_ERRORS})
def create_live_code(request: HttpRequest, payload: LiveCodeCreate):
    actor = require(request, "channels.livecode.manage")
    data = payload.model_dump(exclude_unset=True)
    corp = data.pop("corp")
    with translating():
        code = livecodes.create_live_code(actor=actor, corp_pk=corp, data=data)
    return Status(201, presenters.live_code_data(code))


@router.get("/live-codes/{code_id}", response={200: LiveCodeOut, **ERRORS})
def get_live_code(request: HttpRequest, code_id: int):
    actor = require(request, "channels.livecode.read")
    return presenters.live_code_data(livecodes.live_code_of(actor, code_id))


@router.patch("/live-codes/{code_id}", response={200: LiveCodeOut, **CHANNEL_ERRORS})
def update_live_code(request: HttpRequest, code_id: int, payload: LiveCodeUpdate):
    actor = require(request, "channels.livecode.manage")
    with translating():
        code = livecodes.update_live_code(actor=actor, code_pk=code_id, data=payload.model_dump(exclude_unset=True))
    return presenters.live_code_data(code)


@router.delete("/live-codes/{code_id}", response={204: None, **CHANNEL_ERRORS})
def delete_live_code(request: HttpRequest, code_id: int):
    actor = require(request, "channels.livecode.manage")
    with translating():
        livecodes.delete_live_code(actor=actor, code_pk=code_id)
    return Status(204, None)


@router.get("/live-codes/{code_id}/stats", response={200: StatsOut, **ERRORS})
def live_code_stats(request: HttpRequest, code_id: int, days: int = Query(30, ge=1, le=180)):
    actor = require(request, "channels.livecode.read")
    code = livecodes.live_code_of(actor, code_id)
    return {**livecodes.stats_series(code, days=days), "totals": livecodes.totals(code)}


# --- customer groups ------------------------------------------------------------------------------------------------


@router.get("/groups", response={200: GroupPage, **ERRORS})
def list_groups(request: HttpRequest, params: Query[ListParams]):
    actor = require(request, "channels.wecom.read")
    corp = corps.corp_of(actor, params.corp) if params.corp else None
    qs = groups.groups_for(actor, corp)
    if params.q:
        qs = qs.filter(name__icontains=params.q.strip())
    page = paginate(qs, order=["-id"], cursor=params.cursor, limit=params.limit)
    return {"items": [presenters.group_data(g) for g in page.items], "next_cursor": page.next_cursor}


@router.get("/groups/{group_id}/stats", response={200: GroupStatsOut, **ERRORS})
def group_stats(request: HttpRequest, group_id: int, days: int = Query(30, ge=1, le=180)):
    actor = require(request, "channels.wecom.read")
    return groups.stats_series(groups.group_of(actor, group_id), days=days)


@router.get("/group-codes", response={200: list[GroupCodeOut], **ERRORS})
def list_group_codes(request: HttpRequest, corp: int | None = None):
    actor = require(request, "channels.livecode.read")
    chosen = corps.corp_of(actor, corp) if corp else None
    return [presenters.group_code_data(c) for c in grouplivecodes.codes_for(actor, chosen)[:500]]


@router.post("/group-codes", response={201: GroupCodeOut, **CHANNEL_ERRORS})
def create_group_code(request: HttpRequest, payload: GroupCodeCreate):
    actor = require(request, "channels.livecode.manage")
    data = payload.model_dump(exclude_unset=True)
    corp = data.pop("corp")
    with translating():
        code = grouplivecodes.create_group_code(actor=actor, corp_pk=corp, data=data)
    return Status(201, presenters.group_code_data(code))


@router.delete("/group-codes/{code_id}", response={204: None, **CHANNEL_ERRORS})
def delete_group_code(request: HttpRequest, code_id: int):
    actor = require(request, "channels.livecode.manage")
    with translating():
        grouplivecodes.delete_group_code(actor=actor, code_pk=code_id)
    return Status(204, None)


# --- transfers ------------------------------------------------------------------------------------------------------


@router.get("/transfers", response={200: list[TransferOut], **ERRORS})
def list_transfers(request: HttpRequest, corp: int | None = None):
    actor = require(request, "channels.wecom.read")
    chosen = corps.corp_of(actor, corp) if corp else None
    return [presenters.transfer_data(t) for t in transfers.transfers_for(actor, chosen)[:500]]


@router.post("/transfers", response={201: list[TransferOut], **CHANNEL_ERRORS})
def start_transfer(request: HttpRequest, payload: TransferCreate):
    actor = require(request, "channels.wecom.manage")
    data = payload.model_dump()
    corp = data.pop("corp")
    with translating():
        made = transfers.start_transfer(actor=actor, corp_pk=corp, data=data)
    return Status(201, [presenters.transfer_data(t) for t in made])


@router.post("/corps/{corp_id}/transfers/poll", response={200: PolledOut, **CHANNEL_ERRORS})
def poll_transfers(request: HttpRequest, corp_id: int):
    actor = require(request, "channels.wecom.manage")
    with translating():
        settled = transfers.poll_results(corps.corp_of(actor, corp_id), actor=actor)
    return {"settled": settled}
