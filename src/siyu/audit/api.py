"""``/api/v1/audit``: search and export the organisation's audit log."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from ninja import Query, Router

from siyu.kernel.api import ERRORS, require
from siyu.kernel.pagination import MAX_LIMIT

from . import selectors, services
from .export import csv_lines
from .http import client_ip
from .schemas import AuditEntryFilters, AuditEntryOut, AuditEntryPage
from .selectors import EntryFilters

router = Router(tags=["audit"])

_CSV_RESPONSE = {
    "responses": {"200": {"description": "CSV, one entry per row, newest first",
                          "content": {"text/csv": {"schema": {"type": "string"}}}}}
}


def _filters(q: AuditEntryFilters) -> EntryFilters:
    return EntryFilters(**q.dict())


@router.get("/entries", response={200: AuditEntryPage, **ERRORS}, summary="Search the audit log (newest first)")
def list_entries(
    request, filters: Query[AuditEntryFilters], cursor: str | None = Query(None, max_length=2000),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
):
    actor = require(request, "audit.entry.read")
    page = selectors.page_entries(actor=actor, filters=_filters(filters), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/entries/export", response={200: None, **ERRORS}, openapi_extra=_CSV_RESPONSE,
            summary="Export the audit log as CSV (recorded in the log)")
def export_entries(request, filters: Query[AuditEntryFilters]):
    actor = require(request, "audit.entry.export")
    qs, count = selectors.export_snapshot(actor=actor, filters=_filters(filters))
    services.record_export(actor, "audit.entry", count, "csv", ip=client_ip(request))
    response = StreamingHttpResponse(
        csv_lines(qs.order_by("-at", "-pk").iterator(chunk_size=2000)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response


@router.get("/entries/{int:entry_id}", response={200: AuditEntryOut, **ERRORS}, summary="One audit entry")
def get_entry(request, entry_id: int):
    actor = require(request, "audit.entry.read")
    return selectors.get_entry(actor=actor, entry_id=entry_id)

