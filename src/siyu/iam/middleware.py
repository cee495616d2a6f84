"""Console session policy (idle and absolute timeouts, server-side end) and the request's actor."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject

from siyu.kernel import clock

from .models import Membership, UserSession
from .selectors import actor_for_membership

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
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    org_id = request.session.get("org_id")
    qs = Membership.objects.unscoped_all_orgs().filter(user=user, is_active=True).select_related("org")
    m = qs.filter(org_id=org_id).first() if org_id else None
    return m or qs.order_by("org_id").first()


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
