"""The Segment wire format: decoding a request body and validating each event.

Whole-request problems (bad gzip, malformed or too deeply nested JSON, too large) raise :class:`BodyError`
and nothing is stored. Per-event problems give a :class:`Rejected` with a reason, and the other events of the
batch are still accepted. Accepted events are returned normalised (type, ids as strings, ``messageId``,
``timestamp`` in UTC ISO 8601) together with their compact UTF-8 JSON, ready for the writer.

This is the hot path of ingestion (a 100-event batch is validated per request), so it is written for speed:
orjson parses and encodes (C speed, strict UTF-8, no NaN), each event is checked with plain ``dict`` look-ups
(no model instantiated), the depth check walks only containers and stops at the limit, and a batch's repeated
timestamps are parsed once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
import uuid
import zlib
from dataclasses import dataclass

import orjson

from siyu.kernel import clock

from .config import MAX_DEPTH, MAX_EVENT_BYTES, MAX_ID_CHARS

TYPES = ("track", "identify", "page", "screen", "group", "alias")
FUTURE_SLACK = dt.timedelta(days=1)
SERVER_FIELDS_SLACK = 180  # bytes: "receivedAt", a generated "messageId" and "originalTimestamp" added by the server
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw deflate
# orjson reads an integer beyond 64 bits as a float; a float this large may be such an integer, and the body
# is then parsed again with the standard library, which keeps integers exact.
_INEXACT = 9.2e18


class BodyError(Exception):
    """A request that cannot be read at all (maps to one 4xx answer)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class InexactNumber(Exception):
    """Raised by :func:`validate_events` when orjson may have rounded a huge integer: parse with ``exact``."""


@dataclass(frozen=True)
class Accepted:
    index: int
    message_id: str
    event: dict
    data: bytes  # compact UTF-8 JSON of ``event``


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


