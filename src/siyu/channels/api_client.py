"""The transport the WeCom and official-account API clients share: both platforms answer every call with HTTP 200
and a JSON object whose non-zero ``errcode`` is the error, take the access token in the query string, and refuse an
expired token with an errcode that asks for a fresh one.

``ApiClient`` is their base. Per call it takes a token from the rate limiter, puts the shared cached access token
(``channels.tokens``) in the query string, maps ``errcode`` to the platform's typed exception, refreshes the token
once when the platform refuses it and repeats the call once, retries what ``retries_in_call`` allows with
exponential backoff and jitter, and logs the API path and errcode only (secrets and tokens are redacted).

A subclass sets the attributes below and its platform's error mapping; its own module's logger is used, so log
lines keep naming the platform's client.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import tenacity

from siyu.channels.errors import ChannelError
from siyu.channels.ratelimit import TokenBucketLimiter
from siyu.channels.redaction import redact
from siyu.channels.tokens import AccessTokens


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # the call plus 3 retries ("-1 system busy: retry ≤ 3 times")
    initial_wait: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.5


HTTP_TIMEOUT = 10.0  # seconds per API request

_http: tuple[int, httpx.Client] | None = None
_http_lock = threading.Lock()


def shared_http() -> httpx.Client:
    """One connection pool per process for every WeCom corp's and official account's API calls. A new
    ``httpx.Client`` costs about 30 ms of CPU (its TLS context), which every processed callback paid at least
    once; one shared client (thread-safe) also keeps its connections alive. Never close it: other threads may be
    using it. Keyed by process id: a forked process must not share its parent's sockets."""
    global _http
    with _http_lock:
        if _http is None or _http[0] != os.getpid() or _http[1].is_closed:
            _http = (os.getpid(), httpx.Client(timeout=HTTP_TIMEOUT))
        return _http[1]


class ApiClient:
    label: ClassVar[str]  # names the platform in log lines: "wecom", "official account"
    transport_error: ClassVar[type[ChannelError]]  # no usable answer; takes (errmsg, api=, maybe_applied=)
    token_invalid: ClassVar[type[ChannelError]]  # the errcode classes that ask for a fresh token

    api_base: str
    _secret: str
    _http: httpx.Client
    _limiter: TokenBucketLimiter
    _tokens: AccessTokens
    _retry: RetryPolicy
    _sleep: Callable[[float], None]

    def error_for(self, errcode: int, errmsg: str, *, api: str) -> ChannelError:
        raise NotImplementedError

    def retries_in_call(self, error: BaseException, *, idempotent: bool) -> bool:
        raise NotImplementedError

    def limit_key(self, api: str) -> str:
        """The rate limiter's bucket for ``api`` (the platform counts per account and API)."""
        raise NotImplementedError

    @property
    def _logger(self) -> logging.Logger:
        return logging.getLogger(type(self).__module__)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, api: str, *, params: Mapping[str, Any] | None = None,
             body: Mapping[str, Any] | None = None, idempotent: bool) -> dict[str, Any]:  # fmt: skip
        """Call ``api`` (a path under the API base) with the access token; refresh it once if the platform refuses
        it."""
        token = self._tokens.get()
        try:
            return self._retrying(lambda: self._request(method, api, params, body, token), idempotent=idempotent)
        except self.token_invalid as exc:
            self._logger.info("%s %s: access token refused (errcode %s), refreshing once", self.label, api,
                              exc.channel_code)  # fmt: skip
        token = self._tokens.refresh(token)
        return self._retrying(lambda: self._request(method, api, params, body, token), idempotent=idempotent)

    def _retrying(self, attempt: Callable[[], dict[str, Any]], *, idempotent: bool) -> dict[str, Any]:
        policy = self._retry
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: self.retries_in_call(exc, idempotent=idempotent)),
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
            + tenacity.wait_random(0, policy.jitter),
            sleep=self._sleep, before_sleep=self._log_retry, reraise=True,
        )(attempt)  # fmt: skip

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ChannelError):
            self._logger.warning("%s %s: %s (errcode %s), attempt %d, retrying in %.2fs", self.label,
                                 getattr(exc, "api", ""), type(exc).__name__, exc.channel_code, state.attempt_number,
                                 state.upcoming_sleep)  # fmt: skip

    def _request(self, method: str, api: str, params: Mapping[str, Any] | None = None,
                 body: Mapping[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:  # fmt: skip
        self._limiter.acquire(self.limit_key(api))
        query = dict(params or {})
        if token is not None:
            query["access_token"] = token
        try:
            response = self._http.request(method, self.api_base + api, params=query, json=body)
        except httpx.TransportError as exc:
            # Connection never made: the platform cannot have acted. Anything later (read timeout …) may have been.
            not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise self.transport_error(type(exc).__name__, api=api, maybe_applied=not not_sent) from None
        if response.status_code != 200:
            raise self.transport_error(f"HTTP {response.status_code}", api=api, maybe_applied=True)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self.transport_error("response is not a JSON object", api=api, maybe_applied=True)
        try:
            errcode = int(data.get("errcode") or 0)
        except (TypeError, ValueError):
            raise self.transport_error("errcode is not a number", api=api, maybe_applied=True) from None
        self._logger.debug("%s %s %s errcode=%s", self.label, method, api, errcode)
        if errcode:
            raise self.error_for(errcode, redact(str(data.get("errmsg", "")), self._secret, token), api=api)
        return data
