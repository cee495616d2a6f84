"""WeCom ``errcode`` → typed exception, from the protocol document's table (§2.1, §2.3).

WeCom answers HTTP 200 for errors too; the client raises ``error_for(errcode, …)`` for every non-zero code. The
classes subclass the channel port's errors, so callers outside the WeCom package can handle them generically.
Do not match on ``errmsg``: WeCom says it may change.
"""

from __future__ import annotations

from siyu.channels.errors import (
    ChannelConfigError,
    ChannelError,
    ChannelRateLimited,
    ChannelRejected,
    ChannelUnavailable,
    RecipientUnreachable,
)


class WeComError(ChannelError):
    """A non-zero ``errcode`` (or a transport failure) from a WeCom API call.

    ``api`` is the path without query string (``externalcontact/get``); ``errmsg`` has been redacted of the
    secret and access token before it got here.
    """

    def __init__(self, errcode: int, errmsg: str = "", *, api: str = ""):
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api
        super().__init__(f"WeCom {api or 'API'} errcode {errcode}: {errmsg}".rstrip(": "), code=errcode)


class WeComBusy(WeComError, ChannelUnavailable):
    """-1 system busy: retried by the client (≤ 3 times, backoff)."""


class WeComTransportError(WeComError, ChannelUnavailable):
    """No usable answer (connection failed, timeout, HTTP status other than 200, body not JSON).

    ``maybe_applied`` is true when WeCom may have acted on the request (it was sent, no answer came back): the
    client then retries in-call only idempotent calls, and callers of a write reconcile before sending again.
    """

    def __init__(self, errmsg: str = "", *, api: str = "", maybe_applied: bool = False):
        super().__init__(0, errmsg, api=api)
        self.maybe_applied = maybe_applied


class WeComTokenInvalid(WeComError, ChannelConfigError):
    """40014 / 42001 / 42009: the access token is invalid or expired. The client refreshes once and retries; this
    escapes only when a freshly issued token is refused too."""


class WeComRateLimited(WeComError, ChannelRateLimited):
    """45009 frequency limit (minute bans last 60 s, hour bans 60 min), 45033 concurrency limit."""

    def __init__(self, errcode: int, errmsg: str = "", *, api: str = "", retry_after: float = 60.0):
        super().__init__(errcode, errmsg, api=api)
        self.retry_after = retry_after


class WeComConfigError(WeComError, ChannelConfigError):
    """Wrong corp id or secret, app type or visibility, untrusted IP: an administrator must fix the settings."""


class WeComInvalidRequest(WeComError, ChannelRejected):
    """A parameter WeCom refuses (invalid user id, tag id, contact-way fields, transfer rules …)."""


class WeComNotFriend(WeComError, RecipientUnreachable):
    """84061: no external-contact relation (the member deleted the customer, or a half relation)."""


class WelcomeCodeUsed(WeComError, ChannelRejected):
    """41051: the welcome message was already delivered or the chat already started. Final: never retried."""


class WelcomeCodeBusy(WeComError, ChannelUnavailable):
    """41096: another app is sending the welcome message right now. Retried."""


class WeComRetryLater(WeComError, ChannelUnavailable):
    """41063: the broadcast is still being dispatched; ask for its result again later (not retried in-call)."""

    retryable = True


class WeComNotAgreed(WeComError, RecipientUnreachable):
    """41053: the customer has not agreed to conversation archiving."""


# errcode → class. Ranges from the document are expanded; unknown codes raise the base WeComError.
_CONFIG = (40001, 40013, 40091, 41001, 48002, 60011, 60020, 84074, 301052)
_INVALID = (
    40003, 40058, 40063, 40068, 40071, 40096, 40097, 40098, 40099, 40130, 40131,
    *range(41037, 41046),  # contact way: type/scene/style/config_id/users/quota
    41046, 41047, 41048,  # msg template
    41049, 41050,  # welcome code missing / invalid
    81017, *range(90500, 90511), 600018,
)  # fmt: skip
ERRCODES: dict[int, type[WeComError]] = {
    -1: WeComBusy,
    40014: WeComTokenInvalid,
    42001: WeComTokenInvalid,
    42009: WeComTokenInvalid,
    45009: WeComRateLimited,
    45033: WeComRateLimited,
    41051: WelcomeCodeUsed,
    41096: WelcomeCodeBusy,
    41063: WeComRetryLater,
    41053: WeComNotAgreed,
    84061: WeComNotFriend,
    **dict.fromkeys(_CONFIG, WeComConfigError),
    **dict.fromkeys(_INVALID, WeComInvalidRequest),
}

TOKEN_ERRCODES = frozenset(code for code, cls in ERRCODES.items() if cls is WeComTokenInvalid)


def error_for(errcode: int, errmsg: str = "", *, api: str = "") -> WeComError:
    """The typed exception for a WeCom ``errcode`` (not raised: the caller raises it)."""
    return ERRCODES.get(errcode, WeComError)(errcode, errmsg, api=api)


def retries_in_call(error: BaseException, *, idempotent: bool) -> bool:
    """Whether the client itself backs off and tries again: busy, rate limit, 41096, and transport failures
    unless the request may have been applied by a call that is not idempotent."""
    if isinstance(error, WeComTransportError):
        return idempotent or not error.maybe_applied
    return isinstance(error, WeComBusy | WeComRateLimited | WelcomeCodeBusy)