def parse_json(data: bytes, *, exact: bool = False) -> object:
    """The body as Python objects. orjson refuses what PostgreSQL's jsonb would (NaN, lone surrogates, bytes
    that are not UTF-8) and bodies nested deeper than 1,024 levels; ``exact`` re-parses a body that orjson
    already accepted with the standard library, for integers beyond 64 bits."""
    if exact:
        try:
            return json.loads(data)
        except RecursionError as exc:  # pragma: no cover - orjson refused such a body first
            raise BodyError(400, "too_deep", "the JSON is nested too deeply") from exc
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit"):
            raise BodyError(400, "too_deep", "the JSON is nested too deeply") from exc
        if "UTF-8" in str(exc):
            raise BodyError(400, "malformed_json", "the body is not UTF-8") from exc
        raise BodyError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON (orjson; the standard library only for integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _encode(event: dict) -> bytes:
    try:
        return orjson.dumps(event)
    except orjson.JSONEncodeError:  # nested past orjson's 254 levels, or an integer beyond 64 bits
        if _scan(event, MAX_DEPTH) == "too_deep":
            raise _Invalid("too_deep", f"the event nests deeper than {MAX_DEPTH} levels") from None
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def _scan(value: dict | list, levels_left: int) -> str | None:
    """``"too_deep"`` when containers below ``value`` nest deeper than ``levels_left`` levels (``value`` itself
    counting as one), ``"inexact"`` for a float that may be a rounded huge integer, else None. Stops at the
    limit, so a hostile body costs no more than a legal one."""
    for v in value.values() if type(value) is dict else value:
        t = type(v)
        if t is dict or t is list:
            if levels_left <= 1:
                return "too_deep"
            found = _scan(v, levels_left - 1)
            if found:
                return found
        elif t is float and (v >= _INEXACT or v <= -_INEXACT):
            return "inexact"
    return None


def check_nesting(value: object, limit: int = MAX_DEPTH, *, exact: bool = False) -> bool:
    """Whether ``value`` nests objects/arrays deeper than ``limit`` levels (the value itself is level 1);
    raises :class:`InexactNumber` as :func:`validate_events` does."""
    if type(value) is not dict and type(value) is not list:
        return False
    found = _scan(value, limit)
    if found == "inexact" and not exact:
        raise InexactNumber
    return found == "too_deep"


class _Invalid(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def _id(value: object, field: str, *, required: bool = False) -> str | None:
    if type(value) is str and 0 < len(value) <= MAX_ID_CHARS and value.isascii() and value.isprintable() \
            and not value.isspace():
        return value  # the common case, decided without copying
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


_OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # an escaped NUL, not an escaped backslash before "u0000"


class _Clock:
    """The request's receive time and its text, and the timestamps of the batch already normalised (SDKs
    often send many events with the same timestamp)."""

    def __init__(self, received_at: dt.datetime):
        self.received_at = received_at
        self.received_text = received_at.isoformat()
        self.latest = received_at + FUTURE_SLACK
        self.stamps: dict[str, str] = {}
        self.corrections: dict[tuple[str, str], tuple[str, str]] = {}

    def stamp(self, value: object) -> str:
        if type(value) is str:
            hit = self.stamps.get(value)
            if hit is not None:
                return hit
        at = parse_timestamp(value, "timestamp")
        if at > self.latest:
            raise _Invalid("timestamp_in_future", "timestamp is more than a day in the future")
        text = at.isoformat()
        if type(value) is str and len(self.stamps) < 1000:
            self.stamps[value] = text
        return text

    def corrected(self, original: object, sent_at: object) -> tuple[str, str]:
        """Segment's clock-skew correction: ``timestamp = receivedAt - (sentAt - originalTimestamp)``; returns
        (originalTimestamp, timestamp) as UTC ISO 8601. Both client times come from the same, possibly wrong,
        device clock, so their difference is how long the event waited on the device, and that is placed
        before the server's receive time. A batch shares one ``sentAt`` and often one time: both cached."""
        key = (original, sent_at) if type(original) is str and type(sent_at) is str else None
        if key is not None:
            hit = self.corrections.get(key)
            if hit is not None:
                return hit
        orig = parse_timestamp(original, "timestamp")
        sent = parse_timestamp(sent_at, "sentAt")
        at = self.received_at - (sent - orig)
        if at > self.latest:  # "sent" more than a day before it happened: a broken client, not skew
            raise _Invalid("timestamp_in_future", "timestamp is more than a day after sentAt")
        out = (orig.isoformat(), at.isoformat())
        if key is not None and len(self.corrections) < 1000:
            self.corrections[key] = out
        return out


def normalise_event(raw: object, *, received_at: dt.datetime, forced_type: str | None = None,
                    clock_: _Clock | None = None, sent_at: object = None) -> dict:
    """A validated copy of ``raw`` with normalised fields; raises ``_Invalid`` with the reason.

    ``timestamp``: with a ``sentAt`` (the event's own, else the batch's ``sent_at``) and a client time
    (``originalTimestamp``, else ``timestamp``, which is what server libraries send), the client time is kept
    as ``originalTimestamp`` and ``timestamp`` is corrected for the device's clock skew
    (:meth:`_Clock.corrected`); without a ``sentAt`` the client time is taken as it is; without any, the
    receive time."""
    if type(raw) is not dict:
        raise _Invalid("not_an_object", "an event must be a JSON object")
    times = clock_ or _Clock(received_at)
    event = raw.copy()
    get = event.get
    kind = get("type", forced_type)
    if forced_type and kind != forced_type:
        raise _Invalid("type_mismatch", f"this endpoint takes {forced_type} events, not {kind!r}")
    if kind not in TYPES:
        raise _Invalid("invalid_type", f"type must be one of {', '.join(TYPES)}")
    event["type"] = kind
    for name in _OBJECT_FIELDS:
        value = get(name)
        if value is not None and type(value) is not dict:
            raise _Invalid("invalid_field", f"{name} must be an object")
    mid = get("messageId")
    if mid is None or mid == "":
        event["messageId"] = "srv-" + uuid.uuid4().hex  # the client gave none: nothing to deduplicate against
    else:
        event["messageId"] = _id(mid, "messageId")
    if "writeKey" in event:
        del event["writeKey"]
    if kind == "alias":
        event["userId"] = _id(get("userId"), "userId", required=True)
        event["previousId"] = _id(get("previousId"), "previousId", required=True)
    else:
        user_id, anonymous_id = _id(get("userId"), "userId"), _id(get("anonymousId"), "anonymousId")
        if user_id is None and anonymous_id is None:
            raise _Invalid("missing_identity", "userId or anonymousId is required")
        event["userId"], event["anonymousId"] = user_id, anonymous_id
    if kind == "track":
        name = get("event")
        if type(name) is not str or not name.strip():
            raise _Invalid("missing_event", "a track event needs an event name")
        if len(name) > 200:
            raise _Invalid("invalid_event", "the event name is longer than 200 characters")
    elif kind in ("page", "screen"):
        name = get("name")
        if name is not None and (type(name) is not str or len(name) > 200):
            raise _Invalid("invalid_name", "name must be a string of at most 200 characters")
    elif kind == "group":
        event["groupId"] = _id(get("groupId"), "groupId", required=True)
    stamp = get("originalTimestamp") or get("timestamp")
    sent = get("sentAt") or sent_at
    if stamp and sent:
        event["originalTimestamp"], event["timestamp"] = times.corrected(stamp, sent)
    else:
        event["timestamp"] = times.stamp(stamp) if stamp else times.received_text
    event["receivedAt"] = times.received_text
    return event


def validate_events(items: list, *, forced_type: str | None = None, batch_context: dict | None = None,
                    received_at: dt.datetime | None = None, exact: bool = False, sent_at: object = None,
                    ) -> tuple[list[Accepted], list[Rejected]]:
    """Validate every event; duplicates of a ``messageId`` within the request keep the first occurrence.

    Raises :class:`InexactNumber` when an event holds a float that may be an integer orjson rounded: the
    caller parses the body again with ``parse_json(exact=True)`` and validates that with ``exact=True``."""
    times = _Clock(received_at or clock.now())
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    limit = MAX_EVENT_BYTES + SERVER_FIELDS_SLACK
    for index, raw in enumerate(items):
        raw_mid = raw.get("messageId") if type(raw) is dict else None
        mid = raw_mid if isinstance(raw_mid, str) else None
        try:
            event = normalise_event(raw, received_at=times.received_at, forced_type=forced_type, clock_=times,
                                    sent_at=sent_at)
            data = _encode(event)
            # One encoding serves the size cap, the checks below and storage; the fields the server adds
            # (receivedAt, a generated messageId, originalTimestamp) are allowed for in SERVER_FIELDS_SLACK.
            if len(data) > limit:
                raise _Invalid("event_too_large",
                               f"the event is about {len(data)} bytes, more than {MAX_EVENT_BYTES}")
            if b"\\u0000" in data and _NUL.search(data):  # PostgreSQL's jsonb cannot hold it: say so, no 500
                raise _Invalid("invalid_field", "strings must not contain the NUL character (\\u0000)")
            # Only an event with more brackets than the depth limit can be too deep, and orjson writes every
            # float of 1e16 or more with "e+": the walk is skipped for ordinary events.
            if data.count(b"{") + data.count(b"[") > MAX_DEPTH or (not exact and b"e+" in data):
                found = _scan(event, MAX_DEPTH)
                if found == "too_deep":
                    raise _Invalid("too_deep", f"the event nests deeper than {MAX_DEPTH} levels")
                if found == "inexact" and not exact:
                    raise InexactNumber
        except _Invalid as exc:
            rejected.append(Rejected(index, mid, exc.reason, exc.message))
            continue
        message_id = event["messageId"]
        if message_id in seen:
            continue  # repeated inside the request: stored once, like a replay
        seen.add(message_id)
        if batch_context:  # the batch-level context applies to every event; not counted against the cap
            event["context"] = {**batch_context, **(event.get("context") or {})}
            data = dumps(event)
        accepted.append(Accepted(index, message_id, event, data))
    return accepted, rejected
