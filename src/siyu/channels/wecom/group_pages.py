"""Console pages for customer groups (list, detail with members and ECharts statistics), group live codes (list,
create, delete) and customer transfers (list, start, check results). Same rules as ``pages.py``: parse, authorise,
call one service, render; a refusal (Siyu's or WeCom's) is shown on the form and nothing is kept."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.console.guards import refuse
from siyu.kernel.pagination import paginate

from . import corps, grouplivecodes, groups, selectors, transfers
from .models import FollowRelation, GroupChat, GroupMember, Transfer
from .pages import PAGE_SIZE, _attempt, _corp_choice, _problems, qr_response, wecom_page


@require_GET
@wecom_page("channels.wecom.read")
def group_list(request, actor):
    options, chosen = _corp_choice(request, actor)
    q = request.GET.get("q", "").strip()[:100]
    qs = groups.groups_for(actor, chosen)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(chat_id=q))
    page = paginate(qs, order=["-id"], cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE)
    return render(request, "wecom/groups.html", {"page": page, "corps": options, "chosen": chosen, "q": q,
                                                 "can_manage": actor.can("channels.wecom.manage")})


@require_GET
@wecom_page("channels.wecom.read")
def group_detail(request, actor, group_id: int):
    group = groups.group_of(actor, group_id)
    # Employees, and the customers the member may see: a group shows no one else's customers by name.
    members = (GroupMember.objects.in_org(actor).filter(group=group)
               .filter(Q(type=1) | Q(external_contact__in=selectors.visible_contact_ids(actor)))
               .select_related("external_contact", "employee").order_by("left_at", "-joined_at")[:500])
    return render(request, "wecom/group_detail.html", {"group": group, "members": members,
                                                       "can_profiles": actor.can("cdp.profile.read")})


@require_GET
@wecom_page("channels.wecom.read")
def group_stats_json(request, actor, group_id: int):
    group = groups.group_of(actor, group_id)
    try:
        days = min(max(int(request.GET.get("days", 30)), 1), 180)
    except ValueError:
        days = 30
    labels = {"joins": _("Joins"), "quits": _("Quits"), "members": _("Members")}
    return JsonResponse({**groups.stats_series(group, days=days), "labels": labels})


# --- group live codes -------------------------------------------------------------------------------------------------


@require_GET
@wecom_page("channels.livecode.read")
def group_codes(request, actor):
    options, chosen = _corp_choice(request, actor)
    codes = list(grouplivecodes.codes_for(actor, chosen)[:200])
    joins: dict[str, int] = {}
    for corp in {c.corp for c in codes}:
        joins.update(groups.joins_by_state(corp, [c.state for c in codes if c.corp_id == corp.pk]))
    names = dict(GroupChat.objects.in_org(actor).filter(chat_id__in={x for c in codes for x in c.chat_ids})
                 .values_list("chat_id", "name"))
    rows = [(c, [names.get(x) or x for x in c.chat_ids], [names.get(x) or x for x in c.current_chat_ids],
             joins.get(c.state, 0)) for c in codes]
    return render(request, "wecom/group_codes.html", {"rows": rows, "corps": options, "chosen": chosen,
                                                      "can_manage": actor.can("channels.livecode.manage")})


@require_http_methods(["GET", "POST"])
@wecom_page("channels.livecode.manage")
def group_code_new(request, actor):
    options, chosen = _corp_choice(request, actor)
    corp = chosen or (options[0] if options else None)
    if corp is None:
        messages.warning(request, _("Connect a WeCom corp first."))
        return HttpResponseRedirect(reverse("channels_wecom"))
    data = {"name": "", "state": "", "chat_ids": [], "capacity": 200, "auto_create_room": False,
            "room_base_name": ""}
    errors: list[str] = []
    if request.method == "POST":
        post = request.POST
        data = {"name": post.get("name", ""), "state": post.get("state", ""), "chat_ids": post.getlist("chat_ids"),
                "capacity": post.get("capacity") or 200, "auto_create_room": post.get("auto_create_room") == "on",
                "room_base_name": post.get("room_base_name", ""), "room_base_id": post.get("room_base_id") or None}
        code, error = _attempt(lambda: grouplivecodes.create_group_code(actor=actor, corp_pk=corp.pk, data=data))
        if error is None:
            messages.success(request, _("Group live code created."))
            return HttpResponseRedirect(reverse("wecom_group_codes"))
        errors = _problems(error)
    live = groups.groups_for(actor, corp).filter(dismissed_at__isnull=True).order_by("name")[:500]
    return render(request, "wecom/group_code_form.html", {"corp": corp, "data": data, "errors": errors,
                                                          "groups": live}, status=422 if errors else 200)


@require_POST
@wecom_page("channels.livecode.manage")
def group_code_delete(request, actor, code_id: int):
    _code, error = _attempt(lambda: grouplivecodes.delete_group_code(actor=actor, code_pk=code_id))
    if error is None:
        messages.success(request, _("Group live code deleted."))
    else:
        messages.error(request, "; ".join(_problems(error)))
    return HttpResponseRedirect(reverse("wecom_group_codes"))


@require_GET
@wecom_page("channels.livecode.read")
def group_code_qr(request, actor, code_id: int, kind: str):
    return qr_response(request, grouplivecodes.group_code_of(actor, code_id), kind, "group-code")


# --- transfers --------------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@wecom_page("channels.wecom.read")
def transfer_list(request, actor):
    options, chosen = _corp_choice(request, actor)
    corp = chosen or (options[0] if options else None)
    errors: list[str] = []
    data = {"kind": "onjob", "handover": request.GET.get("handover", ""), "takeover": "", "external_userids": [],
            "message": ""}
    if request.method == "POST":
        if not actor.can("channels.wecom.manage"):
            return refuse(request, actor, 403)
        corp = corps.corp_of(actor, request.POST.get("corp"))
        post = request.POST
        if post.get("action") == "poll":
            settled, error = _attempt(lambda: transfers.poll_results(corp, actor=actor))
            if error is None:
                messages.success(request, _("%(n)s transfers settled.") % {"n": settled})
                return HttpResponseRedirect(reverse("wecom_transfers") + f"?corp={corp.pk}")
            errors = _problems(error)
        else:
            data = {"kind": post.get("kind", "onjob"), "handover": post.get("handover", ""),
                    "takeover": post.get("takeover", ""), "external_userids": post.getlist("external_userids"),
                    "message": post.get("message", "")}
            made, error = _attempt(lambda: transfers.start_transfer(actor=actor, corp_pk=corp.pk, data=data))
            if error is None:
                messages.success(request, _("%(n)s transfers started; WeCom hands customers over after 24 hours.")
                                 % {"n": len(made)})
                return HttpResponseRedirect(reverse("wecom_transfers") + f"?corp={corp.pk}")
            errors = _problems(error)
    rows = transfers.transfers_for(actor, corp)[:200] if corp else []
    employees = list(selectors.employees(actor, corp_pk=corp.pk).order_by("userid")[:1000]) if corp else []
    customers = []
    if corp and data["handover"]:
        customers = list(FollowRelation.objects.in_org(actor).filter(
            corp=corp, employee__userid=data["handover"], deleted=False,
            external_contact__in=selectors.visible_contact_ids(actor)).select_related("external_contact")[:100])
    return render(request, "wecom/transfers.html", {
        "rows": [(t, transfers.expected_takeover(t)) for t in rows], "corps": options, "chosen": corp,
        "employees": employees, "customers": customers, "data": data, "errors": errors,
        "kinds": Transfer.Kind.choices, "can_manage": actor.can("channels.wecom.manage")},
        status=422 if errors else 200)
