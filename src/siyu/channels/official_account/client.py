"""Our thin official-account API client (httpx + tenacity), following ``shared/docs/wecom-protocol.md`` §5.

One client = one (AppID, AppSecret). Like the WeCom client it takes a token from the per-account, per-API rate
limiter, puts the shared cached access token (``channels.tokens``: cross-process cache with a lock) in the query
string, maps ``errcode`` to typed exceptions (``errors``), refreshes the token once when the platform refuses it
(40001 / 40014 / 42001) and repeats the call once, retries busy answers and transport failures with backoff
(a write only when it cannot have been applied), and logs the API path and errcode only: the transport shared
with the WeCom client (``channels.api_client.ApiClient``).

Methods: ``send_template`` (``message/template/send`` with ``client_msg_id``), ``create_qrcode``
(``qrcode/create``, temporary or permanent, string scenes), ``user_info`` and ``followers`` (``user/get``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from siyu.channels.api_client import ApiClient, RetryPolicy
from siyu.channels.errors import ChannelValidationError
from siyu.channels.ratelimit import TokenBucketLimiter
from siyu.channels.redaction import install_log_redaction
from siyu.channels.tokens import AccessTokens, IssuedToken, TokenStore, default_token_store, token_key

from .errors import OaTokenInvalid, OaTransportError, error_for, retries_in_call

install_log_redaction("httpx")

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
TEMP_QR_MAX_SECONDS = 2_592_000  # 30 days
SCENE_MAX = 64  # scene_str: 1..64 characters
CLIENT_MSG_ID_MAX = 64

_limiter_lock = threading.Lock()
_limiter: TokenBucketLimiter | None = None


def default_rate_limiter() -> TokenBucketLimiter:
    """Process-wide: the platform counts calls per account per API per day; a burst of 100 at 20/s keeps a
    runaway loop from burning the daily quota in seconds."""
    global _limiter
    with _limiter_lock:
        if _limiter is None:
            _limiter = TokenBucketLimiter(rate=20, capacity=100)
        return _limiter


class OfficialAccountClient(ApiClient):
    label = "official account"
    transport_error = OaTransportError
    token_invalid = OaTokenInvalid
    error_for = staticmethod(error_for)
    retries_in_call = staticmethod(retries_in_call)

    def __init__(
        self, *, appid: str, secret: str, api_base: str = DEFAULT_API_BASE, token_store: TokenStore | None = None,
        rate_limiter: TokenBucketLimiter | None = None, http: httpx.Client | None = None, timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ):  # fmt: skip
        self.appid = appid
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self._secret = secret
        self._http = http or httpx.Client(timeout=timeout)
        self._limiter = rate_limiter or default_rate_limiter()
        self._retry, self._sleep = RetryPolicy(), sleep
        self._tokens = AccessTokens(key=token_key(appid, secret, channel="oa"),
                                    store=token_store or default_token_store(), fetch=self._fetch_token)

    def __repr__(self) -> str:
        return f"OfficialAccountClient(appid={self.appid!r}, api_base={self.api_base!r})"

    def limit_key(self, api: str) -> str:
        return f"oa:{self.appid}:{api}"

    # --- transport -----------------------------------------------------------------------------------------

    def _fetch_token(self) -> IssuedToken:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret}
        data = self._retrying(lambda: self._request("GET", "token", params), idempotent=True)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise OaTransportError("token answered without access_token", api="token")
        return IssuedToken(token=token, expires_in=int(data.get("expires_in") or 7200))

    # --- APIs ------------------------------------------------------------------------------------------------

    def send_template(self, *, touser: str, template_id: str, data: Mapping[str, Any], url: str = "",
                      miniprogram: Mapping[str, str] | None = None, client_msg_id: str = "") -> dict[str, Any]:  # fmt: skip
        """``message/template/send`` → ``msgid``. ``client_msg_id`` makes the platform drop a repeat to the same
        openid for about 10 minutes, so a retry after a lost answer does not send twice."""
        errors: dict[str, list[str]] = {}
        for name, value in (("touser", touser), ("template_id", template_id)):
            if not value:
                errors[name] = ["required"]
        if not data:
            errors["data"] = ["required"]
        if len(client_msg_id) > CLIENT_MSG_ID_MAX:
            errors["client_msg_id"] = [f"at most {CLIENT_MSG_ID_MAX} characters"]
        if errors:
            raise ChannelValidationError("template message is not valid", fields=errors)
        body: dict[str, Any] = {"touser": touser, "template_id": template_id, "data": dict(data)}
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = dict(miniprogram)
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        # With a client_msg_id the platform deduplicates, so repeating after a lost answer is safe.
        return self.call("POST", "message/template/send", body=body, idempotent=bool(client_msg_id))

    def create_qrcode(self, *, scene: str, permanent: bool, expire_seconds: int | None = None) -> dict[str, Any]:
        """``qrcode/create`` with a string scene: ``QR_LIMIT_STR_SCENE`` (permanent) or ``QR_STR_SCENE`` (temporary,
        ``expire_seconds`` ≤ 30 days) → ``ticket``, ``url``, ``expire_seconds``."""
        errors: dict[str, list[str]] = {}
        if not 1 <= len(scene) <= SCENE_MAX:
            errors["scene"] = [f"1 to {SCENE_MAX} characters"]
        if not permanent and expire_seconds is not None and not 1 <= expire_seconds <= TEMP_QR_MAX_SECONDS:
            errors["expire_seconds"] = [f"1 to {TEMP_QR_MAX_SECONDS} seconds"]
        if errors:
            raise ChannelValidationError("QR code is not valid", fields=errors)
        body: dict[str, Any] = {"action_name": "QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE",
                                "action_info": {"scene": {"scene_str": scene}}}
        if not permanent and expire_seconds:
            body["expire_seconds"] = expire_seconds
        return self.call("POST", "qrcode/create", body=body, idempotent=False)

    def user_info(self, *, openid: str) -> dict[str, Any]:
        """``user/info``: subscribe flag, ``unionid``, subscribe scene and QR scene of one follower."""
        return self.call("GET", "user/info", params={"openid": openid, "lang": "zh_CN"}, idempotent=True)

    def followers(self, *, next_openid: str = "") -> dict[str, Any]:
        """``user/get``: up to 10 000 follower openids after ``next_openid``."""
        params = {"next_openid": next_openid} if next_openid else {}
        return self.call("GET", "user/get", params=params, idempotent=True)
