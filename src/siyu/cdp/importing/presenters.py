"""Import jobs as plain dictionaries for the API and the console, and the mapping the screen suggests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from siyu.kernel.actor import Actor
from siyu.platform.selectors import object_meta

from ..models import ImportJob
from . import readers, runner, services
from .errors import read_chunks

# Header words -> a target, for the mapping screen's first guess (the person confirms or changes it).
GUESSES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^(姓名|名字|客户名称?|联系人|name|full ?name)$", re.I), "name"),
    (re.compile(r"(手机|电话|mobile|phone|tel)", re.I), "identifier:phone"),
    (re.compile(r"(邮箱|e-?mail|mail)", re.I), "identifier:email"),
    (re.compile(r"unionid", re.I), "identifier:unionid"),
    (re.compile(r"(erp|客户编号|会员号)", re.I), "identifier:erp_id"),
    (re.compile(r"(性别|gender|sex)", re.I), "gender"),
    (re.compile(r"(生日|出生|birthday|birth)", re.I), "birthday"),
    (re.compile(r"(省|province)", re.I), "province"),
    (re.compile(r"(城市|市|city)", re.I), "city"),
    (re.compile(r"(渠道|channel)", re.I), "channel"),
    (re.compile(r"(标签|tags?)$", re.I), "tag:导入"),
]


def job_data(job: ImportJob) -> dict[str, Any]:
    return {
        "id": job.pk, "file_name": job.file_name, "status": job.status, "dry_run": job.dry_run,
        "encoding": readers.ENCODING_LABELS.get(job.encoding, job.encoding) or "XLSX",
        "columns": services.file_columns(job), "mapping": services.user_mapping(job),
        "total_rows": max(job.total_rows, job.done_rows), "done_rows": job.done_rows,
        "result": runner.result_of(job), "has_error_report": error_report_path(job) is not None,
        "stale": runner.is_stale(job), "created_at": job.created_at, "finished_at": job.finished_at,
    }


def percent(job: ImportJob) -> int:
    total = max(job.total_rows, job.done_rows)
    return 100 if job.status == ImportJob.Status.DONE else (int(100 * job.done_rows / total) if total else 0)


def suggest(actor: Actor, columns: list[str]) -> dict[str, str]:
    """A first guess of each column's target: custom fields by label or key, then the header words above."""
    meta = object_meta(actor, "cdp.profile")
    custom = {**{fd.key.lower(): fd.key for fd in meta.fields}, **{str(fd.label).lower(): fd.key for fd in meta.fields}}
    out: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        key = custom.get(col.strip().lower())
        guess = f"custom:{key}" if key else next((t for rx, t in GUESSES if rx.search(col)), "skip")
        if guess in taken and not guess.startswith(("identifier:", "tag:")):
            guess = "skip"
        taken.add(guess)
        out[col] = guess
    return out


def preview_data(actor: Actor, job: ImportJob, rows: int = 10) -> dict[str, Any]:
    table, first = readers.preview(Path(job.file_path), rows=rows)
    return {"encoding": table.info.encoding_label or "XLSX", "kind": table.info.kind, "columns": table.header,
            "rows": [r.cells if not r.problem else [r.problem] for r in first],
            "suggested": suggest(actor, table.header)}


def error_report_path(job: ImportJob) -> Path | None:
    if not job.error_file_path:
        return None
    path = Path(job.error_file_path)
    result = runner.result_of(job)
    return path if path.exists() and (result["errors"] or result["reviews"]) else None


def report_chunks(path: Path) -> Iterator[bytes]:
    return read_chunks(path)
