"""API-wide conventions that sit around every router under ``/api/v1``.

Two middlewares, because they need different places in ``settings.MIDDLEWARE``:

* :class:`ApiErrorShapeMiddleware` sits near the top: it refuses oversized bodies (413) and rewrites every
  non-JSON error response under the API (Django's 404 for an unknown route, ninja's bare 405, the session
  policy's empty 401, the 500 page) into the one error shape ``{"code", "message", "fields"}``.
* :class:`ApiRequestMiddleware` sits after authentication and the session policy: it finds the credential,
  applies its rate limit (429 with ``Retry-After``, ``X-RateLimit-*`` on every answer) and honours
  ``Idempotency-Key``. It runs **outside** the request's transaction (``ATOMIC_REQUESTS`` wraps only the view),
  which is what lets the idempotency placeholder commit before the handler starts.

Kernel imports no context, so the credential is found by a function named in
``settings.SIYU_API_CREDENTIAL_RESOLVER`` (the composition root wires iam's authentication in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from ninja.utils import check_csrf

from . import idempotency, ratelimit
from .errors import DomainError, RateLimited

API_PREFIX = "/api/v1/"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# Codes for error responses that did not come from our handlers (those already carry the shape).
_STATUS_CODES = {
    400: ("bad_request", "the request is not valid"),
    401: ("not_authenticated", "authentication required"),
    403: ("permission_denied", "not allowed"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "method not allowed on this resource"),
    413: ("request_too_large", "the request body is too large"),
    500: ("server_error", "something went wrong on our side"),
}
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "HX-Redirect")


@dataclass(frozen=True)
class ApiCredential:
    """Who is calling, as far as rate limits and idempotency care."""

    owner: str  # "apikey:<id>" or "user:<id>:org:<id>"
    rate_per_minute: int | None = None  # the credential's own limit, else SIYU_API_RATE_PER_MINUTE
    session: bool = False  # a console session: unsafe requests must pass the CSRF check first


def error_response(status: int, code: str, message: str, fields=None, headers=None) -> JsonResponse:
    response = JsonResponse({"code": code, "message": message, "fields": fields or {}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def domain_error_response(exc: DomainError) -> JsonResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return error_response(exc.status, exc.code, exc.message, exc.fields, headers)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class ApiErrorShapeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        limit = int(getattr(settings, "SIYU_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
        if _content_length(request) > limit:
            return error_response(413, "request_too_large", f"the request body is larger than {limit} bytes")
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response) and not getattr(response, "streaming", False):
            response = _reshaped(response)
        return response


def _reshaped(response: HttpResponse) -> JsonResponse:
    code, message = _STATUS_CODES.get(response.status_code, (f"http_{response.status_code}", "request failed"))
    shaped = error_response(response.status_code, code, message)
    for name in _KEPT_HEADERS:
        if response.has_header(name):
            shaped[name] = response[name]
    return shaped


@lru_cache(maxsize=4)
def _resolver(path: str) -> Callable[[HttpRequest], ApiCredential | None]:
    return import_string(path)


def credential_of(request: HttpRequest) -> ApiCredential | None:
    path = getattr(settings, "SIYU_API_CREDENTIAL_RESOLVER", "")
    return _resolver(path)(request) if path else None


class ApiRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        credential = credential_of(request)
        if credential is None:  # the API itself answers 401 (or serves the public schema)
            return self.get_response(request)
        limit = credential.rate_per_minute or int(settings.SIYU_API_RATE_PER_MINUTE)
        decision = ratelimit.hit(credential.owner, limit)
        if decision.allowed:
            response = self._idempotent(request, credential)
        else:
            response = domain_error_response(
                RateLimited(f"more than {limit} requests a minute", retry_after=decision.reset_seconds)
            )
        for name, value in decision.headers().items():
            response[name] = value
        return response

    def _idempotent(self, request: HttpRequest, credential: ApiCredential) -> HttpResponse:
        key = request.headers.get(idempotency.HEADER)
        if key is None or request.method not in idempotency.METHODS:
            return self.get_response(request)
        if credential.session and _csrf_fails(request):
            return self.get_response(request)  # the API refuses it; never replay to a forged request
        try:
            claim = idempotency.claim(
                owner=credential.owner, key=key, method=request.method, path=request.get_full_path(),
                body=request.body,
            )
        except DomainError as exc:
            return domain_error_response(exc)
        if claim.stored is not None:
            return idempotency.replay(claim.stored)
        try:
            response = self.get_response(request)
        except BaseException:
            idempotency.release(claim.placeholder)
            raise
        idempotency.complete(claim.placeholder, response)
        return response


def _csrf_fails(request: HttpRequest) -> bool:
    return check_csrf(request) is not None

