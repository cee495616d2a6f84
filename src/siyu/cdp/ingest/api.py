"""Segment-compatible HTTP endpoints: ``POST /v1/batch|track|identify|page|screen|group|alias``.

Plain Django views (Segment SDKs post to ``/v1/*``, not under ``/api/v1``), CSRF-exempt (a write key is the
credential, no cookie is involved) and outside ``ATOMIC_REQUESTS``: the only transaction is the writer's, so a
2xx is sent only after the accepted events are committed. Errors use ``{"code", "message", "errors"}``.
"""

from __future__ import annotations

import base64
import binascii

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from siyu.kernel import clock

from . import committer, overload, tasks
from .config import MAX_BATCH_BYTES, MAX_DEPTH, MAX_EVENT_BYTES, setting
from .sources import KnownSource, source_for_key
from .validation import BodyError, InexactNumber, check_nesting, gunzip, parse_json, validate_events
from .writer import Part, write_events


def _error(status: int, code: str, message: str, errors: list | None = None, retry_after: int | None = None):
    response = JsonResponse({"code": code, "message": message, "errors": errors or []}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _basic_key(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def _read_body(request: HttpRequest, cap: int) -> bytes:
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise BodyError(415, "unsupported_encoding", "Content-Encoding must be gzip or none")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > cap:
        raise BodyError(413, "body_too_large", f"the body is larger than {cap} bytes")
    data = request.read(cap + 1)
    if len(data) > cap:
        raise BodyError(413, "body_too_large", f"the body is larger than {cap} bytes")
    return gunzip(data, cap) if encoding == "gzip" else data


def _authenticate(request: HttpRequest, body: dict) -> KnownSource | None:
    key = _basic_key(request)
    if key is None:
        raw = body.get("writeKey")
        key = raw if isinstance(raw, str) else None
    return source_for_key(key) if key else None


def _items(body: object, forced_type: str | None, *, exact: bool) -> tuple[list, dict | None, object]:
    """The events of a body, its batch-level context and ``sentAt`` (raises BodyError for a malformed
    envelope)."""
    if forced_type:
        return [body], None, None  # a single event carries its own sentAt
    items, context, sent_at = body.get("batch"), body.get("context"), body.get("sentAt")
    if not isinstance(items, list):
        raise BodyError(400, "invalid_body", "batch must be a list of events")
    if context is not None and not isinstance(context, dict):
        raise BodyError(400, "invalid_body", "context must be an object")
    if context and check_nesting(context, MAX_DEPTH - 1, exact=exact):  # merged into every event, a level down
        raise BodyError(400, "too_deep", f"context nests deeper than {MAX_DEPTH - 1} levels")
    return items, context, sent_at


def _validated(body: object, forced_type: str | None, received_at, *, exact: bool = False):
    items, context, sent_at = _items(body, forced_type, exact=exact)
    accepted, rejected = validate_events(items, forced_type=forced_type, batch_context=context,
                                         received_at=received_at, exact=exact, sent_at=sent_at)
    return items, accepted, rejected


def ingest(request: HttpRequest, forced_type: str | None) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "use POST")
        response["Allow"] = "POST"
        return response
    received_at = clock.now()
    try:
        data = _read_body(request, MAX_EVENT_BYTES if forced_type else MAX_BATCH_BYTES)
        body = parse_json(data)
        if not isinstance(body, dict):
            raise BodyError(400, "invalid_body", "the body must be a JSON object")
        source = _authenticate(request, body)
        if source is None:
            return _error(401, "invalid_write_key", "a valid write key is required (HTTP Basic user or writeKey)")
        if overload.overloaded():  # before validation: refusing must stay cheap when the worker is behind
            retry = setting("SIYU_INGEST_RETRY_AFTER_SECONDS")
            return _error(429, "overloaded", "events are arriving faster than they are processed; retry later",
                          retry_after=retry)
        try:
            items, accepted, rejected = _validated(body, forced_type, received_at)
        except InexactNumber:  # an integer beyond 64 bits: parsed again to keep it exact (rare)
            items, accepted, rejected = _validated(parse_json(data, exact=True), forced_type, received_at,
                                                   exact=True)
    except BodyError as exc:
        return _error(exc.status, exc.code, exc.message)
    errors = [r.as_dict() for r in rejected]
    if rejected and not accepted:
        return _error(400, "invalid_events", f"all {len(rejected)} events were rejected", errors)
    if accepted and not overload.take(source.id, len(accepted)):
        return _error(429, "rate_limited", "this source sends more events than its limit",
                      retry_after=setting("SIYU_INGEST_RETRY_AFTER_SECONDS"))
    if forced_type:  # one event: committed together with this process's other single events
        try:
            result = committer.write(Part(source, accepted, received_at))
        except committer.CommitTimeout:
            return _error(503, "commit_timeout", "the event could not be committed in time; retry",
                          retry_after=1)
    else:
        result = write_events(source=source, events=accepted, received_at=received_at)
    if result.batch_id is not None:
        tasks.nudge()
    return JsonResponse({
        "success": True,
        "accepted": len(items) - len(rejected),  # valid events, new or already stored
        "stored": result.stored,
        "duplicates": result.duplicates + (len(items) - len(accepted) - len(rejected)),
        "rejected": errors,
    })


def _view(forced_type: str | None):
    @csrf_exempt
    @transaction.non_atomic_requests
    def view(request: HttpRequest) -> JsonResponse:
        return ingest(request, forced_type)

    view.__name__ = f"ingest_{forced_type or 'batch'}"
    return view


urlpatterns = [
    path("batch", _view(None), name="ingest-batch"),
    path("import", _view(None), name="ingest-import"),  # Segment's alias of /v1/batch
    *[path(kind, _view(kind), name=f"ingest-{kind}") for kind in ("track", "identify", "page", "screen", "group",
                                                                   "alias")],
]
