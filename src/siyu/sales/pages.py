"""Console pages of sales under ``/sales/``: dashboard with the funnel, leads (the platform's list component
with custom columns), a lead's page with its history and activities, the pool page where staff claim, the
assignment rules editor, pipeline settings with stage gates, the opportunity kanban (drag and drop), an
opportunity's page, web forms, and the task calendar.

Same rule as api.py: parse, authorise, call one service or selector, render. Each write runs in a savepoint, so a
refused one (shown as a message) leaves nothing behind; a record outside the actor's organisation or scope is a
404 (audited) before anything else happens.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.console.guards import operation_page as sales_page  # the audited 403/404 guard, shared
from siyu.console.guards import refuse
from siyu.iam.models import Membership
from siyu.kernel import clock
from siyu.kernel.errors import DomainError, NotFound, PermissionDenied

from . import selectors
from .models.activities import ActivityKind
from .models.assignment import AssignmentRule, Strategy
from .models.forms import WebForm
from .models.leads import LeadStatus
from .models.opportunities import Stage
from .models.pools import PoolKind
from .services import activities, assignment, forms, leads, opportunities, pools
from .services.common import as_int

CONDITION_ROWS = 5


def _problem(exc: DomainError) -> str:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
    return f"{exc.message} ({details})" if details else exc.message


def _attempt(request, fn, success: str = "") -> Any:
    """Run one write in a savepoint; a refused write becomes an error message and leaves nothing behind.
    NotFound and PermissionDenied propagate (the decorator answers them)."""
    try:
        with transaction.atomic():
            out = fn()
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        messages.error(request, _problem(exc))
        return None
    if success:
        messages.success(request, success)
    return out


def _names(ids) -> dict[int, str]:
    return selectors.user_names({i for i in ids if i})


def _members(actor) -> list[tuple[int, str]]:
    rows = Membership.objects.in_org(actor).filter(is_active=True).select_related("user").order_by("user__name")
    return [(m.user_id, m.user.name or m.user.email) for m in rows]


# --- dashboard ------------------------------------------------------------------------------------------------

@require_GET
@sales_page("sales.dashboard.read")
def dashboard(request, actor):
    data = selectors.dashboard(actor)
    pipes = selectors.pipelines(actor, active_only=True)
    return render(request, "sales/dashboard.html", {
        "data": data, "pipelines": pipes, "notes": selectors.notifications(actor),
        "owners": _names({a.owner_id for a in data["overdue"]}),
    })


@require_GET
@sales_page("sales.dashboard.read")
def funnel_json(request, actor):
    pipeline_id = request.GET.get("pipeline")
    pipe = selectors.pipeline(actor, pipeline_id) if pipeline_id else selectors.pipeline(
        actor, opportunities.ensure_default_pipeline(actor).pk)
    steps = selectors.funnel(actor, pipe)
    return JsonResponse({"title": pipe.name, "items": [{"name": s["name"], "count": s["count"],
                                                        "amount": s["amount"]} for s in steps]})


@require_GET
@sales_page("sales.dashboard.read")
def stages_json(request, actor):
    data = selectors.dashboard(actor)
    return JsonResponse({"title": _("Open opportunities"),
                         "items": [{"name": f"{r['pipeline']} · {r['stage']}", "count": r["count"]}
                                   for r in data["by_stage"]]})


# --- leads ----------------------------------------------------------------------------------------------------

def listed_leads(actor, *, mine: bool):
    """The leads the lead list shows before its column filters (the bulk bar's "every lead matching the filter"
    starts from the same)."""
    from .models.leads import Lead

    qs = Lead.objects.visible_to(actor).filter(merged_into__isnull=True)
    return qs.filter(owner_id=actor.user_id) if mine and actor.user_id else qs


@require_GET
@sales_page("sales.lead.read")
def lead_list(request, actor):
    from . import bulk_pages
    from .commerce_object_pages import list_context

    qs = listed_leads(actor, mine=bool(request.GET.get("mine"))).select_related("owner")
    context = list_context(request, actor, "sales.lead", qs)
    context.update({"can_create": actor.can("sales.lead.create"), "row_url": reverse("sales_lead", args=[0])})
    if request.htmx and not request.GET.get("full"):
        return render(request, "platform/_record_list.html", context)
    context.update(bulk_pages.bar_context(actor))
    return render(request, "sales/leads.html", context)


@require_http_methods(["GET", "POST"])
@sales_page("sales.lead.create")
def lead_create(request, actor):
    values = {k: request.POST.get(k, "").strip() for k in ("name", "phone", "email", "company", "title", "region",
                                                          "industry", "note")}
    if request.method == "POST":
        written = _attempt(request, lambda: leads.create_lead(
            actor=actor, name=values["name"], phone=values["phone"] or None, email=values["email"] or None,
            fields={k: values[k] for k in ("company", "title", "region", "industry", "note") if values[k]}))
        if written is not None:
            if written.created:
                messages.success(request, _("Lead created."))
            else:
                messages.info(request, _("This person already has an open lead: the enquiry was added to it."))
            return HttpResponseRedirect(reverse("sales_lead", args=[written.lead.pk]))
    return render(request, "sales/lead_form.html", {"values": values})


@require_GET
@sales_page("sales.lead.read")
def lead_page(request, actor, lead_id: int):
    lead = selectors.lead_detail(actor, lead_id)
    history = selectors.lead_history(actor, lead)
    acts = list(selectors.activities_for(actor, lead_id=lead.pk).order_by("-id")[:50])
    names = _names({lead.owner_id, *(h.actor_user_id for h in history), *(a.owner_id for a in acts)})
    return render(request, "sales/lead.html", {
        "lead": lead, "history": history, "activities": acts, "names": names,
        "statuses": [s for s in LeadStatus if s != LeadStatus.CONVERTED],
        "members": _members(actor) if actor.can("sales.lead.assign") else [],
        "pools": list(pools.pools_for(actor, kind=PoolKind.LEAD).filter(is_active=True)),
        "kinds": [k for k in ActivityKind if k != ActivityKind.TASK],
        "can_update": actor.can("sales.lead.update"), "can_assign": actor.can("sales.lead.assign"),
        "can_convert": actor.can("sales.lead.convert"), "can_claim": actor.can("sales.pool.claim"),
        "can_log": actor.can("sales.activity.create"), "is_open": lead.status in {s.value for s in LeadStatus} - {
            "converted", "unqualified"},
    })


def _back_to_lead(lead_id: int):
    return HttpResponseRedirect(reverse("sales_lead", args=[lead_id]))


@require_POST
@sales_page("sales.lead.update")
def lead_status(request, actor, lead_id: int):
    assignment.visible_lead(actor, lead_id)
    _attempt(request, lambda: leads.set_status(actor=actor, lead_id=lead_id, status=request.POST.get("status", ""),
                                               reason=request.POST.get("reason", "")), _("Status changed."))
    return _back_to_lead(lead_id)


@require_POST
@sales_page("sales.lead.assign")
def lead_assign(request, actor, lead_id: int):
    assignment.visible_lead(actor, lead_id)
    by_rules = request.POST.get("by_rules") == "1"
    _attempt(request, lambda: assignment.assign_lead(actor=actor, lead_id=lead_id, by_rules=by_rules,
                                                     owner_id=request.POST.get("owner_id") or None),
             _("Lead assigned."))
    return _back_to_lead(lead_id)


@require_POST
@sales_page("sales.pool.claim")
def lead_release(request, actor, lead_id: int):
    assignment.visible_lead(actor, lead_id)
    _attempt(request, lambda: pools.release_lead(actor=actor, lead_id=lead_id, reason=request.POST.get("reason", ""),
                                                 pool_id=request.POST.get("pool_id") or None),
             _("Lead returned to the pool."))
    return _back_to_lead(lead_id)


@require_POST
@sales_page("sales.lead.convert")
def lead_convert(request, actor, lead_id: int):
    assignment.visible_lead(actor, lead_id)
    amount = request.POST.get("amount", "").strip()
    lead = _attempt(request, lambda: leads.convert_lead(
        actor=actor, lead_id=lead_id, account_name=request.POST.get("account_name", ""),
        create_opportunity=request.POST.get("create_opportunity") == "1",
        opportunity={"amount": amount} if amount else {}), _("Lead converted."))
    if lead is not None and lead.converted_opportunity_id:
        return HttpResponseRedirect(reverse("sales_opportunity", args=[lead.converted_opportunity_id]))
    return _back_to_lead(lead_id)


@require_POST
@sales_page("sales.activity.create")
def lead_activity(request, actor, lead_id: int):
    assignment.visible_lead(actor, lead_id)
    _attempt(request, lambda: activities.create_activity(actor=actor, data=_activity_form(request, lead_id=lead_id)),
             _("Activity logged."))
    return _back_to_lead(lead_id)


def _activity_form(request, **target: Any) -> dict[str, Any]:
    data = {"kind": request.POST.get("kind", ""), "subject": request.POST.get("subject", ""),
            "body": request.POST.get("body", ""), **target}
    for name in ("latitude", "longitude", "address"):
        if request.POST.get(name, "").strip():
            data[name] = request.POST[name].strip()
    for name in ("due_at", "remind_at"):
        raw = request.POST.get(name, "").strip()
        if raw:
            data[name] = _local_input(raw)
    return data


def _local_input(raw: str) -> str:
    """A datetime-local input (no offset) read in the organisation's time zone."""
    try:
        naive = dt.datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
    return naive.isoformat()


