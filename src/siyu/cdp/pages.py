"""Console pages of the CDP under ``/customers/``: the customer list (columns and filters from the platform's
metadata, custom fields included), the 360° page and its htmx sections (identities with an audited reveal,
tags, consent, lifecycle, owner, timeline), company accounts, the merge review queue, the merge log and the
lifecycle stage settings.

Same rule as api.py: parse, authorise, call one service or selector, render. Refusals are audited and answered
with the console's 403/404 pages (returned, not raised, so the audit entry commits); a record outside the
actor's organisation or scope is a 404 before anything else is looked at.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.console.guards import operation_page as customer_page  # the audited 403/404 guard, shared
from siyu.console.guards import refuse
from siyu.iam.models import Membership
from siyu.kernel import clock, encrypted
from siyu.kernel.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.kernel.pagination import paginate
from siyu.platform.filtering import Filter, parse_query_filters
from siyu.platform.serialization import display_cells, visible_columns

from . import presenters, profiles, selectors, services
from .models import MergeReview, ProfileKind

PAGE_SIZE = 50
TIMELINE_PAGE = 20
LIST_COLUMNS = ["name", "kind", "lifecycle_stage", "city", "source", "owner_id", "last_seen_at"]
FILTER_OPS = ["eq", "ne", "contains", "gt", "gte", "lt", "lte", "in", "is_empty"]


# --- plumbing -----------------------------------------------------------------------------------------------


def _problem(exc: DomainError) -> str:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
    return f"{exc.message} ({details})" if details else exc.message


def _back(request, url: str):
    """After a plain form post: back to the page (htmx requests get the section re-rendered instead)."""
    return HttpResponseRedirect(url)


# --- the list --------------------------------------------------------------------------------------------------


def _filters_from(request) -> tuple[list[Filter], list[tuple[str, str]]]:
    """The filters of the query string plus the one the filter form adds (f_field, f_op, f_value)."""
    filters = parse_query_filters(request.GET)
    field, op, value = (request.GET.get(k, "").strip() for k in ("f_field", "f_op", "f_value"))
    if field and op:
        filters.append(Filter(field, op, value or ("true" if op == "is_empty" else "")))
    pairs = [(f"filter[{f.field}][{f.op}]", str(f.value)) for f in filters]
    return filters, pairs


@require_GET
@customer_page("cdp.profile.read")
def profile_list(request, actor):
    meta = selectors.profile_meta(actor)
    kind = request.GET.get("kind") or None
    kind = kind if kind in ProfileKind.values else None
    q = request.GET.get("q", "").strip()[:100]
    try:
        filters, pairs = _filters_from(request)
        tag_id = int(request.GET["tag"]) if request.GET.get("tag", "").isdigit() else None
        query = selectors.ProfileQuery(filters=tuple(filters), kind=kind, tag_id=tag_id,
                                       lifecycle_stage=request.GET.get("stage") or None,
                                       owner_id=actor.user_id if request.GET.get("mine") and actor.user_id else None)
        if q:
            match, items = selectors.search_profiles(actor, q, limit=PAGE_SIZE)
            items = [p for p in items if not kind or p.kind == kind]
            next_cursor = None
        else:
            match = ""
            page = selectors.page_profiles(actor, meta, query, cursor=request.GET.get("cursor") or None,
                                           limit=PAGE_SIZE)
            items, next_cursor = page.items, page.next_cursor
        error = ""
    except ValidationFailed as exc:
        items, next_cursor, match, pairs, error = [], None, "", [], _problem(exc)
    columns = [c for c in visible_columns(actor, meta) if c[0] in LIST_COLUMNS or meta.custom_field(c[0])]
    columns.sort(key=lambda c: LIST_COLUMNS.index(c[0]) if c[0] in LIST_COLUMNS else len(LIST_COLUMNS))
    owners = _owner_names(actor, {p.owner_id for p in items if p.owner_id})
    stages = selectors.stages(actor)
    stage_labels = {s.key: _(s.label) for s in stages}
    rows = []
    for p in items:
        cells = display_cells(actor, meta, p, columns)
        for i, (key, _label, _type) in enumerate(columns):
            if key == "owner_id":
                cells[i] = owners.get(p.owner_id, "")
            elif key == "kind":
                cells[i] = _kind_label(p.kind)
            elif key == "lifecycle_stage":
                cells[i] = stage_labels.get(p.lifecycle_stage, p.lifecycle_stage)
        rows.append({"profile": p, "cells": cells})
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "rows": rows, "columns": columns, "next_cursor": next_cursor, "query": query.urlencode(), "q": q,
        "match": match, "kind": kind or "", "error": error, "active_filters": pairs,
        "filter_fields": [c for c in visible_columns(actor, meta) if c[2] not in ("phone", "email")],
        "filter_ops": FILTER_OPS, "stages": stages, "tags": list(selectors.tags_for(actor)),
        "stage": request.GET.get("stage", ""), "tag": request.GET.get("tag", ""), "mine": request.GET.get("mine", ""),
        "can_create": actor.can("cdp.profile.create"), "can_merge": actor.can("cdp.profile.merge"),
        "can_configure": actor.can("cdp.lifecycle.manage"),
    }
    if request.htmx and request.GET.get("cursor"):
        return render(request, "cdp/profiles.html#more", context)
    return render(request, "cdp/profiles.html", context)


def _kind_label(kind: str) -> str:
    return _("Company") if kind == ProfileKind.COMPANY else _("Person")


def _owner_names(actor, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = Membership.objects.in_org(actor).filter(user_id__in=user_ids).select_related("user")
    return {m.user_id: m.user.name or m.user.email for m in rows}


@require_http_methods(["GET", "POST"])
@customer_page("cdp.profile.create")
def profile_create(request, actor):
    """A small form: name, kind, phone, email; the identifiers go through resolution like the API's."""
    values = {"name": "", "kind": "person", "phone": "", "email": ""}
    error = ""
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        ids = [{"type": t, "value": values[t]} for t in ("phone", "email") if values[t]]
        try:
            written = profiles.create_profile(actor=actor, data={"name": values["name"] or None,
                                                                 "kind": values["kind"] or "person"},
                                              identifiers=ids, source="console")
        except (ValidationFailed, Conflict) as exc:
            error = _problem(exc)
        else:
            if written.created:
                messages.success(request, _("Customer created."))
            else:
                messages.info(request, _("A customer with this phone or email exists: here it is."))
            return HttpResponseRedirect(reverse("cdp_profile", args=[written.profile.pk]))
    return render(request, "cdp/profile_form.html", {"values": values, "error": error},
                  status=422 if error else 200)


