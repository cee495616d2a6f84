"""The public callback endpoint ``/wecom/callback/<callback key>/`` (no session, no CSRF: WeCom signs instead).

* ``GET`` (URL verification): check ``msg_signature`` over the echostr, answer its decrypted text, nothing
  stored, well within WeCom's 1 s.
* ``POST``: verify, decrypt, store raw and queue (``callbacks.receive``) inside the request's transaction, then
  the empty 200 WeCom expects. A duplicate (WeCom's retry) is answered 200 too.

Every verification or decryption failure is a 4xx with the official library code and nothing is stored or
processed: 403 for a wrong signature or receive id, 400 for the rest (bad Base64, padding, length, XML). Query
parameters are percent-decoded by hand: a form decoder would turn the ``+`` of a Base64 echostr into a space.
"""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from siyu.channels.callback_query import percent_decoded_query
from siyu.channels.errors import CallbackCryptoError, ReceiveIdMismatch, SignatureInvalid

from . import callbacks
from .corps import corp_for_callback

logger = logging.getLogger(__name__)

REPLAY_WINDOW = 24 * 3600  # seconds a signed timestamp may be away from now; WeCom retries within seconds


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _crypto_refusal(exc: CallbackCryptoError) -> JsonResponse:
    status = 403 if isinstance(exc, SignatureInvalid | ReceiveIdMismatch) else 400
    logger.warning("wecom callback refused: %s (%s)", type(exc).__name__, exc.code)
    return _refuse(status, str(exc.code), type(exc).__name__)


@csrf_exempt
def callback(request: HttpRequest, callback_key: str) -> HttpResponse:
    if request.method not in ("GET", "POST", "HEAD"):
        return _refuse(405, "method_not_allowed", "GET or POST")
    corp = corp_for_callback(callback_key)
    if corp is None:
        return _refuse(404, "not_found", "no such callback")
    query = percent_decoded_query(request.META.get("QUERY_STRING", ""))
    signature, timestamp, nonce = (query.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
    if not signature or not timestamp.isdigit() or not nonce or len(nonce) > 64 or len(timestamp) > 20:
        return _refuse(400, "bad_request", "msg_signature, timestamp and nonce are required")
    if abs(time.time() - int(timestamp)) > REPLAY_WINDOW:
        return _refuse(400, "stale_timestamp", "timestamp too far from now")
    try:
        if request.method in ("GET", "HEAD"):
            echostr = query.get("echostr", "")
            if not echostr:
                return _refuse(400, "bad_request", "echostr is required")
            plain = callbacks.verify_url(corp, msg_signature=signature, timestamp=timestamp, nonce=nonce,
                                         echostr=echostr)
            return HttpResponse(plain.encode("utf-8"), content_type="text/plain; charset=utf-8")
        body = request.body
        if len(body) > callbacks.MAX_BODY:
            return _refuse(413, "request_too_large", "callback body too large")
        json_body = request.content_type == "application/json" or body.lstrip()[:1] == b"{"
        callbacks.receive(corp, body=body, msg_signature=signature, timestamp=timestamp, nonce=nonce,
                          json_body=json_body)
    except CallbackCryptoError as exc:
        return _crypto_refusal(exc)
    except UnicodeDecodeError:
        return _refuse(400, "-40002", "XmlParseError")
    return HttpResponse(b"", content_type="text/plain")
