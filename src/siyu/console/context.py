"""Template context every console page gets: the actor's navigation, organisations and languages.

Everything is lazy: fragments rendered for htmx and pages of anonymous visitors never pay for it.
"""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from siyu.iam.selectors import memberships_of

from . import navigation


def current_actor(request):
    """The request's actor, or None for anonymous visitors and people without an active membership."""
    actor = getattr(request, "actor", None)
    return actor if actor else None  # request.actor is a lazy object that may wrap None


def console(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"console_nav": [], "console_memberships": [], "console_membership": None}
    membership = getattr(request, "membership", None)
    return {
        "console_nav": SimpleLazyObject(lambda: navigation.menu(current_actor(request), request.path)),
        "console_memberships": SimpleLazyObject(lambda: memberships_of(user)),
        "console_membership": membership if membership else None,
    }
