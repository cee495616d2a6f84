"""Keep channel secrets and access tokens out of logs and exception messages.

WeCom and the official account take ``access_token`` (and, for ``gettoken``, ``corpsecret`` / ``secret``) in the
query string, and httpx logs every request URL at INFO. ``install_log_redaction`` adds a filter to the ``httpx``
logger that masks those parameters; ``redact`` masks known secret values anywhere in a text (e.g. an ``errmsg``).
"""

from __future__ import annotations

import logging
import re

MASK = "***"
_SECRET_PARAMS = re.compile(
    r"(?i)\b(access_token|corpsecret|secret|suite_secret|provider_secret|component_access_token)=([^&\s'\"<>]+)"
)


def redact_query(text: str) -> str:
    """Mask the values of secret query parameters in ``text`` (URLs, log lines)."""
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={MASK}", text)


def redact(text: str, *secrets: str | None) -> str:
    """Mask every given secret value and every secret query parameter in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return redact_query(text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record whose formatted message carries a secret query parameter; never drops records."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logging's problem, not ours
            return True
        redacted = redact_query(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction(*logger_names: str) -> None:
    """Attach the filter once to each logger (default: ``httpx``, which logs request URLs)."""
    for name in logger_names or ("httpx",):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
