"""Console page of the approval processes sales uses (quotes, contracts, stage gates): the list with each
process's steps, a form to create one (conditions and steps as rows), and switching one on or off. The platform's
approval services validate and write; a refusal re-renders the form with the reason under each field."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.kernel.errors import DomainError, NotFound, PermissionDenied
from siyu.platform.approvals import services as approvals
from siyu.platform.approvals.models import ApprovalProcess

from .pages import _attempt, sales_page

ROWS = 3
SUBJECTS = {"sales.quote": gettext_lazy("Quote"), "sales.contract": gettext_lazy("Contract"),
            "sales.gate_approval": gettext_lazy("Stage gate")}
OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains"]
KINDS = {"manager": gettext_lazy("Submitter's manager"), "department_head": gettext_lazy("Department head"),
         "role": gettext_lazy("Role (name)"), "user": gettext_lazy("Named users (ids, comma-separated)"),
         "field": gettext_lazy("User in a field of the record")}


def _int(raw: str, name: str, errors: dict[str, list[str]], default: int) -> int:
    raw = raw.strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 6:
        errors[name] = [_("a whole number")]
        return default
    return int(raw)


def _parse(post) -> tuple[dict, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    conditions = []
    for i in range(ROWS):
        field, op, value = (post.get(f"c{i}_{k}", "").strip() for k in ("field", "op", "value"))
        if field:
            conditions.append({"field": field, "op": op or "eq",
                               "value": [v.strip() for v in value.split(",")] if op == "in" else value})
    steps = []
    for i in range(ROWS):
        kind, value = post.get(f"s{i}_kind", "").strip(), post.get(f"s{i}_value", "").strip()
        if not kind:
            continue
        approver: dict = {"kind": kind}
        if kind == "user":
            ids = [v.strip() for v in value.split(",") if v.strip()]
            if not ids or not all(v.isdigit() for v in ids):
                errors.setdefault("steps", []).append(_("step %(n)s: user ids, comma-separated") % {"n": i + 1})
            approver["value"] = [int(v) for v in ids if v.isdigit()]
        elif kind in {"role", "field"}:
            if not value:
                errors.setdefault("steps", []).append(_("step %(n)s: name the role or field") % {"n": i + 1})
            approver["value"] = value
        steps.append({"name": post.get(f"s{i}_name", "").strip() or _("Step %(n)s") % {"n": i + 1},
                      "mode": post.get(f"s{i}_mode", "any"), "approvers": [approver]})
    data = {"object_key": post.get("object_key", ""), "name": post.get("name", ""), "conditions": conditions,
            "steps": steps, "priority": _int(post.get("priority", ""), "priority", errors, 0),
            "remind_after_hours": _int(post.get("remind_after_hours", ""), "remind_after_hours", errors, 24)}
    return data, errors


@sales_page("platform.approval.manage")
def process_list(request, actor):
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = _parse(request.POST)
        if not errors:
            try:
                with transaction.atomic():
                    approvals.create_process(actor=actor, **data)
            except (NotFound, PermissionDenied):
                raise
            except DomainError as exc:
                errors = {k: list(v) for k, v in exc.fields.items()} or {"name": [exc.message]}
            else:
                messages.success(request, _("Approval process created."))
                return HttpResponseRedirect(reverse("sales_approval_processes"))
    processes = ApprovalProcess.objects.in_org(actor).filter(object_key__in=list(SUBJECTS)).order_by(
        "object_key", "priority", "id")
    return render(request, "sales/commerce/approval_processes.html", {
        "processes": processes, "subjects": SUBJECTS, "ops": OPS, "kinds": KINDS, "rows": range(ROWS),
        "errors": errors, "post": request.POST if request.method == "POST" else {}})


@require_POST
@sales_page("platform.approval.manage")
def process_toggle(request, actor, process_id: int):
    active = request.POST.get("active") == "1"
    _attempt(request, lambda: approvals.set_process_active(actor=actor, process_id=process_id, active=active),
             _("Saved."))
    return HttpResponseRedirect(reverse("sales_approval_processes"))
