"""Console pages of the audit log: search (htmx-updated results, cursor "more"), one entry's diff, verify.

Same rule as api.py: parse, authorise, call one selector or service, render. Every refusal is audited.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST

from siyu.kernel.errors import NotFound, ValidationFailed

from . import selectors, services
from .forms import EntrySearchForm
from .http import client_ip
from .labels import PROBLEMS, action_label
from .verify import verify_chain

PAGE_SIZE = 50


def _deny(request, actor, status: int):
    """Record the refusal, then answer with the console's 403/404 page.

    Returned, not raised: under ATOMIC_REQUESTS an exception would roll the refusal's entry back with it.
    """
    services.record_denied(actor, status=status, code="permission_denied" if status == 403 else "not_found",
                           method=request.method, path=request.path, ip=client_ip(request))
    if status == 403:
        return defaults.permission_denied(request, PermissionDenied())
    return defaults.page_not_found(request, Http404())


def audit_page(operation: str):
    """Signed in, a member of an organisation, holding ``operation``; the actor is passed to the view."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            actor = getattr(request, "actor", None)
            actor = actor if actor else None  # a lazy object that may wrap None
            if actor is None or not actor.can(operation):
                return _deny(request, actor, 403)
            return view(request, actor, *args, **kwargs)

        return wrapper

    return decorate


def _rows(entries):
    return [{"entry": e, "label": action_label(e.action)} for e in entries]


@require_GET
@audit_page("audit.entry.read")
def audit_log(request, actor):
    form = EntrySearchForm(request.GET or None)
    page, error = None, False
    if form.is_bound and not form.is_valid():
        error = True
    else:
        filters = form.filters() if form.is_bound else selectors.EntryFilters()
        try:
            page = selectors.page_entries(actor=actor, filters=filters, cursor=request.GET.get("cursor") or None,
                                          limit=PAGE_SIZE)
        except ValidationFailed:
            error = True
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "form": form, "rows": _rows(page.items) if page else [], "next_cursor": page.next_cursor if page else None,
        "query": query.urlencode(), "error": error, "can_verify": actor.can("audit.chain.verify"),
        "can_export": actor.can("audit.entry.export"),
    }
    if request.htmx and request.GET.get("cursor"):
        return render(request, "audit/log.html#more", context)
    if request.htmx:
        return render(request, "audit/log.html#results", context)
    return render(request, "audit/log.html", context)


@require_GET
@audit_page("audit.entry.read")
def audit_entry(request, actor, entry_id: int):
    try:
        entry = selectors.get_entry(actor=actor, entry_id=entry_id)
    except NotFound:
        return _deny(request, actor, 404)
    changes = [{"field": name, "before": pair[0] if len(pair) > 0 else None,
                "after": pair[1] if len(pair) > 1 else None}
               for name, pair in sorted(entry.changes.items()) if isinstance(pair, list)]
    return render(request, "audit/entry.html", {
        "entry": entry, "label": action_label(entry.action), "changes": changes, "meta": sorted(entry.meta.items()),
    })


@require_POST
@audit_page("audit.chain.verify")
def audit_verify(request, actor):
    report = verify_chain(actor.org_id)
    problem = report.problems[0] if report.problems else None
    return render(request, "audit/_verify.html", {
        "report": report, "problem": problem, "kind": PROBLEMS.get(problem.kind, problem.kind) if problem else "",
    })