# --- the 360° page ----------------------------------------------------------------------------------------------


def _sections(actor, profile_id) -> dict:
    profile = selectors.profile_detail(actor, profile_id)
    meta = selectors.profile_meta(actor)
    data = presenters.profile_detail_data(actor, meta, profile)
    hidden = actor.hidden_fields("cdp.profile")
    fields = [(label, cell) for (key, label, _t), cell in zip(
        visible_columns(actor, meta), display_cells(actor, meta, profile, visible_columns(actor, meta)), strict=True)
        if cell and key not in ("name", "id", "owner_id", "department_id", "account_id", "identity_count")]
    stage_labels = {s.key: _(s.label) for s in selectors.stages(actor)}
    return {
        "profile": profile, "data": data, "fields": fields, "hidden": hidden,
        "identities": data.get("identities", []), "tags": data.get("tags", []),
        "all_tags": list(selectors.tags_for(actor)),
        "consent": selectors.consent_status(actor, profile),
        "stages": selectors.stages(actor), "stage_label": stage_labels.get(profile.lifecycle_stage, profile.lifecycle_stage),
        "members": list(Membership.objects.in_org(actor).filter(is_active=True).select_related("user")
                        .order_by("user__name", "user__email")),
        "contacts": list(selectors.contacts_of(actor, profile)[:50]) if profile.kind == ProfileKind.COMPANY else [],
        "can_update": actor.can("cdp.profile.update") and profile.status == "active",
        "can_unmask": encrypted.can_unmask(actor, "cdp.profile") and "identities" not in hidden,
        "can_consent": actor.can("cdp.consent.manage") and profile.status == "active",
        "can_tag_manage": actor.can("cdp.tag.manage"),
    }


@require_GET
@customer_page("cdp.profile.read")
def profile_page(request, actor, profile_id: int):
    context = _sections(actor, profile_id)
    page = selectors.timeline_page(actor, context["profile"], cursor=None, limit=TIMELINE_PAGE)
    context.update(timeline=[presenters.timeline_data(e, actor) for e in page.items], next_cursor=page.next_cursor)
    return render(request, "cdp/profile.html", context)


