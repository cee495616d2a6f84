"""The Segment wire format: decoding a request body and validating each event.

Whole-request problems (bad gzip, malformed or too deeply nested JSON, too large) raise :class:`BodyError`
and nothing is stored. Per-event problems give a :class:`Rejected` with a reason, and the other events of the
batch are still accepted. Accepted events are returned normalised (type, ids as strings, ``messageId``,
``timestamp`` in UTC ISO 8601) together with their compact JSON text, ready for the writer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
import uuid
import zlib
from dataclasses import dataclass

from siyu.kernel import clock

from .config import MAX_DEPTH, MAX_EVENT_BYTES, MAX_ID_CHARS

TYPES = ("track", "identify", "page", "screen", "group", "alias")
FUTURE_SLACK = dt.timedelta(days=1)
SERVER_FIELDS_SLACK = 120  # bytes: "receivedAt" and a generated "messageId" added to the client's event
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw deflate


class BodyError(Exception):
    """A request that cannot be read at all (maps to one 4xx answer)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Accepted:
    index: int
    message_id: str
    event: dict
    text: str  # compact JSON of ``event``


@dataclass(frozen=True)
class Rejected:
    index: int
    message_id: str | None
    reason: str
    message: str

    def as_dict(self) -> dict:
        return {"index": self.index, "messageId": self.message_id, "reason": self.reason, "message": self.message}


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body, never inflating more than ``limit`` bytes (the decompression-bomb guard)."""
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BodyError(400, "invalid_gzip", f"the body is not valid gzip: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyError(413, "body_too_large", f"the body is larger than {limit} bytes after decompression")
    if not inflater.eof:
        raise BodyError(400, "invalid_gzip", "the gzip stream is truncated")
    if inflater.unused_data:
        raise BodyError(400, "invalid_gzip", "unexpected data after the gzip stream")
    return out


def parse_json(data: bytes) -> object:
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise BodyError(400, "too_deep", "the JSON is nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise BodyError(400, "malformed_json", "the body is not UTF-8") from exc
    except ValueError as exc:
        raise BodyError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc


_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # the unrolled form: far fewer backtracking steps
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON ``text`` nests objects/arrays deeper than ``limit``: strings and scalars are cut out
    with regular expressions (C speed), leaving only brackets to count."""
    depth = 0
    for c in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        if c in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class _Invalid(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def _id(value: object, field: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise _Invalid(f"missing_{_snake(field)}", f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid("invalid_id", f"{field} must be a string or a number")
    text = str(value)
    if len(text) > MAX_ID_CHARS or not text.strip():
        raise _Invalid("invalid_id", f"{field} must be 1 to {MAX_ID_CHARS} characters")
    if not (text.isascii() and text.isprintable()) and any(unicodedata.category(c)[0] == "C" for c in text):
        raise _Invalid("invalid_id", f"{field} must not contain control characters")
    return text


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def parse_timestamp(value: object, field: str) -> dt.datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise _Invalid("invalid_timestamp", f"{field} must be an ISO 8601 date-time string")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise _Invalid("invalid_timestamp", f"{field} is not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _object(event: dict, field: str) -> None:
    value = event.get(field)
    if value is not None and not isinstance(value, dict):
        raise _Invalid("invalid_field", f"{field} must be an object")


def normalise_event(raw: object, *, received_at: dt.datetime, forced_type: str | None = None) -> dict:
    """A validated copy of ``raw`` with normalised fields; raises ``_Invalid`` with the reason."""
    if not isinstance(raw, dict):
        raise _Invalid("not_an_object", "an event must be a JSON object")
    event = dict(raw)
    kind = event.get("type", forced_type)
    if forced_type and kind != forced_type:
        raise _Invalid("type_mismatch", f"this endpoint takes {forced_type} events, not {kind!r}")
    if kind not in TYPES:
        raise _Invalid("invalid_type", f"type must be one of {', '.join(TYPES)}")
    event["type"] = kind
    for field in ("properties", "traits", "context", "integrations"):
        _object(event, field)
    mid = event.get("messageId")
    if mid is None or mid == "":
        event["messageId"] = "srv-" + uuid.uuid4().hex  # the client gave none: nothing to deduplicate against
    else:
        event["messageId"] = _id(mid, "messageId")
    event.pop("writeKey", None)
    if kind == "alias":
        event["userId"] = _id(event.get("userId"), "userId", required=True)
        event["previousId"] = _id(event.get("previousId"), "previousId", required=True)
    else:
        user_id, anonymous_id = _id(event.get("userId"), "userId"), _id(event.get("anonymousId"), "anonymousId")
        if user_id is None and anonymous_id is None:
            raise _Invalid("missing_identity", "userId or anonymousId is required")
        event["userId"], event["anonymousId"] = user_id, anonymous_id
    if kind == "track":
        name = event.get("event")
        if not isinstance(name, str) or not name.strip():
            raise _Invalid("missing_event", "a track event needs an event name")
        if len(name) > 200:
            raise _Invalid("invalid_event", "the event name is longer than 200 characters")
    elif kind in ("page", "screen"):
        name = event.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise _Invalid("invalid_name", "name must be a string of at most 200 characters")
    elif kind == "group":
        event["groupId"] = _id(event.get("groupId"), "groupId", required=True)
    stamp = event.get("timestamp") or event.get("originalTimestamp")
    at = parse_timestamp(stamp, "timestamp") if stamp else received_at
    if at > received_at + FUTURE_SLACK:
        raise _Invalid("timestamp_in_future", "timestamp is more than a day in the future")
    event["timestamp"] = at.isoformat()
    event["receivedAt"] = received_at.isoformat()
    return event


def validate_events(items: list, *, forced_type: str | None = None, batch_context: dict | None = None,
                    received_at: dt.datetime | None = None, check_depth: bool = True,
                    ) -> tuple[list[Accepted], list[Rejected]]:
    """Validate every event; duplicates of a ``messageId`` within the request keep the first occurrence.
    ``check_depth=False`` skips the per-event depth check when the caller proved the whole body shallow."""
    received_at = received_at or clock.now()
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for index, raw in enumerate(items):
        raw_mid = raw.get("messageId") if isinstance(raw, dict) else None
        mid = raw_mid if isinstance(raw_mid, str) else None
        try:
            event = normalise_event(raw, received_at=received_at, forced_type=forced_type)
            text = dumps(event)
            # One encoding serves the size cap, the depth check and storage; the fields the server adds
            # (receivedAt, a generated messageId) are allowed for in SERVER_FIELDS_SLACK.
            size = len(text.encode())
            if size > MAX_EVENT_BYTES + SERVER_FIELDS_SLACK:
                raise _Invalid("event_too_large", f"the event is about {size} bytes, more than {MAX_EVENT_BYTES}")
            if check_depth and too_deep(text):
                raise _Invalid("too_deep", f"the event nests deeper than {MAX_DEPTH} levels")
        except _Invalid as exc:
            rejected.append(Rejected(index, mid, exc.reason, exc.message))
            continue
        if event["messageId"] in seen:
            continue  # repeated inside the request: stored once, like a replay
        seen.add(event["messageId"])
        if batch_context:  # the batch-level context applies to every event; not counted against the cap
            event["context"] = {**batch_context, **(event.get("context") or {})}
            text = dumps(event)
        accepted.append(Accepted(index, event["messageId"], event, text))
    return accepted, rejected
