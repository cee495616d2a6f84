"""Receiving WeCom callbacks (protocol document §1.4, §1.8, §3): verify, decrypt, store raw, deduplicate, and hand
the event to the outbox so a job processes it, all before the empty 200.

The request does as little as possible, so WeCom's 5 s limit is far away: one signature check and one AES
decryption, then one ``CallbackLog`` insert and one outbox row in the request's transaction. A retried or
repeated event hits the unique ``(corp, dedup_key)`` and is counted, not stored again. Processing happens in
``processing.py`` from the stored body, decrypted again there.

Customer-contact events always come ``FromUserName=sys``, so WeCom's advice (``FromUserName + CreateTime``)
would collide when two events happen in one second; the key is a hash over the fields that identify one event:
Event, ChangeType, UserID, ExternalUserID, ChatId, Id, TagType, StrategyId, CreateTime, State, WelcomeCode,
Source, FailReason, UpdateDetail, JoinScene, QuitScene, MemChangeCnt, MemChangeList and the member versions.
Messages that carry a ``MsgId`` are keyed by it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.db.models.constants import OnConflict

from siyu.channels.wxcrypto import safe_fromstring
from siyu.kernel import clock, events
from siyu.kernel.actor import Actor

from .corps import crypto_for
from .events import CallbackReceived
from .models import CallbackLog, Corp

KEY_FIELDS = (
    "Event", "ChangeType", "UserID", "ExternalUserID", "ChatId", "Id", "TagType", "StrategyId", "CreateTime",
    "State", "WelcomeCode", "Source", "FailReason", "UpdateDetail", "JoinScene", "QuitScene", "MemChangeCnt",
    "MemChangeList", "LastMemVer", "CurMemVer",
)  # fmt: skip
MAX_BODY = 64 * 1024  # WeCom envelopes are a few KB; anything much larger is not WeCom


def parse_message(plaintext: bytes) -> dict[str, Any]:
    """The decrypted XML as ``{tag: text}``; list-like children (``MemChangeList`` with ``<Item>``s) become lists.

    ``MemChangeList`` arrives either as a comma-joined string or as ``<Item>`` children (both formats seen)."""
    root = safe_fromstring(plaintext)
    out: dict[str, Any] = {}
    for child in root:
        items = list(child)
        if items:
            out[child.tag] = [(item.text or "").strip() for item in items]
        else:
            out[child.tag] = (child.text or "").strip()
    if isinstance(out.get("MemChangeList"), str):
        out["MemChangeList"] = [x for x in out["MemChangeList"].split(",") if x]
    return out


def dedup_key(message: dict[str, Any]) -> str:
    if message.get("MsgId"):
        basis: Any = ["msg", message["MsgId"]]
    else:
        basis = [[name, message.get(name, "")] for name in KEY_FIELDS]
    return hashlib.sha256(json.dumps(basis, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def event_time(message: dict[str, Any]) -> dt.datetime | None:
    raw = message.get("CreateTime") or message.get("TimeStamp") or ""
    try:
        return dt.datetime.fromtimestamp(int(raw), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True)
class Received:
    log_id: int
    duplicate: bool


def verify_url(corp: Corp, *, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """GET URL verification: the decrypted echostr (raises ``CallbackCryptoError`` on any failure)."""
    return crypto_for(corp).verify_url(msg_signature=msg_signature, timestamp=timestamp, nonce=nonce,
                                       echostr=echostr)


def receive(corp: Corp, *, body: bytes, msg_signature: str, timestamp: str, nonce: str,
            json_body: bool = False) -> Received:
    """Verify and decrypt a POST, store it raw once, queue its processing. Must run inside the request's
    transaction: the log row and the outbox row commit together before the 200. Queries: the log insert and the
    outbox insert (a duplicate: the insert, then the count update and the id).

    Raises ``CallbackCryptoError`` (nothing stored) when the body does not verify or decrypt."""
    plaintext = crypto_for(corp).decrypt_message(msg_signature=msg_signature, timestamp=timestamp, nonce=nonce,
                                                 body=body, json_body=json_body)
    message = parse_message(plaintext) if not json_body else _parse_json(plaintext)
    key = dedup_key(message)
    log = CallbackLog(
        org_id=corp.org_id, corp=corp, body=body.decode("utf-8"), msg_signature=msg_signature,
        timestamp=timestamp, nonce=nonce, json_body=json_body, dedup_key=key,
        event=str(message.get("Event") or message.get("MsgType") or "")[:40],
        change_type=str(message.get("ChangeType", ""))[:40], event_time=event_time(message),
        received_at=clock.now(),
    )
    log.pk = _insert_unless_duplicate(log)
    if log.pk is None:
        existing = CallbackLog.objects.in_org(Actor.system(corp.org_id, label="wecom")).filter(corp=corp,
                                                                                              dedup_key=key)
        existing.update(duplicates=F("duplicates") + 1)
        return Received(log_id=existing.values_list("pk", flat=True).first() or 0, duplicate=True)
    events.emit(CallbackReceived(org_id=corp.org_id, callback_log_id=log.pk))
    return Received(log_id=log.pk, duplicate=False)


def _insert_unless_duplicate(log: CallbackLog) -> int | None:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (PostgreSQL, SQLite ≥ 3.35): the new row's id, or None
    when ``(corp, dedup_key)`` is stored already. One statement on the hot path, where a plain insert needed a
    savepoint and its release around it to survive the unique violation of a retry. Django's ``_insert`` is the
    one ORM call that writes an ``ON CONFLICT`` insert and returns the id (``bulk_create`` does not return ids
    with ``ignore_conflicts``); fields' ``pre_save`` (``created_at``, ``updated_at``) runs as in ``save``."""
    fields = [f for f in CallbackLog._meta.concrete_fields if not f.primary_key]
    rows = CallbackLog.objects._insert([log], fields=fields, returning_fields=[CallbackLog._meta.pk],
                                       on_conflict=OnConflict.IGNORE)
    return rows[0][0] if rows and rows[0] else None


def _parse_json(plaintext: bytes) -> dict[str, Any]:
    """The JSON callback variant's message; malformed JSON is refused like malformed XML."""
    from siyu.channels.errors import XmlParseError

    try:
        data = json.loads(plaintext)
    except (ValueError, RecursionError):
        raise XmlParseError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise XmlParseError("message is not a JSON object")
    return {str(k): v if isinstance(v, list) else ("" if v is None else str(v)) for k, v in data.items()}


def decrypt_log(log: CallbackLog) -> dict[str, Any]:
    """Decrypt a stored callback again (the job's view of it)."""
    plaintext = crypto_for(log.corp).decrypt_message(msg_signature=log.msg_signature, timestamp=log.timestamp,
                                                     nonce=log.nonce, body=log.body.encode("utf-8"),
                                                     json_body=log.json_body)
    return _parse_json(plaintext) if log.json_body else parse_message(plaintext)
