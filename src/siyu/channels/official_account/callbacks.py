"""Receiving official-account callbacks (protocol document §1.4, §1.6, §1.8, §5): verify, store raw, deduplicate,
and hand the message to the outbox so a job processes it, all before the ``success`` answer.

Three modes, chosen per request the way the platform sends them:

* **plaintext** (no ``encrypt_type``): the three-value ``signature`` over (token, timestamp, nonce) is checked;
  the body is the message XML;
* **compatible** and **safe** (``encrypt_type=aes``): ``msg_signature`` over (token, timestamp, nonce, Encrypt)
  is checked and the ``Encrypt`` element decrypted with receive id = AppID (``channels.wxcrypto``). The protocol
  document is explicit that ``signature`` must not be used here. A compatible body also carries the plaintext
  fields; only the ciphertext is trusted (it is the part the signature covers), so both modes are processed the
  same way, and the log records which one came.

Deduplication (the document's advice, §1.8): a message with a ``MsgId`` by it; an event by ``FromUserName`` +
``CreateTime`` — widened with ``Event``, ``EventKey`` and the template ``MsgID`` so that a subscribe and a scan,
or two template reports, in the same second stay two events while the platform's retries (same body) collapse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from siyu.channels.errors import SignatureInvalid
from siyu.channels.wxcrypto import parse_xml, verify_oa_signature, verify_oa_url
from siyu.kernel import clock, events
from siyu.kernel.actor import Actor

from .accounts import callback_token, crypto_for
from .events import CallbackReceived
from .models import Account, CallbackLog

MAX_BODY = 64 * 1024  # official-account messages are a few KB
EVENT_KEY_FIELDS = ("FromUserName", "CreateTime", "Event", "EventKey", "MsgID")
Mode = CallbackLog.Mode


@dataclass(frozen=True)
class Signed:
    """The query parameters a callback is checked with (already percent-decoded)."""

    signature: str
    timestamp: str
    nonce: str
    msg_signature: str = ""
    encrypt_type: str = ""


@dataclass(frozen=True)
class Received:
    log_id: int
    duplicate: bool
    mode: str


def verify_url(account: Account, signed: Signed, echostr: str) -> str:
    """GET URL verification: check the three-value signature and echo ``echostr`` unchanged (§1.4)."""
    return verify_oa_url(token=callback_token(account), timestamp=signed.timestamp, nonce=signed.nonce,
                         signature=signed.signature, echostr=echostr)  # fmt: skip


def open_message(account: Account, signed: Signed, body: bytes) -> tuple[str, dict[str, str]]:
    """``(mode, message fields)`` of a POST after its signature (and decryption) checked out; raises a
    ``CallbackCryptoError`` otherwise. Used on receipt and again by the job on the stored body."""
    if signed.encrypt_type:
        if signed.encrypt_type != "aes" or not signed.msg_signature:
            raise SignatureInvalid("encrypted callback without msg_signature")
        plaintext = crypto_for(account).decrypt_message(msg_signature=signed.msg_signature,
                                                        timestamp=signed.timestamp, nonce=signed.nonce, body=body)  # fmt: skip
        outer = parse_xml(body)
        mode = Mode.COMPAT if set(outer) - {"ToUserName", "Encrypt"} else Mode.SAFE
        return mode, parse_xml(plaintext)
    verify_oa_signature(token=callback_token(account), timestamp=signed.timestamp, nonce=signed.nonce,
                        signature=signed.signature)  # fmt: skip
    return Mode.PLAIN, parse_xml(body)


def dedup_key(message: dict[str, str]) -> str:
    if message.get("MsgId"):
        basis: Any = ["msg", message["MsgId"]]
    else:
        basis = [[name, message.get(name, "")] for name in EVENT_KEY_FIELDS]
    return hashlib.sha256(json.dumps(basis, ensure_ascii=False).encode()).hexdigest()


def event_time(message: dict[str, str]) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(message.get("CreateTime") or ""), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def receive(account: Account, signed: Signed, body: bytes) -> Received:
    """Verify a POST, store it raw once, queue its processing. Runs inside the request's transaction: the log row
    and the outbox row commit together before the answer. Raises ``CallbackCryptoError`` (nothing stored)."""
    mode, message = open_message(account, signed, body)
    key = dedup_key(message)
    try:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the request's transaction
            log = CallbackLog.objects.create(
                org_id=account.org_id, account=account, mode=mode, body=body.decode("utf-8"),
                signature=signed.signature[:64], msg_signature=signed.msg_signature[:64], timestamp=signed.timestamp,
                nonce=signed.nonce, dedup_key=key, msg_type=message.get("MsgType", "")[:20],
                event=message.get("Event", "")[:40], openid=message.get("FromUserName", "")[:64],
                event_time=event_time(message), received_at=clock.now(),
            )  # fmt: skip
    except IntegrityError:
        existing = CallbackLog.objects.in_org(Actor.system(account.org_id, label="official_account")).filter(
            account=account, dedup_key=key)
        existing.update(duplicates=F("duplicates") + 1)
        return Received(log_id=existing.values_list("pk", flat=True).first() or 0, duplicate=True, mode=mode)
    events.emit(CallbackReceived(org_id=account.org_id, callback_log_id=log.pk))
    return Received(log_id=log.pk, duplicate=False, mode=mode)


def reopen(log: CallbackLog) -> dict[str, str]:
    """The stored callback's message, verified and decrypted again (the job's view of it)."""
    signed = Signed(signature=log.signature, timestamp=log.timestamp, nonce=log.nonce,
                    msg_signature=log.msg_signature, encrypt_type="" if log.mode == Mode.PLAIN else "aes")  # fmt: skip
    return open_message(log.account, signed, log.body.encode("utf-8"))[1]