# --- pools ------------------------------------------------------------------------------------------------------

@require_GET
@sales_page("sales.pool.read")
def pool_page(request, actor):
    available = list(pools.pools_for(actor, kind=PoolKind.LEAD).filter(is_active=True).order_by("name", "pk"))
    chosen = next((p for p in available if str(p.pk) == request.GET.get("pool")), available[0] if available else None)
    waiting = list(pools.pool_leads(actor, chosen).order_by("-id")[:100]) if chosen else []
    held = (selectors.lead_page(actor, filters=[], mine=True, pool_id=chosen.pk, limit=20).items
            if chosen and actor.user_id else [])
    return render(request, "sales/pools.html", {"pools": available, "pool": chosen, "waiting": waiting,
                                                "held": held, "can_claim": actor.can("sales.pool.claim"),
                                                "can_manage": actor.can("sales.pool.manage")})


@require_POST
@sales_page("sales.pool.claim")
def lead_claim(request, actor, lead_id: int):
    lead = _attempt(request, lambda: pools.claim_lead(actor=actor, lead_id=lead_id))
    if request.htmx:
        storage = list(messages.get_messages(request))
        return render(request, "sales/_claim_row.html", {"lead": lead, "lead_id": lead_id,
                                                         "error": " ".join(str(m) for m in storage)})
    if lead is not None:
        messages.success(request, _("Lead claimed."))
        return _back_to_lead(lead_id)
    return HttpResponseRedirect(reverse("sales_pools"))


