"""Domain events of the official-account channel."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.kernel.events import DomainEvent


@dataclass(frozen=True)
class CallbackReceived(DomainEvent):
    """A callback was stored (``CallbackLog``) and waits to be processed."""

    topic = "official_account.CallbackReceived"
    callback_log_id: int


@dataclass(frozen=True)
class Subscribed(DomainEvent):
    """A WeChat user followed the account (by search or a parametric QR code) and the CDP knows it."""

    topic = "official_account.Subscribed"
    appid: str
    openid: str
    profile_id: int | None
    scene: str = ""
    qr_code_id: int | None = None


@dataclass(frozen=True)
class Unsubscribed(DomainEvent):
    topic = "official_account.Unsubscribed"
    appid: str
    openid: str
    profile_id: int | None = None
