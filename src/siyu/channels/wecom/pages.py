"""Console pages of the WeCom channel under ``/channels/wecom/``: corps (connect, settings with the callback URL,
syncs and their progress), employees, external contacts, channel live codes (list, create, edit, statistics with
ECharts, QR download as PNG and SVG, delete) and the callback log.

Same rule as ``api.py``: parse, authorise, call one service or selector, render. Refusals are audited and answered
with the console's 403 page; a record of another organisation is a 404. A WeCom failure during a write is shown
on the form and nothing is kept (the request's transaction rolls back).
"""

from __future__ import annotations

import io
from typing import Any

import segno
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.channels.errors import ChannelError
from siyu.console.guards import operation_page as wecom_page  # the audited 403/404 guard, shared
from siyu.console.guards import refuse
from siyu.kernel.errors import DomainError, NotFound, PermissionDenied
from siyu.kernel.pagination import paginate

from . import corps, livecodes, presenters, selectors, sync
from .edge import as_domain_error
from .models import Corp, Employee, SyncRun

PAGE_SIZE = 50
WEEKDAYS = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]


# --- plumbing -----------------------------------------------------------------------------------------------------


def _attempt(write) -> tuple[Any, DomainError | None]:
    """Run a write in a savepoint: a refusal (ours or WeCom's) leaves nothing behind and becomes a message."""
    try:
        with transaction.atomic():
            return write(), None
    except ChannelError as exc:
        return None, as_domain_error(exc)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        return None, exc


def _problems(exc: DomainError) -> list[str]:
    return [f"{field}: {', '.join(str(m) for m in msgs)}" for field, msgs in exc.fields.items()] or [exc.message]


