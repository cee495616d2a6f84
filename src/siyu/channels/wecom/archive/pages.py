"""Console pages of the conversation archive under ``/channels/wecom/archive/``: per corp settings (secret,
source, retention, reply timeout and working hours) and "fetch now", sensitive-word rules, the alerts, and one
customer's conversation (decrypted for ``channels.archive.read``, audited)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.channels.wecom.corps import corps_for
from siyu.channels.wecom.pages import _attempt, _problems, wecom_page

from . import selectors, services
from .ingest import ingest
from .models import ArchiveConfig

WEEKDAYS = [(1, _lazy("Mon")), (2, _lazy("Tue")), (3, _lazy("Wed")), (4, _lazy("Thu")), (5, _lazy("Fri")), (6, _lazy("Sat")),
            (7, _lazy("Sun"))]


@require_GET
@wecom_page("channels.archive.read")
def archive_overview(request, actor):
    configs = {c.corp_id: c for c in selectors.configs(actor)}
    return render(request, "wecom_archive/overview.html", {
        "corps": [(corp, configs.get(corp.pk)) for corp in corps_for(actor)], "words": list(selectors.words(actor)),
        "alerts": selectors.alerts(actor), "can_manage": actor.can(services.MANAGE)})


@require_http_methods(["GET", "POST"])
@wecom_page(services.MANAGE)
def archive_config(request, actor, corp_id: int):
    from siyu.channels.wecom.corps import corp_of

    corp = corp_of(actor, corp_id)
    config = ArchiveConfig.objects.in_org(actor).filter(corp=corp).first()
    errors: list[str] = []
    if request.method == "POST":
        __, exc = _attempt(lambda: services.save_config(actor=actor, corp_pk=corp.pk, data=request.POST))
        if exc is None:
            messages.success(request, _("Archive settings saved."))
            return HttpResponseRedirect(reverse("wecom_archive"))
        errors = _problems(exc)
    return render(request, "wecom_archive/config.html", {
        "corp": corp, "config": config, "errors": errors, "weekdays": WEEKDAYS,
        "days": (config.work_days if config and config.work_days else [1, 2, 3, 4, 5]),
        "sources": ArchiveConfig.Source.choices}, status=422 if errors else 200)


@require_POST
@wecom_page(services.MANAGE)
def archive_fetch(request, actor, config_id: int):
    config = services.config_of(actor, config_id)
    counts, exc = _attempt(lambda: ingest(config))
    if exc is None:
        messages.success(request, _("%(stored)s messages archived, %(skipped)s without consent.") % {
            "stored": counts.get("stored", 0), "skipped": counts.get("no_consent", 0)})
    else:
        messages.error(request, "; ".join(_problems(exc)))
    return HttpResponseRedirect(reverse("wecom_archive"))


@require_POST
@wecom_page(services.MANAGE)
def archive_word_add(request, actor):
    __, exc = _attempt(lambda: services.add_word(actor=actor, word=request.POST.get("word"),
                                                applies_to=request.POST.get("applies_to", "both")))
    if exc is not None:
        messages.error(request, "; ".join(_problems(exc)))
    return HttpResponseRedirect(reverse("wecom_archive"))


@require_POST
@wecom_page(services.MANAGE)
def archive_word_delete(request, actor, rule_id: int):
    services.delete_word(actor=actor, rule_id=rule_id)
    return HttpResponseRedirect(reverse("wecom_archive"))


@require_GET
@wecom_page(selectors.READ)
def archive_conversation(request, actor, profile_id: int):
    data = selectors.conversation(actor, profile_id, ip=request.META.get("REMOTE_ADDR"))
    return render(request, "wecom_archive/conversation.html", data)
