"""Console pages of the official-account channel under ``/channels/official-account/``: accounts (connect, with
the callback URL to register), parametric QR codes (create, statistics per scene), followers, the callback log.

Same rule as an API edge: parse, authorise, call one service or selector, render. Refusals are audited and
answered with the console's 403 page; a record of another organisation is a 404. A platform failure during a
write is shown on the form and nothing is kept (the write runs in a savepoint).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from siyu.channels.errors import ChannelError, ChannelValidationError
from siyu.console.guards import operation_page as oa_page  # the audited 403/404 guard, shared
from siyu.console.guards import refuse
from siyu.kernel.errors import DomainError, NotFound, PermissionDenied

from . import accounts, qrcodes
from .models import CallbackLog, Follower

LIST_SIZE = 100


def _attempt(write) -> tuple[Any, list[str]]:
    """Run a write in a savepoint; a refusal (ours or the platform's) leaves nothing and becomes messages."""
    try:
        with transaction.atomic():
            return write(), []
    except ChannelValidationError as exc:
        return None, [f"{f}: {', '.join(map(str, m))}" for f, m in exc.fields.items()] or [exc.message]
    except ChannelError as exc:
        return None, [_("The official account platform refused or failed: %(error)s") % {"error": exc.message}]
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        return None, [f"{f}: {', '.join(map(str, m))}" for f, m in exc.fields.items()] or [exc.message]


def _base(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@require_GET
@oa_page("channels.official_account.read")
def overview(request, actor):
    rows = [(a, accounts.callback_url(a, _base(request))) for a in accounts.accounts_for(actor)]
    return render(request, "official_account/overview.html", {
        "rows": rows, "can_manage": actor.can("channels.official_account.manage"), "tab": "accounts"})


@require_http_methods(["GET", "POST"])
@oa_page("channels.official_account.manage")
def account_new(request, actor):
    errors: list[str] = []
    data: dict[str, Any] = {}
    if request.method == "POST":
        data = {k: request.POST.get(k, "").strip() for k in ("appid", "name", "secret", "callback_token",
                                                             "encoding_aes_key", "api_base", "template_id",
                                                             "template_field")}  # fmt: skip
        account, errors = _attempt(lambda: accounts.add_account(actor=actor, data=data))
        if not errors:
            messages.success(request, _("Official account connected. Register its callback URL in the official "
                                        "account's admin console with the same Token and EncodingAESKey."))  # fmt: skip
            return HttpResponseRedirect(reverse("channels_official_account"))
    for secret in ("secret", "callback_token", "encoding_aes_key"):
        data.pop(secret, None)  # never echoed back into the page
    return render(request, "official_account/account_form.html", {"data": data, "errors": errors, "tab": "accounts"},
                  status=422 if errors else 200)  # fmt: skip


@require_http_methods(["GET", "POST"])
@oa_page("channels.official_account.read")
def qr_codes(request, actor):
    errors: list[str] = []
    data: dict[str, Any] = {}
    if request.method == "POST":
        if not actor.can("channels.official_account.manage"):
            return refuse(request, actor, 403)
        data = {k: request.POST.get(k, "").strip() for k in ("account", "name", "scene", "expire_seconds",
                                                             "source_label", "channel_label")}  # fmt: skip
        data["permanent"] = request.POST.get("permanent") == "on"
        _, errors = _attempt(lambda: qrcodes.create_qr_code(actor=actor, account_pk=data["account"], data=data))
        if not errors:
            messages.success(request, _("QR code created."))
            return HttpResponseRedirect(reverse("official_account_qr_codes"))
    codes = list(qrcodes.qr_codes_for(actor)[:LIST_SIZE])
    stats = qrcodes.scene_stats(actor, codes)
    rows = [(c, stats.get(c.pk, {"subscribes": 0, "scans": 0, "people": 0})) for c in codes]
    return render(request, "official_account/qr_codes.html", {
        "rows": rows, "errors": errors, "data": data, "accounts": list(accounts.accounts_for(actor)),
        "can_manage": actor.can("channels.official_account.manage"), "tab": "qr"},
        status=422 if errors else 200)  # fmt: skip


@require_GET
@oa_page("channels.official_account.read")
def followers(request, actor):
    rows = Follower.objects.in_org(actor).select_related("account", "first_qr_code").order_by("-pk")[:LIST_SIZE]
    return render(request, "official_account/followers.html", {"rows": rows, "tab": "followers"})


@require_GET
@oa_page("channels.official_account.read")
def callback_log(request, actor):
    rows = CallbackLog.objects.in_org(actor).select_related("account").order_by("-received_at", "-pk")[:LIST_SIZE]
    return render(request, "official_account/callbacks.html", {"rows": rows, "tab": "callbacks"})
