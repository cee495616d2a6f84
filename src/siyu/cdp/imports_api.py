"""``/api/v1/cdp/imports``: upload a file, preview it, save a column mapping, dry-run and run the import in the
background, follow its progress, download the per-row error report; and export customers as CSV/XLSX.

Same rule as every router: parse, authorise (``require``), call one service or selector, return a schema.
A job of another organisation, or one the caller may not see, is a 404.
"""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest, StreamingHttpResponse
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile

from siyu.kernel import jobs
from siyu.kernel.api import ERRORS, require
from siyu.kernel.errors import NotFound, ValidationFailed
from siyu.kernel.pagination import MAX_LIMIT, paginate

from .importing import exporting, presenters, services, tasks
from .importing.schemas import ImportCreate, ImportOut, ImportPage, ImportPreviewOut, MappingIn

router = Router(tags=["cdp imports"])

_CSV = {"responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}}
_EXPORT = {"responses": {"200": {"description": "CSV or XLSX, one customer per row", "content": {
    "text/csv": {"schema": {"type": "string"}},
    exporting.FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}}}}}}


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _start(request: HttpRequest, job_id: int, dry_run: bool):
    actor = require(request, "cdp.profile.create")
    job = services.start_import(actor=actor, job_id=job_id, dry_run=dry_run)
    jobs.enqueue_on_commit(tasks.run_import, actor.org_id, job.pk)
    return Status(202, presenters.job_data(job))


@router.get("", response={200: ImportPage, **ERRORS}, summary="List import jobs (newest first)")
def list_imports(request: HttpRequest, cursor: str | None = Query(None, max_length=2000),
                 limit: int = Query(50, ge=1, le=MAX_LIMIT)):
    actor = require(request, "cdp.profile.create")
    page = paginate(services.jobs_visible_to(actor), order=["-pk"], cursor=cursor, limit=limit)
    return {"items": [presenters.job_data(j) for j in page.items], "next_cursor": page.next_cursor}


@router.post("", response={201: ImportOut, **ERRORS}, summary="Create an import from a file in the JSON body")
def create_import(request: HttpRequest, payload: ImportCreate):
    actor = require(request, "cdp.profile.create")
    if payload.content_encoding == "base64":
        try:
            data = base64.b64decode(payload.content, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("bad content", fields={"content": ["not valid base64"]}) from None
    else:
        data = payload.content.encode("utf-8")
    job = services.create_import(actor=actor, file_name=payload.file_name, chunks=[data])
    if payload.mapping is not None:
        job = services.save_mapping(actor=actor, job_id=job.pk, mapping=payload.mapping)
    return Status(201, presenters.job_data(job))


@router.post("/upload", response={201: ImportOut, **ERRORS}, summary="Create an import from an uploaded file")
def upload_import(request: HttpRequest, file: File[UploadedFile]):
    actor = require(request, "cdp.profile.create")
    job = services.create_import(actor=actor, file_name=file.name or "upload", chunks=file.chunks())
    return Status(201, presenters.job_data(job))


@router.get("/export", response={200: None, **ERRORS}, openapi_extra=_EXPORT,
            summary="Export the customers you may see as CSV or XLSX (needs cdp.profile.export; masked unless "
                    "you may unmask; audited)")
def export_profiles(request: HttpRequest, format: str = Query("csv", pattern="^(csv|xlsx)$")):  # noqa: A002
    actor = require(request, "cdp.profile.export")
    export = exporting.export_profiles(actor=actor, fmt=format, ip=_ip(request))
    response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


@router.get("/{int:job_id}", response={200: ImportOut, **ERRORS}, summary="An import job and its progress")
def get_import(request: HttpRequest, job_id: int):
    actor = require(request, "cdp.profile.create")
    return presenters.job_data(services.visible_job(actor, job_id))


@router.get("/{int:job_id}/preview", response={200: ImportPreviewOut, **ERRORS},
            summary="The detected encoding, the columns and the first rows")
def preview_import(request: HttpRequest, job_id: int, rows: int = Query(10, ge=1, le=50)):
    actor = require(request, "cdp.profile.create")
    return presenters.preview_data(actor, services.visible_job(actor, job_id), rows)


@router.put("/{int:job_id}/mapping", response={200: ImportOut, **ERRORS}, summary="Save the column mapping")
def save_mapping(request: HttpRequest, job_id: int, payload: MappingIn):
    actor = require(request, "cdp.profile.create")
    job = services.save_mapping(actor=actor, job_id=job_id, mapping=payload.model_dump())
    return presenters.job_data(job)


@router.post("/{int:job_id}/dry-run", response={202: ImportOut, **ERRORS},
             summary="Count what the import would do (in the background), writing nothing")
def dry_run_import(request: HttpRequest, job_id: int):
    return _start(request, job_id, dry_run=True)


@router.post("/{int:job_id}/run", response={202: ImportOut, **ERRORS},
             summary="Run the import in the background (or resume a failed or stalled one)")
def run_import(request: HttpRequest, job_id: int):
    return _start(request, job_id, dry_run=False)


@router.get("/{int:job_id}/errors", response={200: None, **ERRORS}, openapi_extra=_CSV,
            summary="The per-row error report as CSV")
def error_report(request: HttpRequest, job_id: int):
    actor = require(request, "cdp.profile.create")
    path = presenters.error_report_path(services.visible_job(actor, job_id))
    if path is None:
        raise NotFound("this import has no error report", code="no_error_report")
    response = StreamingHttpResponse(presenters.report_chunks(path), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