@require_GET
@customer_page("cdp.profile.read")
def profile_timeline(request, actor, profile_id: int):
    profile = profiles.visible_profile(actor, profile_id, active=False)
    try:
        page = selectors.timeline_page(actor, profile, cursor=request.GET.get("cursor") or None, limit=TIMELINE_PAGE)
    except ValidationFailed:
        raise NotFound("bad cursor") from None
    return render(request, "cdp/profile.html#timeline-items", {
        "profile": profile, "timeline": [presenters.timeline_data(e, actor) for e in page.items],
        "next_cursor": page.next_cursor})


def _section(request, actor, profile_id: int, partial: str, error: str = ""):
    """Re-render one section of the 360° page (htmx), or go back to the page (plain form posts)."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return _back(request, reverse("cdp_profile", args=[profile_id]))
    context = _sections(actor, profile_id)
    context["error"] = error
    return render(request, f"cdp/profile.html#{partial}", context, status=422 if error else 200)


def _guarded(request, actor, profile_id: int, partial: str, action):
    """Find the profile first (404 for outsiders, before any validation), then run ``action``."""
    profiles.visible_profile(actor, profile_id, active=False)
    try:
        action()
    except (ValidationFailed, Conflict) as exc:
        return _section(request, actor, profile_id, partial, _problem(exc))
    return _section(request, actor, profile_id, partial)


@require_POST
@customer_page("cdp.profile.update")
def tag_add(request, actor, profile_id: int):
    group, name = request.POST.get("group", ""), request.POST.get("name", "")
    if request.POST.get("tag"):
        group, _sep, name = request.POST["tag"].partition("/")
    return _guarded(request, actor, profile_id, "tags", lambda: profiles.tag_profile(
        actor=actor, profile_id=profile_id, tags=[(group, name)]))


@require_POST
@customer_page("cdp.profile.update")
def tag_remove(request, actor, profile_id: int, tag_id: int):
    return _guarded(request, actor, profile_id, "tags", lambda: profiles.untag_profile(
        actor=actor, profile_id=profile_id, tag_id=tag_id))


@require_POST
@customer_page("cdp.profile.unmask")
def identity_reveal(request, actor, profile_id: int, identity_id: int):
    profile = profiles.visible_profile(actor, profile_id, active=False)
    row = selectors.identity_of(actor, profile, identity_id)
    reason = request.POST.get("reason", "").strip()[:200]
    try:
        value = encrypted.reveal_for(actor, row, "value", reason, ip=request.META.get("REMOTE_ADDR"))
    except ValidationFailed:
        return render(request, "cdp/_reveal.html", {"error": _("Give a reason to reveal it."), "row": row,
                                                    "profile": profile}, status=422)
    return render(request, "cdp/_reveal.html", {"value": value, "row": row, "profile": profile})


@require_http_methods(["GET", "POST"])
@customer_page("cdp.profile.read")
def consent(request, actor, profile_id: int):
    """GET: the consent ledger (the modal's body). POST: record a grant or a withdrawal."""
    profile = profiles.visible_profile(actor, profile_id, active=False)
    if request.method == "GET":
        return render(request, "cdp/_consent_history.html", {
            "profile": profile, "history": selectors.consent_history(actor, profile)})
    if not actor.can("cdp.consent.manage"):
        return refuse(request, actor, 403)
    granted = request.POST.get("granted") == "true"
    return _guarded(request, actor, profile_id, "consent", lambda: services.record_consent(
        actor=actor, profile_id=profile_id, purpose=request.POST.get("purpose", ""), granted=granted,
        channel=request.POST.get("channel", ""), source="console",
        evidence={"via": "console", "note": request.POST.get("note", "")[:200]}))


@require_POST
@customer_page("cdp.profile.update")
def lifecycle_set(request, actor, profile_id: int):
    return _guarded(request, actor, profile_id, "lifecycle", lambda: services.set_lifecycle_stage(
        actor=actor, profile_id=profile_id, stage=request.POST.get("stage", "")))


@require_GET
@customer_page("cdp.profile.read")
def lifecycle_chart(request, actor, profile_id: int):
    """Days spent in each stage, in the order the profile went through them (for the ECharts bar chart)."""
    profile = profiles.visible_profile(actor, profile_id, active=False)
    labels = {s.key: _(s.label) for s in selectors.stages(actor)}
    now = clock.now()
    items = [{"name": labels.get(t.stage, t.stage), "count": round(((t.exited_at or now) - t.entered_at)
                                                                    .total_seconds() / 86400, 1)}
             for t in selectors.lifecycle_history(actor, profile)]
    return JsonResponse({"title": _("Days in stage"), "items": items})


@require_POST
@customer_page("cdp.profile.update")
def owner_set(request, actor, profile_id: int):
    owner = request.POST.get("owner_id") or None
    return _guarded(request, actor, profile_id, "owner", lambda: profiles.assign_owner(
        actor=actor, profile_id=profile_id, owner_id=owner))


# --- merges and settings ------------------------------------------------------------------------------------------


@require_GET
@customer_page("cdp.profile.merge")
def merge_reviews(request, actor):
    status = request.GET.get("status") or MergeReview.Status.PENDING
    if status not in MergeReview.Status.values:
        status = MergeReview.Status.PENDING
    page = paginate(selectors.merge_reviews(actor, status=status), order=["-id"],
                    cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE)
    reviews = selectors.reviews_in_scope(actor, page.items)
    names = selectors.review_profiles(actor, reviews)
    return render(request, "cdp/merge_reviews.html", {
        "reviews": [{"review": presenters.review_data(r), "profiles": [names.get(pk) for pk in r.profiles]}
                    for r in reviews],
        "status": status, "statuses": MergeReview.Status.choices, "next_cursor": page.next_cursor})


def _decide(request, actor, review_id: int, approve: bool):
    try:
        if approve:
            services.approve_review(actor=actor, review_id=review_id)
            messages.success(request, _("Merged."))
        else:
            services.reject_review(actor=actor, review_id=review_id)
            messages.success(request, _("The profiles stay apart."))
    except Conflict as exc:
        messages.error(request, _problem(exc))
    return _back(request, reverse("cdp_merge_reviews"))


@require_POST
@customer_page("cdp.profile.merge")
def review_approve(request, actor, review_id: int):
    return _decide(request, actor, review_id, True)


@require_POST
@customer_page("cdp.profile.merge")
def review_reject(request, actor, review_id: int):
    return _decide(request, actor, review_id, False)


@require_GET
@customer_page("cdp.profile.merge")
def merge_log(request, actor):
    page = paginate(selectors.merge_logs(actor), order=["-id"], cursor=request.GET.get("cursor") or None,
                    limit=PAGE_SIZE)
    return render(request, "cdp/merges.html", {"merges": page.items, "next_cursor": page.next_cursor})


@require_POST
@customer_page("cdp.profile.merge")
def merge_undo(request, actor, merge_id: int):
    try:
        services.undo_merge(actor=actor, merge_id=merge_id)
        messages.success(request, _("The merge was undone: both profiles are back."))
    except Conflict as exc:
        messages.error(request, _problem(exc))
    return _back(request, reverse("cdp_merges"))


@require_http_methods(["GET", "POST"])
@customer_page("cdp.lifecycle.manage")
def stage_settings(request, actor):
    """Rename, reorder, add and drop lifecycle stages: one row per stage with its position."""
    error = ""
    rows = [{"key": s.key, "label": s.label, "position": s.order + 1, "existing": True}
            for s in selectors.stages(actor)]
    if request.method == "POST":
        keys, labels = request.POST.getlist("key"), request.POST.getlist("label")
        positions, removed = request.POST.getlist("position"), set(request.POST.getlist("remove"))
        rows = []
        for n, (key, label) in enumerate(zip(keys, labels, strict=False)):
            key, label = key.strip(), label.strip()
            if not key and not label:
                continue
            pos = positions[n] if n < len(positions) else ""
            rows.append({"key": key, "label": label, "position": int(pos) if pos.isdigit() else 999 + n,
                         "existing": True, "removed": key in removed})
        kept = sorted((r for r in rows if not r["removed"]), key=lambda r: r["position"])
        try:
            services.configure_stages(actor=actor, stages=[{"key": r["key"], "label": r["label"]} for r in kept])
        except ValidationFailed as exc:
            error = _problem(exc)
        else:
            messages.success(request, _("Lifecycle stages saved."))
            return HttpResponseRedirect(reverse("cdp_stages"))
    return render(request, "cdp/stages.html", {"rows": rows, "error": error}, status=422 if error else 200)
