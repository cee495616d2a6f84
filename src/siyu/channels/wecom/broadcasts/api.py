"""WeCom broadcasts under ``/api/v1/channels/wecom/broadcasts``: list, create, one (with its counts per status),
cancel while scheduled, results per employee. Each operation parses, authorises (``require``), calls one service
or selector and returns a schema; a write is audited by the service. ``Idempotency-Key`` on POST is honoured by
the kernel's middleware, as on every write of the API."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from siyu.kernel.api import ERRORS, require
from siyu.kernel.pagination import paginate

from . import selectors, services
from .models import Broadcast
from .schemas import BroadcastCreate, BroadcastOut, BroadcastPage, EmployeeResultOut

router = Router(tags=["channels.wecom broadcasts"])


class ListParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)


def _out(broadcast: Broadcast, counts: dict[str, int] | None = None) -> dict:
    fields = ("id", "name", "corp_id", "segment_id", "snapshot_id", "text", "attachments", "status", "scheduled_at",
              "planned_at", "handed_at", "finished_at", "created_at", "error")
    return {**{f: getattr(broadcast, f) for f in fields}, "counts": counts}


@router.get("", response={200: BroadcastPage, **ERRORS}, summary="List broadcasts, newest first")
def list_broadcasts(request: HttpRequest, params: Query[ListParams]):
    actor = require(request, "channels.broadcast.read")
    page = paginate(selectors.broadcasts(actor), order=["-id"], cursor=params.cursor, limit=params.limit)
    return {"items": [_out(b) for b in page.items], "next_cursor": page.next_cursor}


@router.post("", response={201: BroadcastOut, **ERRORS},
             summary="Schedule a broadcast of text and attachments to a segment's consenting WeCom customers")
def create_broadcast(request: HttpRequest, payload: BroadcastCreate):
    actor = require(request, "channels.broadcast.manage")
    broadcast = services.create_broadcast(actor=actor, data=payload.model_dump())
    return Status(201, _out(broadcast, selectors.status_counts(actor, broadcast)))


@router.get("/{broadcast_id}", response={200: BroadcastOut, **ERRORS}, summary="One broadcast and its counts")
def get_broadcast(request: HttpRequest, broadcast_id: int):
    actor = require(request, "channels.broadcast.read")
    broadcast = selectors.broadcast_of(actor, broadcast_id)
    return _out(broadcast, selectors.status_counts(actor, broadcast))


@router.post("/{broadcast_id}/cancel", response={200: BroadcastOut, **ERRORS},
             summary="Cancel a broadcast that is still scheduled (422 once it is being sent)")
def cancel_broadcast(request: HttpRequest, broadcast_id: int):
    actor = require(request, "channels.broadcast.manage")
    broadcast = services.cancel_broadcast(actor=actor, broadcast_id=broadcast_id)
    return _out(broadcast, selectors.status_counts(actor, broadcast))


@router.get("/{broadcast_id}/employees", response={200: list[EmployeeResultOut], **ERRORS},
            summary="Results per sending employee")
def broadcast_employees(request: HttpRequest, broadcast_id: int):
    actor = require(request, "channels.broadcast.read")
    return selectors.per_employee(actor, selectors.broadcast_of(actor, broadcast_id))
