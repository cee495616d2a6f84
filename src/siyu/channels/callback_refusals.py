"""How the public callback endpoints (WeCom's and the official account's) refuse a request: a 4xx with
``{"code", "message"}`` and nothing stored. The checks both make before touching the body live here too: the signed
query parameters must be present and the timestamp recent, and a verification or decryption failure is 403 for a
wrong signature or receive id (AppID) and 400 for the rest, with the official library's code.
"""

from __future__ import annotations

import logging
import time

from django.http import JsonResponse

from siyu.channels.errors import CallbackCryptoError, ReceiveIdMismatch, SignatureInvalid

logger = logging.getLogger(__name__)

REPLAY_WINDOW = 24 * 3600  # seconds a signed timestamp may be away from now; the platforms retry within seconds


def refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def signed_query_refusal(*, signature: str, timestamp: str, nonce: str, names: str) -> JsonResponse | None:
    """The refusal of a callback whose signature, timestamp or nonce is missing, malformed or stale (``names``
    says which parameters the platform signs with); None when they may be checked."""
    if not signature or not timestamp.isdigit() or not nonce or len(nonce) > 64 or len(timestamp) > 20:
        return refuse(400, "bad_request", f"{names} are required")
    if abs(time.time() - int(timestamp)) > REPLAY_WINDOW:
        return refuse(400, "stale_timestamp", "timestamp too far from now")
    return None


def crypto_refusal(exc: CallbackCryptoError, *, channel: str) -> JsonResponse:
    status = 403 if isinstance(exc, SignatureInvalid | ReceiveIdMismatch) else 400
    logger.warning("%s callback refused: %s (%s)", channel, type(exc).__name__, exc.code)
    return refuse(status, str(exc.code), type(exc).__name__)
