"""Writes of import jobs: upload (store and inspect the file), save a mapping, start or resume a run.

The edge owns the transaction (these never commit) and enqueues the background run after commit.
Permissions: importing creates and updates customers, so it needs ``cdp.profile.create`` and
``cdp.profile.update``; a job is visible to the person who uploaded it and to members whose data scope on
customers is the whole organisation (its error report holds the rows as they were uploaded).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db.models import Q, QuerySet

from siyu.kernel import auditing
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied

from ..models import ImportJob
from . import readers
from .errors import storage_dir
from .mapping import compile_mapping, normalise_mapping
from .runner import begin_run

IMPORT = ("cdp.profile.create", "cdp.profile.update")
_UNSAFE_NAME = re.compile(r"[^\w.\-()\u4e00-\u9fff]+")


def require_import(actor: Actor) -> None:
    for op in IMPORT:
        if not actor.can(op):
            raise PermissionDenied(f"missing permission {op}", code="permission_denied")


def jobs_visible_to(actor: Actor) -> QuerySet:
    """Import jobs of the actor's organisation it may see: its own, or all with organisation-wide scope."""
    qs = ImportJob.objects.in_org(actor)
    if actor.sees_whole_org("cdp.profile"):
        return qs
    return qs.filter(Q(created_by_id=actor.user_id) if actor.user_id else Q(pk__in=[]))


def visible_job(actor: Actor, job_id: Any) -> ImportJob:
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    job = jobs_visible_to(actor).filter(pk=pk).first()
    if job is None:
        raise NotFound("not found")
    return job


def import_dir(actor: Actor) -> Path:
    path = storage_dir(actor.org_id) / uuid.uuid4().hex
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_name(name: str) -> str:
    name = unicodedata.normalize("NFC", Path(str(name or "upload")).name)
    return (_UNSAFE_NAME.sub("_", name).strip("._") or "upload")[:120]


def create_import(*, actor: Actor, file_name: str, chunks: Iterable[bytes] | None = None,
                  path: Path | None = None) -> ImportJob:
    """Store an uploaded file (``chunks``) or take a file on this machine (``path``, the command line), check
    it can be read, and create a job for it. An unreadable file is a 422 naming why, and nothing is kept."""
    require_import(actor)
    name = safe_name(file_name)
    stored = None
    if path is None:
        folder = import_dir(actor)
        stored = folder / name
        limit = readers.max_bytes()
        size = 0
        with stored.open("wb") as fh:
            for chunk in chunks or ():
                size += len(chunk)
                if size > limit:
                    break
                fh.write(chunk)
        if size > limit:
            shutil.rmtree(folder, ignore_errors=True)
            raise readers.FileRejected(f"the file is larger than {limit // (1024 * 1024)} MB")
        path = stored
    try:
        info = readers.inspect(path)
        table, _ = readers.preview(path, info, rows=1)
        total = readers.count_lines(path) if info.kind == "csv" else 0
    except readers.FileRejected:
        if stored is not None:
            shutil.rmtree(stored.parent, ignore_errors=True)
        raise
    job = ImportJob.objects.create(
        org_id=actor.org_id, file_name=name, file_path=str(path.resolve()), encoding=info.encoding,
        total_rows=total, created_by_id=actor.user_id,
        mapping={"_file": {"sha256": info.sha256, "size": info.size, "kind": info.kind,
                           "delimiter": info.delimiter, "columns": table.header, "api_key_id": actor.api_key_id}},
    )
    auditing.record_write(actor, "create", "cdp.import", job.pk, {"file_name": [None, name]}, size=info.size)
    return job


def save_mapping(*, actor: Actor, job_id: Any, mapping: Any) -> ImportJob:
    """Check the mapping against the file's header and the actor's rights (422 naming each bad column) and
    keep it on the job. A job that has run keeps its mapping."""
    require_import(actor)
    job = visible_job(actor, job_id)
    if job.status in (ImportJob.Status.RUNNING, ImportJob.Status.DONE):
        raise Conflict("this import has started; upload the file again to import it another way",
                       code="import_started")
    header = (job.mapping.get("_file") or {}).get("columns") or readers.open_table(Path(job.file_path)).header
    clean = normalise_mapping(mapping)
    compile_mapping(actor, clean, header)
    job.mapping = {**{k: v for k, v in job.mapping.items() if k.startswith("_")}, **clean}
    job.status = ImportJob.Status.MAPPED
    job.save(update_fields=["mapping", "status", "updated_at"])
    auditing.record_write(actor, "update", "cdp.import", job.pk, {"mapping": [None, "saved"]})
    return job


def start_import(*, actor: Actor, job_id: Any, dry_run: bool = False) -> ImportJob:
    """Mark the job to run (or dry-run, or resume); the edge enqueues the run once this commits."""
    require_import(actor)
    job = visible_job(actor, job_id)
    return begin_run(actor=actor, job_id=job.pk, dry_run=dry_run)


def user_mapping(job: ImportJob) -> dict[str, Any]:
    """The mapping as the user wrote it (without the job's own bookkeeping)."""
    return {k: v for k, v in (job.mapping or {}).items() if not k.startswith("_")}


def file_columns(job: ImportJob) -> list[str]:
    return list((job.mapping.get("_file") or {}).get("columns") or [])
