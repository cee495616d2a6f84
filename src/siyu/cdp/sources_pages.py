"""Console pages of event sources under ``/customers/sources/``: the list (name, key prefix, state, created),
create (the write key is shown once, on the answer to the form, never stored in clear or in the
session), disable / enable, and rotate (a new key, shown once; the old one stops working).

Same rule as ``pages.py``: authorise (``cdp.source.manage``), call one service, render; refusals are the
audited 403/404 pages of :func:`pages.customer_page`.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from siyu.kernel.errors import ValidationFailed

from .ingest import sources
from .pages import _problem, customer_page


def _shown_once(request, source, key: str, *, rotated: bool):
    response = render(request, "cdp/source_key.html", {
        "source": source, "key": key, "rotated": rotated,
        "endpoint": request.build_absolute_uri("/v1/track"), "host": request.build_absolute_uri("/").rstrip("/")})
    response["Cache-Control"] = "no-store"  # the only copy of the key: never from a cache or the back button
    return response


@require_http_methods(["GET", "POST"])
@customer_page(sources.MANAGE)
def source_list(request, actor):
    error, name = "", ""
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            source, key = sources.create_source(actor=actor, name=name)
        except ValidationFailed as exc:
            error = _problem(exc)
        else:
            return _shown_once(request, source, key, rotated=False)
    return render(request, "cdp/sources.html", {"sources": sources.list_sources(actor=actor), "error": error,
                                                "name": name}, status=422 if error else 200)


@require_POST
@customer_page(sources.MANAGE)
def source_set_active(request, actor, source_id: int, active: bool):
    """``disable/`` and ``enable/`` (``active`` comes from the URL pattern)."""
    source = sources.set_active(actor=actor, source_id=source_id, active=active)
    text = _("%(name)s is enabled.") if active else _("%(name)s is disabled: its key is refused from now on.")
    messages.success(request, text % {"name": source.name})
    return HttpResponseRedirect(reverse("cdp_sources"))


@require_POST
@customer_page(sources.MANAGE)
def source_rotate(request, actor, source_id: int):
    source, key = sources.rotate_key(actor=actor, source_id=source_id)
    return _shown_once(request, source, key, rotated=True)
