"""Official-account ``errcode`` → typed exception (protocol document §5 and the platform's global code table).

The platform answers HTTP 200 for errors too; successful answers of ``token``, ``qrcode/create`` and ``user/*``
carry no ``errcode`` at all. The classes subclass the channel port's errors so callers handle them generically.
40001 means "wrong AppSecret" on ``cgi-bin/token`` and "access token invalid" on every other API: ``error_for``
takes the API into account.
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


class OfficialAccountError(ChannelError):
    def __init__(self, errcode: int, errmsg: str = "", *, api: str = ""):
        self.errcode, self.errmsg, self.api = errcode, errmsg, api
        super().__init__(f"official account {api or 'API'} errcode {errcode}: {errmsg}".rstrip(": "), code=errcode)


class OaBusy(OfficialAccountError, ChannelUnavailable):
    """-1 system busy: retried by the client."""


class OaTransportError(OfficialAccountError, ChannelUnavailable):
    """No usable answer. ``maybe_applied``: the request was sent and may have been acted on."""

    def __init__(self, errmsg: str = "", *, api: str = "", maybe_applied: bool = False):
        super().__init__(0, errmsg, api=api)
        self.maybe_applied = maybe_applied


class OaTokenInvalid(OfficialAccountError, ChannelConfigError):
    """40001 (on an API call) / 40014 / 42001: refreshed once by the client; escapes when a fresh token fails too."""


class OaRateLimited(OfficialAccountError, ChannelRateLimited):
    """45009: the daily API quota (template messages: 100 000 a day and more with followers) is used up."""

    def __init__(self, errcode: int, errmsg: str = "", *, api: str = "", retry_after: float = 3600.0):
        super().__init__(errcode, errmsg, api=api)
        self.retry_after = retry_after


class OaConfigError(OfficialAccountError, ChannelConfigError):
    """Wrong AppID or AppSecret, untrusted IP, an API the account may not use, an unknown template."""


class OaInvalidRequest(OfficialAccountError, ChannelRejected):
    """A parameter the platform refuses (data format, QR scene, action name)."""


class OaNotFollowing(OfficialAccountError, RecipientUnreachable):
    """43004 the user does not follow the account (any more); 40003 an openid unknown to this account."""


_CONFIG = (40013, 40125, 40164, 41001, 41002, 41004, 48001, 40037, 61004)
_INVALID = (40002, 40052, 40053, 40054, 40055, 41028, 41029, 41030, 47001, 44002, 45002)
ERRCODES: dict[int, type[OfficialAccountError]] = {
    -1: OaBusy,
    40014: OaTokenInvalid,
    42001: OaTokenInvalid,
    45009: OaRateLimited,
    43004: OaNotFollowing,
    40003: OaNotFollowing,
    **dict.fromkeys(_CONFIG, OaConfigError),
    **dict.fromkeys(_INVALID, OaInvalidRequest),
}


def error_for(errcode: int, errmsg: str = "", *, api: str = "") -> OfficialAccountError:
    if errcode == 40001:
        cls: type[OfficialAccountError] = OaConfigError if api == "token" else OaTokenInvalid
    else:
        cls = ERRCODES.get(errcode, OfficialAccountError)
    return cls(errcode, errmsg, api=api)


def retries_in_call(error: BaseException, *, idempotent: bool) -> bool:
    """Busy and transport failures are retried in the call (a write only when it cannot have been applied); the
    daily quota is not: it lasts until midnight."""
    if isinstance(error, OaTransportError):
        return idempotent or not error.maybe_applied
    return isinstance(error, OaBusy)
