"""API authentication: an API key (``Authorization: Bearer siyu_…``) or the console session (with CSRF)."""

from __future__ import annotations

import hashlib
import hmac

from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from siyu.kernel import clock
from siyu.kernel.actor import Actor, DataScope

from .middleware import current_membership
from .models import ApiKey
from .selectors import actor_for_membership

KEY_PREFIX = "siyu_"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def lookup_api_key(raw: str) -> tuple[Actor | None, int | None]:
    """The key's actor and its per-minute rate limit, in one query (None when unknown, revoked or expired)."""
    if not raw.startswith(KEY_PREFIX) or len(raw) < len(KEY_PREFIX) + 20:
        return None, None
    prefix = raw[len(KEY_PREFIX) : len(KEY_PREFIX) + 12]
    key = ApiKey.objects.unscoped_all_orgs().filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(raw)):
        return None, None
    now = clock.now()
    if key.expires_at and key.expires_at <= now:
        return None, None
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.unscoped_all_orgs().filter(pk=key.pk).update(last_used_at=now)
    actor = Actor(
        org_id=key.org_id,
        user_id=None,
        permissions=frozenset(key.scopes),
        default_scope=DataScope.ORGANIZATION,
        api_key_id=key.pk,
        label=f"apikey:{key.prefix}",
    )
    return actor, key.rate_per_minute


def api_key_for_request(request: HttpRequest, raw: str) -> tuple[Actor | None, int | None]:
    """`lookup_api_key`, once per request: the rate limiter and idempotency (kernel middleware) ask before
    ninja's auth does, and both must not pay for the lookup twice."""
    cached = getattr(request, "_siyu_api_key", None)
    if cached is not None and cached[0] == raw:
        return cached[1], cached[2]
    actor, rate = lookup_api_key(raw)
    request._siyu_api_key = (raw, actor, rate)
    return actor, rate


class ApiKeyAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        actor, _ = api_key_for_request(request, token)
        if actor is not None:
            request.api_actor = actor
        return actor


class SessionActorAuth(APIKeyCookie):
    """The console's session cookie; ninja's cookie auth enforces CSRF on unsafe methods."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        membership = current_membership(request)
        if membership is None:
            return None
        actor = actor_for_membership(membership)
        request.api_actor = actor
        return actor
