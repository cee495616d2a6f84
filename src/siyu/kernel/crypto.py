"""Personal data at rest: AES-256-GCM envelopes with a key id, an HMAC blind index for exact lookup, masking.

Envelope format (text, so it fits any column): ``v1:<key id>:<base64url(nonce 12 bytes || ciphertext+tag)>``.
The key id lets ``siyu keys rotate`` find and re-encrypt values written under an older key. The ``context``
(e.g. ``"cdp.identity.phone"``) is bound as associated data, so a ciphertext copied to another column fails.

Blind indexes use a key derived from the *first* configured key under a fixed label, so they stay stable
across rotations of the encryption key (rotating the index key would need a full re-index).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PREFIX = "v1"


class CryptoError(Exception):
    pass


def _keys() -> tuple[str, dict[str, bytes]]:
    conf = settings.SIYU_FIELD_KEYS
    keys = {kid: base64.b64decode(v) for kid, v in conf["keys"].items()}
    for kid, k in keys.items():
        if len(k) != 32:
            raise CryptoError(f"field key {kid!r} must be 32 bytes")
    if conf["active"] not in keys:
        raise CryptoError("the active field key id is not among the keys")
    return conf["active"], keys


def active_key_id() -> str:
    return _keys()[0]


def encrypt(plaintext: str, *, context: str) -> str:
    kid, keys = _keys()
    nonce = os.urandom(12)
    ct = AESGCM(keys[kid]).encrypt(nonce, plaintext.encode("utf-8"), context.encode())
    return f"{PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + ct).decode().rstrip('=')}"


def key_id_of(token: str) -> str:
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise CryptoError("not an encrypted value")
    return parts[1]


def decrypt(token: str, *, context: str) -> str:
    kid = key_id_of(token)
    _, keys = _keys()
    if kid not in keys:
        raise CryptoError(f"unknown field key {kid!r}")
    raw_b64 = token.split(":", 2)[2]
    raw = base64.urlsafe_b64decode(raw_b64 + "=" * (-len(raw_b64) % 4))
    try:
        return AESGCM(keys[kid]).decrypt(raw[:12], raw[12:], context.encode()).decode("utf-8")
    except InvalidTag as exc:
        raise CryptoError("ciphertext does not authenticate") from exc


def _index_key() -> bytes:
    conf = settings.SIYU_FIELD_KEYS
    first = conf.get("index_key_id") or sorted(conf["keys"])[0]
    return hmac.new(base64.b64decode(conf["keys"][first]), b"siyu-blind-index-v1", hashlib.sha256).digest()


def blind_index(value: str, *, context: str) -> str:
    """Deterministic keyed hash of a normalised value, for exact-match lookup without decrypting."""
    return hmac.new(_index_key(), f"{context}\x00{value}".encode(), hashlib.sha256).hexdigest()


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 11:
        d = digits[-11:]
        return f"{d[:3]}****{d[-4:]}"
    if len(digits) >= 7:
        return f"{digits[:2]}***{digits[-2:]}"
    return "****"


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    if not domain:
        return "****"
    return f"{local[:1]}***@{domain}"


def mask_text(value: str) -> str:
    if len(value) <= 1:
        return "*"
    return value[0] + "*" * min(len(value) - 1, 6)


MASKERS = {"phone": mask_phone, "email": mask_email, "text": mask_text}


def mask(value: str | None, kind: str = "text") -> str:
    if not value:
        return ""
    return MASKERS.get(kind, mask_text)(value)
