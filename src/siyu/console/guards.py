"""The guard every context's console pages stand behind (one place, so a denial is answered and audited alike).

``operation_page("cdp.profile.read")``: signed in, acting in an organisation, holding the operation; the actor is
passed to the view. A ``NotFound`` or ``PermissionDenied`` from a service becomes the 404 / 403 page with a
``denied`` audit entry — out of scope answers 404, never 403, so existence does not leak. ``iam`` and ``audit``
keep their own guards: they may not import a business context such as this one (rule of direction 1).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views import defaults

from siyu.audit.services import record_denied
from siyu.kernel.errors import NotFound, PermissionDenied

from .context import current_actor


def refuse(request, actor, status: int):
    """The audited 403 or 404 page (rendered, not raised, so the audit entry commits with the request)."""
    record_denied(actor, status=status, code="permission_denied" if status == 403 else "not_found",
                  method=request.method, path=request.path, ip=request.META.get("REMOTE_ADDR"))
    if status == 403:
        return defaults.permission_denied(request, DjangoPermissionDenied())
    return defaults.page_not_found(request, Http404())


def member_page(view):
    """Signed in and a member of an organisation; the actor is passed to the view."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        actor = current_actor(request)
        if actor is None:
            return render(request, "console/no_organization.html", status=403)
        return view(request, actor, *args, **kwargs)

    return wrapper


def operation_page(operation: str):
    def decorate(view):
        @member_page
        @wraps(view)
        def wrapper(request, actor, *args, **kwargs):
            if not actor.can(operation):
                return refuse(request, actor, 403)
            try:
                return view(request, actor, *args, **kwargs)
            except NotFound:  # raised before any write, or inside a write's savepoint (rolled back)
                return refuse(request, actor, 404)
            except PermissionDenied:
                return refuse(request, actor, 403)

        return wrapper

    return decorate
