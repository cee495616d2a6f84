"""Console pages the shell owns: the dashboard, its chart data, and the empty state of pages not built yet."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from . import navigation, selectors
from .context import current_actor


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


@require_safe
@member_page
def home(request, actor):
    return render(request, "console/home.html", {"can_see_members": actor.can("iam.user.read")})


@require_safe
@member_page
def members_by_department(request, actor):
    if not actor.can("iam.user.read"):
        raise PermissionDenied
    rows = selectors.members_per_department(actor)
    return JsonResponse({"title": _("Members per department"), "items": rows})


@require_safe
@member_page
def planned(request, actor, key: str):
    entry = navigation.entry(key)
    # Unknown keys and entries the actor may not see answer the same: nothing here.
    if entry is None or entry not in navigation.visible(actor, [entry]):
        raise Http404
    url, built = navigation.resolve(entry)
    if built:
        return redirect(url)
    return render(request, "console/planned.html", {"entry": entry})
