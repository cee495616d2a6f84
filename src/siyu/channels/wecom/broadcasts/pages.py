"""Console pages of WeCom broadcasts under ``/channels/wecom/broadcasts/``: the list, a new broadcast from a
segment, one broadcast with its results per employee (ECharts), cancel, "collect results now", and the policy
(frequency cap, WeCom's rule). Same rule as everywhere: parse, authorise, call one service or selector, render."""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.cdp.segments import selectors as segment_selectors
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.corps import corps_for
from siyu.channels.wecom.pages import _attempt, _problems, wecom_page

from . import message, policy, results, selectors, services
from .models import Broadcast, RecipientStatus, WeComRule


@require_GET
@wecom_page("channels.broadcast.read")
def broadcast_list(request, actor):
    items = list(selectors.broadcasts(actor)[:100])
    return render(request, "wecom_broadcasts/list.html", {
        "broadcasts": items, "can_manage": actor.can("channels.broadcast.manage")})


ATTACHMENT_ERROR = re.compile(r"^attachments\[(\d+)\]\.(\w+)$")


def _slots(attachments: list[dict], fields: dict[str, list[str]]) -> list[dict]:
    """The form's nine attachment slots: what was posted (in order, empty slots dropped, so the error keys'
    indexes match) and each slot's problems by field."""
    slots = [{"n": n, "values": attachments[n] if n < len(attachments) else {}, "errors": {}}
             for n in range(v.ATTACHMENTS_MAX)]
    for key, msgs in fields.items():
        found = ATTACHMENT_ERROR.match(key)
        if found and int(found[1]) < len(slots):
            slots[int(found[1])]["errors"][found[2]] = ", ".join(str(m) for m in msgs)
    return slots


@require_http_methods(["GET", "POST"])
@wecom_page("channels.broadcast.manage")
def broadcast_new(request, actor):
    errors: list[str] = []
    fields: dict[str, list[str]] = {}
    data = {}
    if request.method == "POST":
        data = {**request.POST.dict(), "attachments": message.attachments_from_form(request.POST)}
        broadcast, exc = _attempt(lambda: services.create_broadcast(actor=actor, data=data))
        if exc is None:
            messages.success(request, _("Broadcast scheduled."))
            return HttpResponseRedirect(reverse("wecom_broadcast", args=[broadcast.pk]))
        errors, fields = _problems(exc), exc.fields
    segments = list(segment_selectors.segments(actor).order_by("name")[:500]) if actor.can("cdp.segment.read") else []
    return render(request, "wecom_broadcasts/new.html", {
        "errors": errors, "data": data, "corps": list(corps_for(actor)), "segments": segments,
        "slots": _slots(data.get("attachments") or [], fields), "max_attachments": v.ATTACHMENTS_MAX},
        status=422 if errors else 200)


@require_GET
@wecom_page("channels.broadcast.read")
def broadcast_detail(request, actor, broadcast_id: int):
    broadcast = selectors.broadcast_of(actor, broadcast_id)
    counts = selectors.status_counts(actor, broadcast)
    labels = dict(RecipientStatus.choices)
    return render(request, "wecom_broadcasts/detail.html", {
        "broadcast": broadcast, "counts": [(s, _(labels[s]), n) for s, n in counts.items()],
        "total": sum(counts.values()), "employees": selectors.per_employee(actor, broadcast),
        "can_manage": actor.can("channels.broadcast.manage"),
        "can_cancel": broadcast.status == Broadcast.Status.SCHEDULED})


@require_GET
@wecom_page("channels.broadcast.read")
def broadcast_employees_json(request, actor, broadcast_id: int):
    broadcast = selectors.broadcast_of(actor, broadcast_id)
    rows = selectors.per_employee(actor, broadcast)
    labels = dict(RecipientStatus.choices)
    return JsonResponse({
        "employees": [r["name"] for r in rows],
        "series": [{"key": s, "name": _(labels[s]), "data": [r[s] for r in rows]} for s in selectors.EMPLOYEE_SERIES]})


@require_POST
@wecom_page("channels.broadcast.manage")
def broadcast_cancel(request, actor, broadcast_id: int):
    __, exc = _attempt(lambda: services.cancel_broadcast(actor=actor, broadcast_id=broadcast_id))
    if exc is None:
        messages.success(request, _("Broadcast cancelled."))
    else:
        messages.error(request, "; ".join(_problems(exc)))
    return HttpResponseRedirect(reverse("wecom_broadcast", args=[broadcast_id]))


@require_POST
@wecom_page("channels.broadcast.manage")
def broadcast_collect(request, actor, broadcast_id: int):
    broadcast = selectors.broadcast_of(actor, broadcast_id)
    __, exc = _attempt(lambda: results.collect_now(actor=actor, broadcast=broadcast))
    if exc is None:
        messages.success(request, _("Results collected from WeCom."))
    else:
        messages.error(request, "; ".join(_problems(exc)))
    return HttpResponseRedirect(reverse("wecom_broadcast", args=[broadcast.pk]))


@require_http_methods(["GET", "POST"])
@wecom_page("channels.broadcast.read")
def broadcast_policy(request, actor):
    errors: list[str] = []
    current = policy.policy_of(actor)
    if request.method == "POST":
        current, exc = _attempt(lambda: policy.update_policy(actor=actor, data=request.POST))
        if exc is None:
            messages.success(request, _("Policy saved."))
            return HttpResponseRedirect(reverse("wecom_broadcast_policy"))
        errors, current = _problems(exc), policy.policy_of(actor)
    return render(request, "wecom_broadcasts/policy.html", {
        "policy": current, "rules": [(v, _(label)) for v, label in WeComRule.choices], "errors": errors,
        "can_manage": actor.can("channels.broadcast.manage")}, status=422 if errors else 200)
