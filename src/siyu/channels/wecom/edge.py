"""What the edges (API, console) answer when WeCom itself fails: a ``ChannelError`` becomes a ``DomainError`` so
the one error shape applies and the request's transaction rolls back (nothing half-written)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from siyu.channels.errors import (
    ChannelConfigError,
    ChannelError,
    ChannelRateLimited,
    ChannelRejected,
    ChannelValidationError,
)
from siyu.kernel.errors import DomainError, RateLimited, ValidationFailed


class ChannelFailed(DomainError):
    """WeCom could not be reached, was busy, or refused our credentials (502: the upstream failed)."""

    status = 502
    code = "channel_failed"


def as_domain_error(exc: ChannelError) -> DomainError:
    if isinstance(exc, ChannelValidationError):
        return exc
    if isinstance(exc, ChannelRateLimited):
        return RateLimited("WeCom rate limit", retry_after=max(1, int(exc.retry_after)), code="channel_rate_limited")
    if isinstance(exc, ChannelRejected):
        return ValidationFailed(f"WeCom refused the request: {exc.message}", code="channel_rejected",
                                fields={"wecom": [str(exc.channel_code or "")]})
    if isinstance(exc, ChannelConfigError):
        return ChannelFailed(f"WeCom settings are wrong: {exc.message}", code="channel_config")
    return ChannelFailed(f"WeCom is unavailable: {exc.message}")


@contextmanager
def translating() -> Iterator[None]:
    try:
        yield
    except ChannelValidationError:
        raise
    except ChannelError as exc:
        raise as_domain_error(exc) from exc