@require_http_methods(["GET", "POST"])
@sales_page("sales.pool.manage")
def pool_settings(request, actor):
    if request.method == "POST":
        data = {k: request.POST.get(k, "").strip() or None for k in (
            "name", "kind", "department_id", "max_held", "max_daily_claims", "recycle_no_followup_days",
            "recycle_not_converted_days")}
        data["is_default"] = request.POST.get("is_default") == "1"
        pool_id = request.POST.get("pool_id")
        if pool_id:
            data.pop("kind")
            _attempt(request, lambda: pools.update_pool(actor=actor, pool_id=pool_id, data=data), _("Pool saved."))
        else:
            _attempt(request, lambda: pools.create_pool(actor=actor, data=data), _("Pool created."))
        return HttpResponseRedirect(reverse("sales_pool_settings"))
    from siyu.iam.models import Department

    return render(request, "sales/pool_settings.html", {
        "pools": list(pools.pools_for(actor).order_by("kind", "name")),
        "departments": list(Department.objects.in_org(actor).order_by("path", "name")),
    })


# --- assignment rules -------------------------------------------------------------------------------------------

def _rule_form(request) -> dict[str, Any]:
    conds = []
    for i in range(CONDITION_ROWS):
        field, op = request.POST.get(f"c{i}_field", "").strip(), request.POST.get(f"c{i}_op", "").strip()
        if field and op:
            conds.append({"field": field, "op": op, "value": request.POST.get(f"c{i}_value", "")})
    members = [{"user_id": int(u), "weight": int(request.POST.get(f"w_{u}") or 1)}
               for u in request.POST.getlist("members") if u.isdigit()]
    data: dict[str, Any] = {
        "name": request.POST.get("name", ""), "priority": request.POST.get("priority") or 100,
        "strategy": request.POST.get("strategy", "round_robin"), "conditions": conds, "members": members,
        "is_active": request.POST.get("is_active") == "1",
        "respect_working_hours": request.POST.get("respect_working_hours") == "1",
        "sla_escalate": request.POST.get("sla_escalate") == "1", "sla_reassign": request.POST.get("sla_reassign") == "1",
    }
    for name in ("department_id", "fallback_pool_id", "capacity", "sla_minutes", "sla_remind_before_minutes"):
        data[name] = request.POST.get(name, "").strip() or None
    return data


