"""Console session policy (idle and absolute timeouts, server-side end) and the request's actor."""

from __future__ import annotations

import datetime as dt
import json

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from siyu.kernel import clock

from .authn import needs_second_factor
from .models import Membership, UserSession
from .selectors import actor_for_membership, memberships_of

TOUCH_EVERY = dt.timedelta(seconds=60)  # write last_seen at most once a minute per session


class SessionPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            reason = self._check(request)
            if reason:
                logout(request)
                if request.path.startswith("/api/") or request.headers.get("HX-Request"):
                    return HttpResponse(status=401, headers={"HX-Redirect": settings.LOGIN_URL})
                return redirect(f"{settings.LOGIN_URL}?expired={reason}")
            if not _exempt_from_2fa(request.path) and needs_second_factor(user, current_membership(request)):
                return _second_factor_required(request)
        return self.get_response(request)

    def _check(self, request) -> str | None:
        key = request.session.session_key
        rec = UserSession.objects.filter(session_key=key, user=request.user).first() if key else None
        now = clock.now()
        if rec is None or rec.ended_at is not None:
            return "ended"
        if now - rec.created_at > dt.timedelta(seconds=settings.SESSION_COOKIE_AGE):
            self._end(rec, "absolute_timeout", now)
            return "absolute"
        if now - rec.last_seen_at > dt.timedelta(seconds=settings.SIYU_SESSION_IDLE_SECONDS):
            self._end(rec, "idle_timeout", now)
            return "idle"
        if now - rec.last_seen_at > TOUCH_EVERY:
            UserSession.objects.filter(pk=rec.pk).update(last_seen_at=now)
        return None

    @staticmethod
    def _end(rec: UserSession, reason: str, now) -> None:
        UserSession.objects.filter(pk=rec.pk).update(ended_at=now, ended_reason=reason)


def current_membership(request) -> Membership | None:
    """The membership the console session acts in: the chosen organisation, else the person's first one.

    Cached on the request; the person's own memberships are few, so the choice is made in Python."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(request, "_iam_membership"):
        mine = sorted(memberships_of(user), key=lambda m: m.org_id)
        wanted = request.session.get("org_id")
        request._iam_membership = next((m for m in mine if m.org_id == wanted), mine[0] if mine else None)
    return request._iam_membership


# Paths an administrator who must enrol a second factor may still reach.
_2FA_EXEMPT = ("/login/", "/logout/", "/account/security/", "/static/", "/i18n/")


def _exempt_from_2fa(path: str) -> bool:
    return path.startswith(_2FA_EXEMPT)


def _second_factor_required(request):
    if request.path.startswith("/api/"):
        body = json.dumps({"code": "second_factor_required",
                           "message": "enrol a second factor in the console first", "fields": {}})
        return HttpResponse(body, status=403, content_type="application/json")
    url = reverse("account_security")
    if request.headers.get("HX-Request"):
        return HttpResponse(status=403, headers={"HX-Redirect": url})
    return redirect(f"{url}?required=1")


class ActorMiddleware:
    """``request.actor`` for console requests (the API sets its own from the session or the API key)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        def _membership():
            return current_membership(request)

        request.membership = SimpleLazyObject(_membership)

        def _actor():
            m = current_membership(request)
            return actor_for_membership(m) if m else None

        request.actor = SimpleLazyObject(_actor)
        return self.get_response(request)
