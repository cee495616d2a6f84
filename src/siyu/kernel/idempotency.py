"""``Idempotency-Key`` for write requests, on Stripe's contract.

A key belongs to one credential (an API key, or one person in one organisation). The first request with a key
claims it by inserting a placeholder row **in its own committed transaction before the handler runs**, so a
concurrent repeat sees it at once (409) instead of running the write twice. When the handler has answered,
the response (status, body, a few headers) is stored on the row; a repeat with the same method, path and body
gets that response back with ``Idempotent-Replayed: true``, the same key with anything else gets 422.

Responses that say the request never really ran are not kept, and the placeholder is removed so the client
may retry with the same key: server errors (5xx) and refusals before the handler (401, 403, 429).

A process killed between the handler's commit and storing the response leaves the placeholder in flight: the
key answers 409 until it expires. That is the safe side: the client never gets the write done twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse

from . import clock
from .errors import Conflict, ValidationFailed
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_PATTERN = r"^[!-~]{1,255}$"  # visible ASCII, as header values travel safely everywhere
_KEY_RE = re.compile(KEY_PATTERN)
STORED_HEADERS = ("Content-Type", "Location", "Content-Language")
NOT_STORED = frozenset({401, 403, 429})
MIN_TTL_HOURS = 24  # the promise in docs/reliability.md; configuration may lengthen it, never shorten it


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=max(MIN_TTL_HOURS, int(getattr(settings, "SIYU_IDEMPOTENCY_TTL_HOURS", 24))))


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two requests hash alike by shifting
        digest.update(part)
    return digest.hexdigest()


def validate_key(key: str) -> None:
    if not _KEY_RE.match(key):
        raise ValidationFailed(
            "bad Idempotency-Key",
            code="idempotency_key_invalid",
            fields={HEADER: ["1 to 255 visible ASCII characters"]},
        )


@dataclass(frozen=True)
class Claim:
    """Either the placeholder this request now owns, or the stored response to replay."""

    placeholder: IdempotencyRecord | None = None
    stored: IdempotencyRecord | None = None


def claim(*, owner: str, key: str, method: str, path: str, body: bytes) -> Claim:
    """Claim ``key`` for this request, or find what an earlier request with it answered.

    Raises :class:`Conflict` while another request with the key is in flight and :class:`ValidationFailed`
    when the key was used for a different request.
    """
    validate_key(key)
    digest = request_hash(method, path, body)
    # A few rounds: the row we collided with may vanish (its request failed, or it expired) before we read it.
    for _ in range(3):
        now = clock.now()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    owner=owner, key=key, method=method.upper(), path=path[:500], request_hash=digest,
                    expires_at=now + ttl(),
                )
            return Claim(placeholder=record)
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is None:
            continue
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.request_hash != digest:
            raise ValidationFailed(
                "this Idempotency-Key was used for a different request",
                code="idempotency_key_reused",
                fields={HEADER: ["already used with another method, path or body"]},
            )
        if existing.status_code is None:
            raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_flight")
        return Claim(stored=existing)
    raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_flight")


def should_store(response: HttpResponse) -> bool:
    return (
        response.status_code < 500
        and response.status_code not in NOT_STORED
        and not getattr(response, "streaming", False)
    )


def complete(placeholder: IdempotencyRecord, response: HttpResponse) -> None:
    """Store the handler's answer on the placeholder, or give the key back when it should not be kept."""
    rows = IdempotencyRecord.objects.filter(pk=placeholder.pk)
    if not should_store(response):
        rows.delete()
        return
    headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
    rows.update(status_code=response.status_code, response_body=bytes(response.content), response_headers=headers)


def release(placeholder: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=placeholder.pk).delete()


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body or b""), status=record.status_code)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete expired keys (run periodically); returns how many went."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or clock.now()).delete()
    return deleted


def document(schema: dict) -> dict:
    """Declare the optional ``Idempotency-Key`` header on every write operation of an OpenAPI document."""
    components = schema.setdefault("components", {})
    components.setdefault("parameters", {})["IdempotencyKey"] = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": (
            "Makes a write safe to retry for at least 24 hours: a repeat with the same method, path and body "
            f"returns the stored response with `{REPLAYED_HEADER}: true`; a repeat while the first is still "
            "running answers 409; the same key with another request answers 422. Keys belong to the credential."
        ),
        "schema": {"type": "string", "pattern": KEY_PATTERN, "minLength": 1, "maxLength": 255},
    }
    ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method.upper() in METHODS and isinstance(operation, dict):
                params = operation.setdefault("parameters", [])
                if ref not in params:
                    params.append(ref)
    return schema