def _rule_context(actor, rule: AssignmentRule | None) -> dict[str, Any]:
    from siyu.iam.models import Department

    meta = selectors.lead_meta(actor)
    conds = list(rule.conditions) if rule else []
    return {
        "rule": rule, "strategies": Strategy.choices,
        "condition_rows": conds + [{}] * (CONDITION_ROWS - len(conds)),
        "fields": [(f.key, f.label) for f in meta.standard_fields] + [(f.key, f.label) for f in meta.fields],
        "ops": ["eq", "ne", "in", "contains", "gt", "gte", "lt", "lte", "is_empty"],
        "members": _members(actor),
        "chosen": {m.user_id: m.weight for m in rule.members.all()} if rule else {},
        "departments": list(Department.objects.in_org(actor).order_by("path", "name")),
        "pools": list(pools.pools_for(actor, kind=PoolKind.LEAD)),
    }


@require_http_methods(["GET", "POST"])
@sales_page("sales.rule.manage")
def rule_list(request, actor):
    if request.method == "POST":
        rule = _attempt(request, lambda: assignment.create_rule(actor=actor, data=_rule_form(request)),
                        _("Rule created."))
        if rule is not None:
            return HttpResponseRedirect(reverse("sales_rule", args=[rule.pk]))
    rules = list(AssignmentRule.objects.in_org(actor).order_by("priority", "id").prefetch_related("members"))
    return render(request, "sales/rules.html", {"rules": rules, **_rule_context(actor, None)})


@require_http_methods(["GET", "POST"])
@sales_page("sales.rule.manage")
def rule_page(request, actor, rule_id: int):
    rule = AssignmentRule.objects.in_org(actor).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("not found")
    if request.method == "POST":
        if request.POST.get("delete") == "1":
            _attempt(request, lambda: assignment.delete_rule(actor=actor, rule_id=rule_id), _("Rule deleted."))
            return HttpResponseRedirect(reverse("sales_rules"))
        _attempt(request, lambda: assignment.update_rule(actor=actor, rule_id=rule_id, data=_rule_form(request)),
                 _("Rule saved."))
        return HttpResponseRedirect(reverse("sales_rule", args=[rule_id]))
    return render(request, "sales/rule.html", _rule_context(actor, rule))


# --- pipelines --------------------------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@sales_page("sales.pipeline.manage")
def pipeline_list(request, actor):
    if request.method == "POST":
        if request.POST.get("reason_label"):
            _attempt(request, lambda: opportunities.create_close_reason(
                actor=actor, kind=request.POST.get("reason_kind", ""), label=request.POST["reason_label"]),
                _("Reason added."))
        else:
            p = _attempt(request, lambda: opportunities.create_pipeline(actor=actor, name=request.POST.get("name", "")),
                         _("Pipeline created."))
            if p is not None:
                return HttpResponseRedirect(reverse("sales_pipeline", args=[p.pk]))
        return HttpResponseRedirect(reverse("sales_pipelines"))
    opportunities.ensure_default_pipeline(actor)
    return render(request, "sales/pipelines.html", {"pipelines": selectors.pipelines(actor),
                                                    "reasons": selectors.close_reasons(actor)})


@require_http_methods(["GET", "POST"])
@sales_page("sales.pipeline.manage")
def pipeline_page(request, actor, pipeline_id: int):
    pipe = selectors.pipeline(actor, pipeline_id)
    if request.method == "POST":
        _attempt(request, lambda: opportunities.add_stage(actor=actor, pipeline_id=pipe.pk, data={
            "name": request.POST.get("name", ""), "probability": request.POST.get("probability") or 0}),
            _("Stage added."))
        return HttpResponseRedirect(reverse("sales_pipeline", args=[pipe.pk]))
    meta = selectors.opportunity_meta(actor)
    gate_fields = sorted(opportunities.gates.STANDARD_REQUIRABLE) + [f.key for f in meta.fields]
    return render(request, "sales/pipeline.html", {"pipeline": pipe, "gate_fields": gate_fields})