def _base(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


# --- corps ---------------------------------------------------------------------------------------------------------


@require_GET
@wecom_page("channels.wecom.read")
def overview(request, actor):
    rows = [(c, corps.callback_url(c, _base(request))) for c in selectors.corps(actor)]
    return render(request, "wecom/overview.html", {
        "rows": rows, "can_manage": actor.can("channels.wecom.manage"),
        "can_live_codes": actor.can("channels.livecode.read")})


def _corp_data(post) -> dict[str, Any]:
    data = {k: post.get(k, "").strip() for k in ("corp_id", "name", "secret", "callback_token", "encoding_aes_key",
                                                  "agent_id", "agent_secret", "api_base")}
    return data


@require_http_methods(["GET", "POST"])
@wecom_page("channels.wecom.manage")
def corp_new(request, actor):
    errors: list[str] = []
    data: dict[str, Any] = {}
    if request.method == "POST":
        data = _corp_data(request.POST)
        corp, error = _attempt(lambda: corps.add_corp(actor=actor, data=data))
        if error is None:
            messages.success(request, _("Corp connected. Register the callback URL below in WeCom's admin console."))
            return HttpResponseRedirect(reverse("wecom_corp", args=[corp.pk]))
        errors = _problems(error)
    data.pop("secret", None), data.pop("agent_secret", None)
    return render(request, "wecom/corp_form.html", {"data": data, "errors": errors}, status=422 if errors else 200)


@require_http_methods(["GET", "POST"])
@wecom_page("channels.wecom.read")
def corp_detail(request, actor, corp_id: int):
    corp = corps.corp_of(actor, corp_id)
    errors: list[str] = []
    if request.method == "POST":
        if not actor.can("channels.wecom.manage"):
            return refuse(request, actor, 403)
        data = {k: v for k, v in _corp_data(request.POST).items() if k != "corp_id"}
        data["is_active"] = request.POST.get("is_active") == "on"
        saved, error = _attempt(lambda: corps.update_corp(actor=actor, corp_pk=corp.pk, data=data))
        if error is None:
            messages.success(request, _("Settings saved."))
            return HttpResponseRedirect(reverse("wecom_corp", args=[corp.pk]))
        errors = _problems(error)
        corp = corps.corp_of(actor, corp_id)
    return render(request, "wecom/corp.html", {
        "corp": corp, "callback_url": corps.callback_url(corp, _base(request)), "errors": errors,
        "runs": selectors.sync_runs(actor, corp)[:20], "kinds": SyncRun.Kind.choices,
        "tags": selectors.corp_tags(actor, corp), "can_manage": actor.can("channels.wecom.manage"),
    }, status=422 if errors else 200)


@require_POST
@wecom_page("channels.wecom.manage")
def corp_sync(request, actor, corp_id: int):
    run, error = _attempt(lambda: sync.start_sync(actor=actor, corp_pk=corp_id, kind=request.POST.get("kind", "")))
    if error is None:
        messages.success(request, _("Sync queued: the list below shows its progress."))
    else:
        messages.error(request, "; ".join(_problems(error)))
    return HttpResponseRedirect(reverse("wecom_corp", args=[corp_id]))


# --- employees, contacts, callbacks ---------------------------------------------------------------------------------


def _corp_choice(request, actor) -> tuple[list[Corp], Corp | None]:
    options = list(selectors.corps(actor))
    raw = request.GET.get("corp", "")
    chosen = next((c for c in options if str(c.pk) == raw), None)
    return options, chosen


@require_GET
@wecom_page("channels.wecom.read")
def employees(request, actor):
    options, chosen = _corp_choice(request, actor)
    q = request.GET.get("q", "").strip()[:100]
    qs = selectors.employees(actor, corp_pk=chosen.pk if chosen else None, q=q)
    page = paginate(qs, order=["userid"], cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE)
    return render(request, "wecom/employees.html", {"page": page, "corps": options, "chosen": chosen, "q": q})


@require_GET
@wecom_page("channels.wecom.read")
def contacts(request, actor):
    options, chosen = _corp_choice(request, actor)
    q = request.GET.get("q", "").strip()[:100]
    qs = selectors.external_contacts(actor, corp_pk=chosen.pk if chosen else None, q=q)
    page = paginate(qs, order=["-id"], cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE)
    follows = selectors.follows_of(actor, page.items)
    rows = [(c, follows[c.pk]) for c in page.items]
    return render(request, "wecom/contacts.html", {"page": page, "rows": rows, "corps": options, "chosen": chosen,
                                                   "q": q, "can_profiles": actor.can("cdp.profile.read")})


@require_GET
@wecom_page("channels.wecom.read")
def callback_log(request, actor):
    options, chosen = _corp_choice(request, actor)
    failed = request.GET.get("failed") == "1"
    qs = selectors.callback_logs(actor, corp_pk=chosen.pk if chosen else None, failed=failed)
    page = paginate(qs, order=["-received_at"], cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE)
    return render(request, "wecom/callbacks.html", {"page": page, "corps": options, "chosen": chosen,
                                                    "failed": failed})


# --- live codes -----------------------------------------------------------------------------------------------------


@require_GET
@wecom_page("channels.livecode.read")
def live_codes(request, actor):
    options, chosen = _corp_choice(request, actor)
    codes = selectors.live_codes(actor, corp_pk=chosen.pk if chosen else None)
    return render(request, "wecom/live_codes.html", {
        "codes": codes, "corps": options, "chosen": chosen, "can_manage": actor.can("channels.livecode.manage")})


def _live_code_data(post, employees_: list[Employee]) -> dict[str, Any]:
    members = []
    for e in employees_:
        if post.get(f"use_{e.pk}") == "on":
            members.append({"userid": e.userid, "weight": post.get(f"weight_{e.pk}") or 1,
                            "is_backup": post.get(f"backup_{e.pk}") == "on"})
    schedule: dict[str, Any] = {}
    if post.get("start") or post.get("end"):
        schedule = {"weekdays": [int(d) for d in post.getlist("weekdays") if d.isdigit()],
                    "start": post.get("start", ""), "end": post.get("end", "")}
    attachments = []
    if post.get("link_url") or post.get("link_title"):
        attachments.append({"kind": "link", "title": post.get("link_title", ""), "url": post.get("link_url", ""),
                            "description": post.get("link_description", ""),
                            "picture_url": post.get("link_picture_url", "")})
    if post.get("image_url") or post.get("image_media_id"):
        attachments.append({"kind": "image", "url": post.get("image_url", ""),
                            "media_id": post.get("image_media_id", "")})
    if post.get("mini_appid") or post.get("mini_title"):
        attachments.append({"kind": "miniprogram", "title": post.get("mini_title", ""),
                            "appid": post.get("mini_appid", ""), "page": post.get("mini_page", ""),
                            "picture_media_id": post.get("mini_picture_media_id", "")})
    return {"name": post.get("name", ""), "state": post.get("state", ""), "members": members,
            "schedule": schedule, "daily_cap": post.get("daily_cap", ""), "tag_ids": post.getlist("tag_ids"),
            "welcome": {"text": post.get("welcome_text", ""), "attachments": attachments},
            "channel_label": post.get("channel_label", ""), "source_label": post.get("source_label", ""),
            "skip_verify": post.get("skip_verify") == "on"}


def _form_context(actor, corp: Corp, data: dict[str, Any], errors: list[str], code=None) -> dict[str, Any]:
    staff = list(selectors.employees(actor, corp_pk=corp.pk).filter(left_at__isnull=True).order_by("userid"))
    chosen = {m["userid"]: m for m in data.get("members") or []}
    rows = [(e, chosen.get(e.userid)) for e in staff]
    welcome = data.get("welcome") or {}
    by_kind = {a.get("kind"): a for a in welcome.get("attachments") or []}
    schedule = data.get("schedule") or {}
    return {"corp": corp, "data": data, "errors": errors, "rows": rows, "code": code,
            "tags": selectors.corp_tags(actor, corp), "weekdays": WEEKDAYS,
            "chosen_days": schedule.get("weekdays") or [1, 2, 3, 4, 5], "schedule": schedule, "welcome": welcome,
            "link": by_kind.get("link", {}), "image": by_kind.get("image", {}),
            "mini": by_kind.get("miniprogram", {})}


@require_http_methods(["GET", "POST"])
@wecom_page("channels.livecode.manage")
def live_code_new(request, actor):
    options, chosen = _corp_choice(request, actor)
    corp = chosen or (options[0] if options else None)
    if corp is None:
        messages.error(request, _("Connect a WeCom corp first."))
        return HttpResponseRedirect(reverse("channels_wecom"))
    errors: list[str] = []
    data: dict[str, Any] = {"skip_verify": True}
    if request.method == "POST":
        staff = list(selectors.employees(actor, corp_pk=corp.pk).filter(left_at__isnull=True))
        data = _live_code_data(request.POST, staff)
        code, error = _attempt(lambda: livecodes.create_live_code(actor=actor, corp_pk=corp.pk, data=data))
        if error is None:
            messages.success(request, _("Live code created."))
            return HttpResponseRedirect(reverse("wecom_live_code", args=[code.pk]))
        errors = _problems(error)
    return render(request, "wecom/live_code_form.html", {**_form_context(actor, corp, data, errors),
                                                         "corps": options}, status=422 if errors else 200)


@require_http_methods(["GET", "POST"])
@wecom_page("channels.livecode.read")
def live_code_detail(request, actor, code_id: int):
    code = livecodes.live_code_of(actor, code_id)
    errors: list[str] = []
    data = presenters.live_code_data(code)
    if request.method == "POST":
        if not actor.can("channels.livecode.manage"):
            return refuse(request, actor, 403)
        staff = list(selectors.employees(actor, corp_pk=code.corp_id).filter(left_at__isnull=True))
        data = _live_code_data(request.POST, staff)
        saved, error = _attempt(lambda: livecodes.update_live_code(actor=actor, code_pk=code.pk, data=data))
        if error is None:
            messages.success(request, _("Live code saved."))
            return HttpResponseRedirect(reverse("wecom_live_code", args=[code.pk]))
        errors = _problems(error)
    context = _form_context(actor, code.corp, data, errors, code)
    context["can_manage"] = actor.can("channels.livecode.manage") and code.is_active
    return render(request, "wecom/live_code_form.html", context, status=422 if errors else 200)


@require_POST
@wecom_page("channels.livecode.manage")
def live_code_delete(request, actor, code_id: int):
    deleted, error = _attempt(lambda: livecodes.delete_live_code(actor=actor, code_pk=code_id))
    if error is None:
        messages.success(request, _("Live code deleted. Its statistics stay available."))
        return HttpResponseRedirect(reverse("wecom_live_codes"))
    messages.error(request, "; ".join(_problems(error)))
    return HttpResponseRedirect(reverse("wecom_live_code", args=[code_id]))


@require_GET
@wecom_page("channels.livecode.read")
def live_code_stats(request, actor, code_id: int):
    code = livecodes.live_code_of(actor, code_id)
    return render(request, "wecom/live_code_stats.html", {"code": code, "totals": livecodes.totals(code)})


@require_GET
@wecom_page("channels.livecode.read")
def live_code_stats_json(request, actor, code_id: int):
    code = livecodes.live_code_of(actor, code_id)
    try:
        days = min(max(int(request.GET.get("days", 30)), 1), 180)
    except ValueError:
        days = 30
    series = livecodes.stats_series(code, days=days)
    labels = {"adds": _("Adds"), "deletions": _("Deletions"), "net": _("Net"), "retention": _("Retention %")}
    return JsonResponse({**series, "labels": labels})


def _qr(code) -> segno.QRCode:
    if not code.qr_code:
        raise NotFound("no QR code")
    return segno.make(code.qr_code, error="m")


def qr_response(request, code, kind: str, prefix: str) -> HttpResponse:
    """A code's QR image as PNG or SVG (``?download=1`` as an attachment named ``<prefix>-<id>.<kind>``)."""
    out = io.BytesIO()
    if kind == "png":
        _qr(code).save(out, kind="png", scale=10, border=2)
    else:
        _qr(code).save(out, kind="svg", scale=10, border=2, xmldecl=False)
    response = HttpResponse(out.getvalue(), content_type="image/png" if kind == "png" else "image/svg+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{prefix}-{code.pk}.{kind}"'
    return response


@require_GET
@wecom_page("channels.livecode.read")
def live_code_qr_png(request, actor, code_id: int):
    return qr_response(request, livecodes.live_code_of(actor, code_id), "png", "live-code")


@require_GET
@wecom_page("channels.livecode.read")
def live_code_qr_svg(request, actor, code_id: int):
    return qr_response(request, livecodes.live_code_of(actor, code_id), "svg", "live-code")
