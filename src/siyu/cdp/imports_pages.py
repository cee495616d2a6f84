"""Console pages of imports and exports under ``/customers/import/``: upload (with the export buttons and the
job list), the job page (preview, mapping screen, dry run, run, progress polled by htmx, error report).

Same rule as api.py: parse, authorise, call one service or selector, render. A job of another organisation or
one the actor may not see is the audited 404 page (through ``pages.customer_page``).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.kernel import jobs
from siyu.kernel.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.kernel.pagination import paginate
from siyu.platform.selectors import object_meta

from .identifiers import NAMESPACED
from .importing import exporting, presenters, readers, runner, services, tasks
from .importing.mapping import FIELDS
from .models import IdentityType, ImportJob
from .pages import customer_page

PAGE_SIZE = 20
# Identifier type labels are model choices (English source); marked here so the catalogue has them.
IDENTITY_LABELS = [gettext_noop("Mobile phone"), gettext_noop("Email"), gettext_noop("WeCom external_userid"),
                   gettext_noop("WeChat unionid"), gettext_noop("WeChat openid"), gettext_noop("ERP customer id"),
                   gettext_noop("Segment userId"), gettext_noop("Segment anonymousId"), gettext_noop("Device id")]
FIELD_LABELS = {"name": "Name", "province": "Province", "city": "City", "channel": "Channel", "gender": "Gender",
                "birthday": "Birthday"}


def _problem(exc: DomainError) -> str:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
    return f"{exc.message} ({details})" if details else exc.message


@require_http_methods(["GET", "POST"])
@customer_page("cdp.profile.create")
def import_list(request, actor):
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file to upload.")
        else:
            try:
                job = services.create_import(actor=actor, file_name=upload.name, chunks=upload.chunks())
            except ValidationFailed as exc:
                error = _problem(exc)
            else:
                return HttpResponseRedirect(reverse("cdp_import", args=[job.pk]))
    page = paginate(services.jobs_visible_to(actor), order=["-pk"], cursor=request.GET.get("cursor") or None,
                    limit=PAGE_SIZE)
    context = {"jobs": [{"job": j, "percent": presenters.percent(j), "result": runner.result_of(j)}
                        for j in page.items],
               "next_cursor": page.next_cursor, "error": error, "can_export": exporting.may_export(actor),
               "max_mb": readers.max_bytes() // (1024 * 1024),
               "max_sheet_mb": readers.max_bytes("sheet") // (1024 * 1024)}
    return render(request, "cdp/imports/list.html", context, status=422 if error else 200)


def _targets(actor) -> list[tuple[str, str]]:
    """The choices of the mapping screen: skip, standard fields, identifier types, a tag, custom fields."""
    meta = object_meta(actor, "cdp.profile")
    out = [("skip", _("Do not import"))]
    out += [(f, _(FIELD_LABELS[f])) for f in FIELDS]
    out += [(f"identifier:{t.value}", _("Identifier: %(type)s") % {"type": _(t.label)}) for t in IdentityType]
    out.append(("tag", _("Tags (give the group)")))
    out += [(f"custom:{fd.key}", _("Custom field: %(label)s") % {"label": fd.label}) for fd in meta.fields]
    return out


def _rows_of_mapping(job: ImportJob, suggested: dict[str, str], columns: list[str]) -> list[dict]:
    saved = services.user_mapping(job).get("columns", {})
    rows = []
    for n, col in enumerate(columns):
        target = saved.get(col)
        if isinstance(target, dict):
            to = target.get("to")
            if to == "identifier":
                value, extra = f"identifier:{target.get('type', '')}", target.get("namespace", "")
            elif to == "tag":
                value, extra = "tag", target.get("group", "")
            elif to in ("field", "custom"):
                value = target.get("field", "") if to == "field" else f"custom:{target.get('field', '')}"
                extra = ""
            else:
                value, extra = "skip", ""
        else:
            guess = suggested.get(col, "skip")
            value, extra = ("tag", guess[4:]) if guess.startswith("tag:") else (guess, "")
        rows.append({"n": n, "column": col, "value": value, "extra": extra})
    return rows


def _context(actor, job: ImportJob, error: str = "") -> dict:
    try:
        preview = presenters.preview_data(actor, job)
    except ValidationFailed as exc:
        preview = {"encoding": job.encoding, "kind": "", "columns": services.file_columns(job), "rows": [],
                   "suggested": {}}
        error = error or _problem(exc)
    return {"job": job, "data": presenters.job_data(job), "percent": presenters.percent(job),
            "preview": preview, "targets": _targets(actor),
            "mapping_rows": _rows_of_mapping(job, preview["suggested"], preview["columns"]),
            "namespaced": sorted(f"identifier:{t}" for t in NAMESPACED), "error": error,
            "editable": job.status in (ImportJob.Status.UPLOADED, ImportJob.Status.MAPPED)}


@require_GET
@customer_page("cdp.profile.create")
def import_page(request, actor, job_id: int):
    job = services.visible_job(actor, job_id)
    return render(request, "cdp/imports/job.html", _context(actor, job))


@require_POST
@customer_page("cdp.profile.create")
def mapping_save(request, actor, job_id: int):
    job = services.visible_job(actor, job_id)
    columns = {}
    n = 0
    while f"column_{n}" in request.POST:
        col = request.POST[f"column_{n}"]
        value = request.POST.get(f"target_{n}", "skip")
        extra = request.POST.get(f"extra_{n}", "").strip()
        if value == "tag":
            value = f"tag:{extra}"
        elif value.startswith("identifier:") and extra:
            value = f"{value}:{extra}"
        columns[col] = value
        n += 1
    try:
        job = services.save_mapping(actor=actor, job_id=job.pk, mapping={"columns": columns,
                                                                          "source": request.POST.get("source") or
                                                                          "import"})
    except (ValidationFailed, Conflict) as exc:
        return render(request, "cdp/imports/job.html", _context(actor, job, _problem(exc)), status=422)
    messages.success(request, _("Mapping saved. Try a dry run, then run the import."))
    return HttpResponseRedirect(reverse("cdp_import", args=[job.pk]))


def _start(request, actor, job_id: int, dry_run: bool):
    job = services.visible_job(actor, job_id)
    try:
        job = services.start_import(actor=actor, job_id=job.pk, dry_run=dry_run)
    except (ValidationFailed, Conflict) as exc:
        messages.error(request, _problem(exc))
    else:
        jobs.enqueue_on_commit(tasks.run_import, actor.org_id, job.pk)
        messages.success(request, _("The dry run has started.") if dry_run else _("The import has started."))
    return HttpResponseRedirect(reverse("cdp_import", args=[job.pk]))


@require_POST
@customer_page("cdp.profile.create")
def import_dry_run(request, actor, job_id: int):
    return _start(request, actor, job_id, dry_run=True)


@require_POST
@customer_page("cdp.profile.create")
def import_run(request, actor, job_id: int):
    return _start(request, actor, job_id, dry_run=False)


@require_GET
@customer_page("cdp.profile.create")
def import_progress(request, actor, job_id: int):
    """The htmx partial the job page polls while the job runs (polling stops once it is finished)."""
    job = services.visible_job(actor, job_id)
    return render(request, "cdp/imports/_progress.html", {"job": job, "data": presenters.job_data(job),
                                                          "percent": presenters.percent(job)})


@require_GET
@customer_page("cdp.profile.create")
def import_errors(request, actor, job_id: int):
    job = services.visible_job(actor, job_id)
    path = presenters.error_report_path(job)
    if path is None:
        raise NotFound("no error report")
    response = StreamingHttpResponse(presenters.report_chunks(path), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


@require_GET
@customer_page("cdp.profile.export")
def export(request, actor):
    fmt = request.GET.get("format", "csv")
    try:
        result = exporting.export_profiles(actor=actor, fmt=fmt, ip=request.META.get("REMOTE_ADDR"))
    except ValidationFailed:
        raise NotFound("no such format") from None
    response = StreamingHttpResponse(result.chunks, content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response
