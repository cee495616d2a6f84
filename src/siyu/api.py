"""Composition root of the REST API: one NinjaAPI under /api/v1 with every context's router."""

from __future__ import annotations

import logging

from django.db import DataError
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from siyu.audit.services import record_denied
from siyu.iam.auth import ApiKeyAuth, SessionActorAuth, api_key_for_request
from siyu.iam.middleware import current_membership
from siyu.kernel import idempotency
from siyu.kernel.deferred import after_request, rollback_request_transaction
from siyu.kernel.errors import DomainError, NotFound, PermissionDenied, RateLimited
from siyu.kernel.middleware import ApiCredential

log = logging.getLogger(__name__)


class SiyuAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        return idempotency.document(super().get_openapi_schema(**kwargs))


api = SiyuAPI(
    title="Siyu API",
    version="1",
    urls_namespace="api-v1",
    auth=[ApiKeyAuth(), SessionActorAuth()],
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def install_error_handlers(target: NinjaAPI) -> None:
    """The one error shape for every failure, and "nothing half-written": a failed operation's writes roll back
    with the request, while the audit entry of a denied access is kept (written after the rollback)."""

    def error(request: HttpRequest, status: int, code: str, message: str, fields=None, headers=None):
        body = {"code": code, "message": message, "fields": fields or {}}
        response = target.create_response(request, body, status=status)
        for k, v in (headers or {}).items():
            response[k] = v
        return response

    @target.exception_handler(DomainError)
    def _domain_error(request, exc: DomainError):
        rollback_request_transaction()
        if isinstance(exc, PermissionDenied | NotFound):  # every denied access is audited (404 = out of scope)
            actor, ip = getattr(request, "api_actor", None), request.META.get("REMOTE_ADDR")
            after_request(request, lambda: record_denied(actor, status=exc.status, code=exc.code,
                                                         method=request.method, path=request.path, ip=ip))
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return error(request, exc.status, exc.code, exc.message, exc.fields, headers)

    @target.exception_handler(NinjaValidationError)
    def _validation_error(request, exc: NinjaValidationError):
        rollback_request_transaction()
        fields: dict[str, list[str]] = {}
        for err in exc.errors:
            loc = [str(p) for p in err.get("loc", []) if p not in ("body", "query", "path", "payload")]
            fields.setdefault(".".join(loc) or "__all__", []).append(err.get("msg", "invalid"))
        return error(request, 422, "validation_failed", "the request is not valid", fields)

    def _out_of_range(request, exc):
        # An unbounded number or text the database cannot hold (SQLite's 64-bit integers, PostgreSQL's column
        # types) is bad input, not a server error: 422, logged so the schema can get the bound it lacks.
        rollback_request_transaction()
        log.warning("value out of range for the database on %s %s: %s", request.method, request.path, exc)
        return error(request, 422, "validation_failed", "a value is out of range",
                     {"__all__": ["a number or text is too large"]})

    target.add_exception_handler(OverflowError, _out_of_range)
    target.add_exception_handler(DataError, _out_of_range)

    @target.exception_handler(AuthenticationError)
    def _auth_error(request, exc):
        return error(request, 401, "not_authenticated", "authentication required")

    @target.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        rollback_request_transaction()
        if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):  # ninja's malformed JSON
            return error(request, 422, "validation_failed", "the body is not valid JSON", {"body": ["not valid JSON"]})
        return error(request, exc.status_code, "http_error", str(exc))


install_error_handlers(api)


def credential_of(request: HttpRequest) -> ApiCredential | None:
    """Who calls, for kernel.middleware's rate limits and Idempotency-Key (the same order ninja's auth tries)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        actor, rate = api_key_for_request(request, token.strip())
        if actor is not None:
            return ApiCredential(owner=f"apikey:{actor.api_key_id}", rate_per_minute=rate)
    membership = current_membership(request)
    if membership is None:
        return None
    return ApiCredential(owner=f"user:{membership.user_id}:org:{membership.org_id}", session=True)


def _mount() -> None:
    from siyu.audit.api import router as audit_router
    from siyu.iam.api import router as iam_router
    from siyu.platform.api import router as platform_router

    api.add_router("/iam", iam_router)
    api.add_router("/audit", audit_router)
    api.add_router("/platform", platform_router)
    api.add_router("/cdp", "siyu.cdp.api.router")
    api.add_router("/cdp/segments", "siyu.cdp.segments.api.router")
    api.add_router("/sales/commerce", "siyu.sales.commerce_api.router")
    api.add_router("/platform/approvals", "siyu.platform.approvals.api.router")
    api.add_router("/cdp/imports", "siyu.cdp.imports_api.router")
    api.add_router("/channels/wecom", "siyu.channels.wecom.api.router")
    api.add_router("/channels/wecom/broadcasts", "siyu.channels.wecom.broadcasts.api.router")
    api.add_router("/sales", "siyu.sales.api.router")


_mount()