@require_POST
@sales_page("sales.pipeline.manage")
def stage_save(request, actor, stage_id: int):
    stage = opportunities.stage_of(actor, stage_id)
    data: dict[str, Any] = {"name": request.POST.get("name", stage.name),
                            "probability": request.POST.get("probability") or 0,
                            "required_fields": request.POST.getlist("required_fields"),
                            "requires_approval": request.POST.get("requires_approval") == "1"}
    if request.POST.get("order", "").strip():
        data["order"] = request.POST["order"]
    _attempt(request, lambda: opportunities.update_stage(actor=actor, stage_id=stage_id, data=data), _("Stage saved."))
    return HttpResponseRedirect(reverse("sales_pipeline", args=[stage.pipeline_id]))


# --- opportunities and the kanban -------------------------------------------------------------------------------

@require_GET
@sales_page("sales.opportunity.read")
def opportunity_board_default(request, actor):
    pipe = opportunities.ensure_default_pipeline(actor)
    return _board(request, actor, pipe.pk)


@require_GET
@sales_page("sales.opportunity.read")
def opportunity_board(request, actor, pipeline_id: int):
    return _board(request, actor, pipeline_id)


def _board(request, actor, pipeline_id: int):
    pipe = selectors.pipeline(actor, pipeline_id)
    columns = selectors.board(actor, pipe, mine=bool(request.GET.get("mine")))
    return render(request, "sales/board.html", {
        "pipeline": pipe, "columns": columns, "pipelines": selectors.pipelines(actor, active_only=True),
        "mine": bool(request.GET.get("mine")), "can_move": actor.can("sales.opportunity.update"),
        "can_create": actor.can("sales.opportunity.create"),
        "names": _names({c.owner_id for col in columns for c in col.cards}),
    })


@require_GET
@sales_page("sales.opportunity.read")
def stage_cards(request, actor, stage_id: int):
    stage = Stage.objects.in_org(actor).filter(pk=stage_id).first()
    if stage is None:
        raise NotFound("not found")
    try:
        after_position, after_id = float(request.GET.get("position", "0")), int(request.GET.get("after", "0"))
    except ValueError:
        raise NotFound("not found") from None
    cards = selectors.column_cards(actor, stage, after_position=after_position, after_id=after_id)
    return render(request, "sales/_cards.html", {"cards": cards, "stage": stage, "names": _names({c.owner_id for c in cards}),
                                                 "more": len(cards) == selectors.BOARD_COLUMN})


@require_POST
@sales_page("sales.opportunity.update")
def opportunity_move(request, actor, opportunity_id: int):
    """The kanban's drop (fetch from sales/static/sales/kanban.js): JSON in and out; a refused move answers
    422/409 with the message, and the script puts the card back."""
    opportunities.visible_opportunity(actor, opportunity_id)
    try:
        with transaction.atomic():
            opp = opportunities.move_opportunity(actor=actor, opportunity_id=opportunity_id,
                                                 stage_id=request.POST.get("stage_id"),
                                                 before_id=request.POST.get("before_id") or None,
                                                 after_id=request.POST.get("after_id") or None)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        return JsonResponse({"ok": False, "code": exc.code, "message": _problem(exc)}, status=exc.status)
    return JsonResponse({"ok": True, "stage_id": opp.stage_id, "probability": opp.probability})


@require_http_methods(["GET", "POST"])
@sales_page("sales.opportunity.create")
def opportunity_create(request, actor):
    pipes = selectors.pipelines(actor, active_only=True)
    values = {k: request.POST.get(k, "").strip() for k in ("name", "amount", "pipeline_id", "expected_close_date")}
    if request.method == "POST":
        data = {k: v for k, v in values.items() if v}
        opp = _attempt(request, lambda: opportunities.create_opportunity(actor=actor, data=data), _("Opportunity created."))
        if opp is not None:
            return HttpResponseRedirect(reverse("sales_opportunity", args=[opp.pk]))
    return render(request, "sales/opportunity_form.html", {"values": values, "pipelines": pipes})


