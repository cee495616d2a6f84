"""Console pages the shell owns: the dashboard, its chart data, and the empty state of pages not built yet."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from . import navigation, selectors
from .guards import member_page


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
