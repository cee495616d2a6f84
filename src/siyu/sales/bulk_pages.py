"""Console pages of bulk actions on leads: the lead list's bulk bar posts here to start a job (assign by rules,
transfer to a member, recycle to a lead pool), the job's page shows its progress (an htmx fragment polled while
the job runs, as the customer import page does) and a page lists the recent jobs.

A job is started through ``services.bulk.start_bulk``, the API's own path: the same durable job, run in chunks
by scheduled actions, with the same checks. Same rule as pages.py: parse, authorise, call one service, render. A
refused start (no leads, an unknown member or pool) is a message on the lead list and leaves nothing behind; a
missing permission is the audited 403 page, another organisation's job the audited 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from siyu.kernel.errors import DomainError, NotFound, ValidationFailed
from siyu.platform.filtering import apply_filters, parse_query_filters

from . import selectors
from .models.jobs import BulkJob
from .models.pools import Pool, PoolKind
from .pages import _attempt, _members, _problem, listed_leads, sales_page
from .services import bulk, pools

RECENT = 100  # as many as the API's list of recent jobs shows
ACTIONS = {"assign": gettext_lazy("Assign by rules"), "transfer": pgettext_lazy("bulk action", "Transfer"),
           "recycle": gettext_lazy("Recycle to a pool")}
# What start_bulk's refusals mean to the person at the bulk bar, by the field it names.
REFUSALS = {
    "kind": gettext_lazy("Choose one of the bulk actions."),
    "lead_ids": gettext_lazy("Select between 1 and %(max)s leads."),
    "params.owner_id": gettext_lazy("Choose an active member of this organisation to transfer the leads to."),
    "params.pool_id": gettext_lazy("Choose one of the lead pools."),
}


def bar_context(actor) -> dict[str, Any]:
    """What the lead list's bulk bar needs; nothing for someone who may not run bulk actions."""
    if not actor.can("sales.lead.bulk"):
        return {"can_bulk": False}
    may_assign = actor.can("sales.lead.assign")
    return {"can_bulk": True, "can_bulk_assign": may_assign, "bulk_max": bulk.MAX_LEADS,
            "bulk_members": _members(actor) if may_assign else [],
            "bulk_pools": list(pools.pools_for(actor, kind=PoolKind.LEAD).filter(is_active=True).order_by("name"))}


def matching_lead_ids(actor, query: str) -> tuple[list[int], bool]:
    """The leads the lead list shows for ``query`` (its "mine" and column filters), in id order, at most
    ``bulk.MAX_LEADS`` of them; and whether more matched."""
    params = {k: v for k, v in QueryDict(query).items() if v.strip() != ""}  # an empty input is no filter, as in the list
    qs = listed_leads(actor, mine=bool(params.get("mine")))
    qs, _order = apply_filters(qs, actor=actor, meta=selectors.lead_meta(actor), filters=parse_query_filters(params),
                               sort="")
    ids = list(qs.order_by("pk").values_list("pk", flat=True)[: bulk.MAX_LEADS + 1])
    return ids[: bulk.MAX_LEADS], len(ids) > bulk.MAX_LEADS


def _start(actor, kind: str, lead_ids: list, params: dict[str, Any]) -> BulkJob:
    """start_bulk, with its refusals in the words of the bulk bar; run inside ``_attempt``'s savepoint, so a job
    refused here (none of the leads is the actor's to act on) is rolled back with its scheduled chunk."""
    try:
        job = bulk.start_bulk(actor=actor, kind=kind, lead_ids=lead_ids, params=params)
    except ValidationFailed as exc:
        known = [str(REFUSALS[f]) for f in exc.fields if f in REFUSALS]
        message = " ".join(known) % {"max": f"{bulk.MAX_LEADS:,}"} if known else _problem(exc)
        raise ValidationFailed(message) from exc
    if job.total == 0:
        raise ValidationFailed(_("None of the selected leads is one you may act on."))
    return job


