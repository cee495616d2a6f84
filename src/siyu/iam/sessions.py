"""Server-side console sessions: a ``UserSession`` row beside each Django session, so that logout, disabling a
member and timeouts end a session for real (the Django session row is deleted, not just forgotten by a cookie)."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.http import HttpRequest

from siyu.kernel import clock

from .models import Membership, User, UserSession


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a forwarded header is trivially forged unless a trusted proxy is configured.
    return request.META.get("REMOTE_ADDR") or None


def start_session(request: HttpRequest, *, user: User, membership: Membership) -> UserSession:
    """Record the session that ``django.contrib.auth.login`` has just created (with a fresh key)."""
    if not request.session.session_key:
        request.session.save()
    return UserSession.objects.create(
        user=user,
        membership=membership,
        session_key=request.session.session_key,
        last_seen_at=clock.now(),
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )


def current_session(request: HttpRequest) -> UserSession | None:
    key = request.session.session_key
    return UserSession.objects.filter(session_key=key).first() if key else None


def move_session(request: HttpRequest, *, membership: Membership) -> None:
    """The session now acts in another organisation."""
    key = request.session.session_key
    if key:
        UserSession.objects.filter(session_key=key, ended_at__isnull=True).update(membership=membership)


def mark_ended(session_keys: list[str], reason: str) -> None:
    UserSession.objects.filter(session_key__in=session_keys, ended_at__isnull=True).update(
        ended_at=clock.now(), ended_reason=reason
    )


def end_sessions_of_membership(membership: Membership, *, reason: str) -> int:
    """End every open session acting in this membership's organisation, server side, at once."""
    keys = list(
        UserSession.objects.filter(membership=membership, ended_at__isnull=True).values_list("session_key", flat=True)
    )
    if not keys:
        return 0
    mark_ended(keys, reason)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()
    return len(keys)
