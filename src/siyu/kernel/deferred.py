"""Writes that must outlive a rolled-back request.

With ``ATOMIC_REQUESTS`` the view runs in one transaction. When an API operation fails half-way, the error
handler rolls that transaction back ("nothing half-written"); but some records must still be kept, above all
the audit entry of a denied access. Such writes are deferred with :func:`after_request` and run by
:class:`DeferredWritesMiddleware`, which sits outside the view's transaction, each in a transaction of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

_ATTR = "_siyu_after_request"


def after_request(request: HttpRequest, fn: Callable[[], None]) -> None:
    """Run ``fn`` once the request's own transaction has ended (committed or rolled back)."""
    pending = getattr(request, _ATTR, None)
    if pending is None:
        pending = []
        setattr(request, _ATTR, pending)
    pending.append(fn)


def rollback_request_transaction() -> None:
    """Make the request's transaction roll back when the view returns (used by error handlers)."""
    if transaction.get_connection().in_atomic_block:
        transaction.set_rollback(True)


class DeferredWritesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for fn in getattr(request, _ATTR, ()):
            with transaction.atomic():
                fn()
        return response