@require_GET
@sales_page("sales.opportunity.read")
def opportunity_page(request, actor, opportunity_id: int):
    opp = selectors.opportunity_detail(actor, opportunity_id)
    acts = list(selectors.activities_for(actor, opportunity_id=opp.pk).order_by("-id")[:50])
    pipe = selectors.pipeline(actor, opp.pipeline_id)
    return render(request, "sales/opportunity.html", {
        "opp": opp, "activities": acts, "stays": selectors.stage_history(actor, opp),
        "time_in_stages": selectors.time_in_stages(actor, opp), "pipeline": pipe,
        "reasons": selectors.close_reasons(actor), "names": _names({opp.owner_id, *(a.owner_id for a in acts)}),
        "approvals": list(selectors.gate_approvals(actor, status=None).filter(opportunity=opp).order_by("-id")[:20]),
        "kinds": list(ActivityKind), "can_update": actor.can("sales.opportunity.update"),
        "can_log": actor.can("sales.activity.create"), "can_approve": actor.can("sales.opportunity.approve"),
        "timeline": selectors.opportunity_timeline(actor, opp, limit=30),
    })


def _back_to_opp(opportunity_id: int):
    return HttpResponseRedirect(reverse("sales_opportunity", args=[opportunity_id]))


@require_POST
@sales_page("sales.opportunity.update")
def opportunity_action(request, actor, opportunity_id: int):
    opp = opportunities.visible_opportunity(actor, opportunity_id)
    action = request.POST.get("action")
    if action == "move":
        _attempt(request, lambda: opportunities.move_opportunity(actor=actor, opportunity_id=opp.pk,
                                                                 stage_id=request.POST.get("stage_id")),
                 _("Stage changed."))
    elif action == "close":
        _attempt(request, lambda: opportunities.close_opportunity(
            actor=actor, opportunity_id=opp.pk, outcome=request.POST.get("outcome", ""),
            reason_id=request.POST.get("reason_id") or None, note=request.POST.get("note", "")), _("Opportunity closed."))
    elif action == "request_approval":
        stage = opportunities.stage_of(actor, request.POST.get("stage_id"))
        _attempt(request, lambda: opportunities.gates.request_approval(actor=actor, opportunity=opp, stage=stage),
                 _("Approval requested."))
    elif action == "decide" and actor.can("sales.opportunity.approve"):
        _attempt(request, lambda: opportunities.gates.record_gate_decision(
            actor=actor, approval_id=request.POST.get("approval_id"), approved=request.POST.get("approved") == "1",
            comment=request.POST.get("comment", "")), _("Decision recorded."))
    elif action == "lines":
        lines = [{"product_name": n, "quantity": q or "1", "unit_price": p or "0"} for n, q, p in zip(
            request.POST.getlist("product_name"), request.POST.getlist("quantity"), request.POST.getlist("unit_price"),
            strict=False) if n.strip()]
        _attempt(request, lambda: opportunities.set_lines(actor=actor, opportunity_id=opp.pk, lines=lines),
                 _("Product lines saved."))
    elif action == "activity" and actor.can("sales.activity.create"):
        _attempt(request, lambda: activities.create_activity(actor=actor, data=_activity_form(
            request, opportunity_id=opp.pk)), _("Activity logged."))
    return _back_to_opp(opp.pk)


# --- activities, photos, calendar -------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@sales_page("sales.activity.read")
def activity_photo(request, actor, activity_id: int):
    if request.method == "POST":
        if not actor.can("sales.activity.update"):
            return refuse(request, actor, 403)
        activity = activities.visible_activity(actor, activity_id)
        upload = request.FILES.get("photo")
        content = upload.read(activities.MAX_PHOTO_BYTES + 1) if upload else b""
        _attempt(request, lambda: activities.attach_photo(actor=actor, activity_id=activity.pk, content=content),
                 _("Photo uploaded."))
        target = ("sales_lead", activity.lead_id) if activity.lead_id else ("sales_opportunity", activity.opportunity_id)
        return HttpResponseRedirect(reverse(target[0], args=[target[1]]) if target[1] else reverse("sales_calendar"))
    path, content_type = activities.photo_file(actor, activity_id)
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_POST
@sales_page("sales.activity.update")
def activity_complete(request, actor, activity_id: int):
    activities.visible_activity(actor, activity_id)
    _attempt(request, lambda: activities.complete_activity(actor=actor, activity_id=activity_id), _("Task done."))
    return HttpResponseRedirect(request.POST.get("next") if str(request.POST.get("next", "")).startswith("/sales/")
                                else reverse("sales_calendar"))


