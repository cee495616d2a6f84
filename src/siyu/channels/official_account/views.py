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

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from siyu.channels.callback_query import percent_decoded_query
from siyu.channels.callback_refusals import crypto_refusal, refuse, signed_query_refusal
from siyu.channels.errors import CallbackCryptoError

from . import callbacks
from .accounts import account_for_callback


@csrf_exempt
def callback(request: HttpRequest, callback_key: str) -> HttpResponse:
    if request.method not in ("GET", "POST", "HEAD"):
        return refuse(405, "method_not_allowed", "GET or POST")
    account = account_for_callback(callback_key)
    if account is None:
        return refuse(404, "not_found", "no such callback")
    query = percent_decoded_query(request.META.get("QUERY_STRING", ""))
    signed = callbacks.Signed(**{k: query.get(k, "") for k in ("signature", "timestamp", "nonce", "msg_signature",
                                                                "encrypt_type")})  # fmt: skip
    refusal = signed_query_refusal(signature=signed.signature, timestamp=signed.timestamp, nonce=signed.nonce,
                                   names="signature, timestamp and nonce")
    if refusal is not None:
        return refusal
    try:
        if request.method in ("GET", "HEAD"):
            echostr = query.get("echostr", "")
            if not echostr:
                return refuse(400, "bad_request", "echostr is required")
            echo = callbacks.verify_url(account, signed, echostr)
            return HttpResponse(echo.encode("utf-8"), content_type="text/plain; charset=utf-8")
        body = request.body
        if len(body) > callbacks.MAX_BODY:
            return refuse(413, "request_too_large", "callback body too large")
        callbacks.receive(account, signed, body)
    except CallbackCryptoError as exc:
        return crypto_refusal(exc, channel="official account")
    except UnicodeDecodeError:
        return refuse(400, "-40002", "XmlParseError")
    return HttpResponse(b"success", content_type="text/plain")
