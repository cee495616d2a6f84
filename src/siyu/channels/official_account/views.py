"""The public callback endpoint ``/oa/callback/<callback key>/`` (no session, no CSRF: the platform signs instead).

* ``GET`` (URL verification): the three-value ``signature``; ``echostr`` is echoed unchanged; nothing stored.
* ``POST``: plaintext, compatible or safe mode (``callbacks.py``), stored raw and queued inside the request's
  transaction, then ``success`` (the platform then neither retries nor shows "该公众号暂时无法提供服务"). A
  duplicate (the platform's retry) is answered ``success`` too.

Every verification or decryption failure is a 4xx with the official library code, and nothing is stored or
processed: 403 for a wrong signature or AppID, 400 for the rest (bad Base64, padding, length, XML). Query
parameters are percent-decoded by hand: a form decoder would turn a ``+`` into a space.
"""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from siyu.channels.callback_query import percent_decoded_query
from siyu.channels.errors import CallbackCryptoError, ReceiveIdMismatch, SignatureInvalid

from . import callbacks
from .accounts import account_for_callback

logger = logging.getLogger(__name__)

REPLAY_WINDOW = 24 * 3600  # seconds a signed timestamp may be away from now; the platform retries within seconds


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


@csrf_exempt
def callback(request: HttpRequest, callback_key: str) -> HttpResponse:
    if request.method not in ("GET", "POST", "HEAD"):
        return _refuse(405, "method_not_allowed", "GET or POST")
    account = account_for_callback(callback_key)
    if account is None:
        return _refuse(404, "not_found", "no such callback")
    query = percent_decoded_query(request.META.get("QUERY_STRING", ""))
    signed = callbacks.Signed(**{k: query.get(k, "") for k in ("signature", "timestamp", "nonce", "msg_signature",
                                                                "encrypt_type")})  # fmt: skip
    if not signed.signature or not signed.timestamp.isdigit() or not signed.nonce or len(signed.nonce) > 64 \
            or len(signed.timestamp) > 20:
        return _refuse(400, "bad_request", "signature, timestamp and nonce are required")
    if abs(time.time() - int(signed.timestamp)) > REPLAY_WINDOW:
        return _refuse(400, "stale_timestamp", "timestamp too far from now")
    try:
        if request.method in ("GET", "HEAD"):
            echostr = query.get("echostr", "")
            if not echostr:
                return _refuse(400, "bad_request", "echostr is required")
            echo = callbacks.verify_url(account, signed, echostr)
            return HttpResponse(echo.encode("utf-8"), content_type="text/plain; charset=utf-8")
        body = request.body
        if len(body) > callbacks.MAX_BODY:
            return _refuse(413, "request_too_large", "callback body too large")
        callbacks.receive(account, signed, body)
    except CallbackCryptoError as exc:
        status = 403 if isinstance(exc, SignatureInvalid | ReceiveIdMismatch) else 400
        logger.warning("official account callback refused: %s (%s)", type(exc).__name__, exc.code)
        return _refuse(status, str(exc.code), type(exc).__name__)
    except UnicodeDecodeError:
        return _refuse(400, "-40002", "XmlParseError")
    return HttpResponse(b"success", content_type="text/plain")