@require_POST
@sales_page("sales.lead.bulk")
def bulk_start(request, actor):
    kind = request.POST.get("kind", "")
    query = QueryDict(request.POST.get("query", "")).urlencode()  # re-encoded: it goes into the Location header
    back = HttpResponseRedirect(reverse("sales_leads") + (f"?{query}" if query else ""))
    capped = False
    if request.POST.get("scope") == "all":
        try:
            lead_ids, capped = matching_lead_ids(actor, query)
        except DomainError as exc:  # a bad filter in the list's URL
            messages.error(request, _problem(exc))
            return back
    else:
        lead_ids = request.POST.getlist("lead_ids")
    if not lead_ids:
        messages.error(request, _("No leads selected: tick the leads to act on, or choose every lead matching "
                                  "the filter."))
        return back
    # Only the chosen action's own choice: the bar posts the member and the pool selects whichever button is used.
    params = {"transfer": {"owner_id": request.POST.get("owner_id") or None},
              "recycle": {"pool_id": request.POST.get("pool_id") or None}}.get(kind, {})
    job = _attempt(request, lambda: _start(actor, kind, lead_ids, params))
    if job is None:
        return back
    if capped:
        messages.warning(request, _("More leads match the filter than one job takes: the job has the first "
                                    "%(max)s of them (oldest first).") % {"max": f"{bulk.MAX_LEADS:,}"})
    messages.success(request, _("The bulk job has started."))
    return HttpResponseRedirect(reverse("sales_bulk_job", args=[job.pk]))


def _described(actor, jobs: list[BulkJob]) -> list[dict[str, Any]]:
    """Each job with what a person reads of it: its action (with the member or pool), who started it, progress."""
    names = selectors.user_names(({j.created_by_id for j in jobs} | {j.params.get("owner_id") for j in jobs}) - {None})
    pool_ids = {j.params.get("pool_id") for j in jobs} - {None}
    pool_names = dict(Pool.objects.in_org(actor).filter(pk__in=pool_ids).values_list("pk", "name")) if pool_ids else {}
    out = []
    for job in jobs:
        target = ""
        if job.kind == "transfer":
            target = names.get(job.params.get("owner_id"), "")
        elif job.kind == "recycle":
            target = pool_names.get(job.params.get("pool_id"), "") or _("each lead's own pool")
        total = max(job.total, job.done)
        out.append({"job": job, "action": ACTIONS.get(job.kind, job.kind), "target": target,
                    "by": names.get(job.created_by_id, ""), "changed": job.done - job.skipped,
                    "percent": 100 if job.status == "done" else (int(100 * job.done / total) if total else 0),
                    "running": job.status in ("queued", "running")})
    return out


def _jobs(actor):
    """The jobs the actor may see (the service's rule), without their lead ids: up to MAX_LEADS of them each,
    read by no page, and the job's page asks every second while it runs."""
    return bulk.visible_jobs(actor).defer("lead_ids")


def _job(actor, bulk_job_id: int) -> dict[str, Any]:
    job = _jobs(actor).filter(pk=bulk_job_id).first()
    if job is None:
        raise NotFound("not found")
    return _described(actor, [job])[0]


@require_GET
@sales_page("sales.lead.bulk")
def bulk_jobs(request, actor):
    jobs = list(_jobs(actor)[:RECENT])
    return render(request, "sales/bulk_jobs.html", {"items": _described(actor, jobs), "recent": RECENT})


@require_GET
@sales_page("sales.lead.read")
def bulk_job(request, actor, bulk_job_id: int):
    return render(request, "sales/bulk_job.html", _job(actor, bulk_job_id))


@require_GET
@sales_page("sales.lead.read")
def bulk_progress(request, actor, bulk_job_id: int):
    """The htmx fragment the job's page polls while the job is queued or running (it stops polling after)."""
    return render(request, "sales/bulk_progress.html", _job(actor, bulk_job_id))
