"""Identifiers shaped like WeCom's (protocol document §2.2 "ID shapes"): not guaranteed formats, just realistic."""

from __future__ import annotations

import base64
import hashlib
import secrets
import string

_ALNUM = string.ascii_letters + string.digits


def alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _digest(*parts: str, n: int) -> str:
    raw = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    text = base64.b64encode(raw).decode("ascii").replace("+", "A").replace("/", "B").rstrip("=")
    return text[:n]


def corp_id() -> str:
    return "ww" + secrets.token_hex(8)


def appid() -> str:
    return "wx" + secrets.token_hex(8)


def secret() -> str:
    return alnum(43)


def callback_token() -> str:
    return alnum(16)  # Siyu accepts 1-32 letters and digits


def encoding_aes_key() -> str:
    """43 characters from ``[A-Za-z0-9]`` that decode to 32 bytes (§1.1)."""
    while True:
        text = base64.b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
        if text.isalnum():
            return text


def unionid() -> str:
    return "oSim" + alnum(24)


def external_userid(corp: str, union: str) -> str:
    """Stable per (corp, unionid): the same WeChat user has one external_userid per corp (§2.2)."""
    return "wm" + _digest("external", corp, union, n=30)


def openid(app: str, union: str) -> str:
    return "o" + _digest("openid", app, union, n=27)


def config_id() -> str:
    return secrets.token_hex(16)


def welcome_code() -> str:
    return secrets.token_urlsafe(32)


def tag_id() -> str:
    return "et" + alnum(20)


def chat_id() -> str:
    return "wr" + alnum(30)


def msgid() -> str:
    return "msg" + alnum(20)


def access_token() -> str:
    return secrets.token_urlsafe(96)


def ticket() -> str:
    return "gQ" + alnum(60)