@require_http_methods(["GET", "POST"])
@sales_page("sales.activity.read")
def calendar_page(request, actor):
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    today = clock.now().astimezone(tz).date()
    try:
        year, month = int(request.GET.get("year", today.year)), int(request.GET.get("month", today.month))
        first = dt.date(year, month, 1)
    except ValueError:
        first = today.replace(day=1)
    if request.method == "POST" and actor.can("sales.activity.create"):
        data = _activity_form(request)
        data["kind"] = data.get("kind") or "task"
        for name in ("lead_id", "opportunity_id"):
            if request.POST.get(name, "").strip():
                data[name] = request.POST[name].strip()
        _attempt(request, lambda: activities.create_activity(actor=actor, data=data), _("Task created."))
        return HttpResponseRedirect(f"{reverse('sales_calendar')}?year={first.year}&month={first.month}")
    start = dt.datetime.combine(first, dt.time(), tz)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    items = list(selectors.activities_for(actor, due_from=start, due_to=dt.datetime.combine(nxt, dt.time(), tz),
                                          mine=bool(request.GET.get("mine"))).order_by("due_at")[:500])
    by_day: dict[dt.date, list] = {}
    for a in items:
        by_day.setdefault(a.due_at.astimezone(tz).date(), []).append(a)
    weeks = [[(d, by_day.get(d, []), d.month == first.month) for d in week]
             for week in calendar.Calendar().monthdatescalendar(first.year, first.month)]
    prev = (first - dt.timedelta(days=1)).replace(day=1)
    return render(request, "sales/calendar.html", {"weeks": weeks, "first": first, "prev": prev, "next": nxt,
                                                   "today": today, "can_create": actor.can("sales.activity.create")})


# --- web forms --------------------------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@sales_page("sales.form.manage")
def form_list(request, actor):
    if request.method == "POST":
        form = _attempt(request, lambda: forms.create_form(actor=actor, data={"name": request.POST.get("name", "")}),
                        _("Form created."))
        if form is not None:
            return HttpResponseRedirect(reverse("sales_form", args=[form.pk]))
    return render(request, "sales/forms.html", {"forms": list(WebForm.objects.in_org(actor).order_by("-id"))})


@require_http_methods(["GET", "POST"])
@sales_page("sales.form.manage")
def form_page(request, actor, form_id: int):
    form = WebForm.objects.in_org(actor).filter(pk=as_int(form_id)).first()
    if form is None:
        raise NotFound("not found")
    catalogue = forms.catalogue(actor)
    if request.method == "POST":
        chosen = [{"key": k, "label": request.POST.get(f"label_{k}", ""), "required": request.POST.get(f"req_{k}") == "1"}
                  for k, _l, _t in catalogue if request.POST.get(f"use_{k}") == "1"]
        data = {"name": request.POST.get("name", ""), "title": request.POST.get("title", ""), "fields": chosen,
                "consent_text": request.POST.get("consent_text", ""),
                "consent_required": request.POST.get("consent_required") == "1",
                "success_message": request.POST.get("success_message", ""), "campaign": request.POST.get("campaign", ""),
                "pool_id": request.POST.get("pool_id") or None, "is_active": request.POST.get("is_active") == "1"}
        _attempt(request, lambda: forms.update_form(actor=actor, form_id=form.pk, data=data), _("Form saved."))
        return HttpResponseRedirect(reverse("sales_form", args=[form.pk]))
    used = {f["key"]: f for f in form.fields}
    public = request.build_absolute_uri(reverse("sales_public_form", args=[form.key]))
    return render(request, "sales/form.html", {
        "form": form, "catalogue": [(k, label, t, used.get(k)) for k, label, t in catalogue], "public_url": public,
        "pools": list(pools.pools_for(actor, kind=PoolKind.LEAD)),
        "embed": json.dumps(public)[1:-1],
    })

