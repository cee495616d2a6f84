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

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from siyu.channels.callback_query import percent_decoded_query
from siyu.channels.callback_refusals import crypto_refusal, refuse, signed_query_refusal
from siyu.channels.errors import CallbackCryptoError

from . import callbacks
from .corps import corp_for_callback


@csrf_exempt
def callback(request: HttpRequest, callback_key: str) -> HttpResponse:
    if request.method not in ("GET", "POST", "HEAD"):
        return refuse(405, "method_not_allowed", "GET or POST")
    corp = corp_for_callback(callback_key)
    if corp is None:
        return refuse(404, "not_found", "no such callback")
    query = percent_decoded_query(request.META.get("QUERY_STRING", ""))
    signature, timestamp, nonce = (query.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
    refusal = signed_query_refusal(signature=signature, timestamp=timestamp, nonce=nonce,
                                   names="msg_signature, timestamp and nonce")
    if refusal is not None:
        return refusal
    try:
        if request.method in ("GET", "HEAD"):
            echostr = query.get("echostr", "")
            if not echostr:
                return refuse(400, "bad_request", "echostr is required")
            plain = callbacks.verify_url(corp, msg_signature=signature, timestamp=timestamp, nonce=nonce,
                                         echostr=echostr)
            return HttpResponse(plain.encode("utf-8"), content_type="text/plain; charset=utf-8")
        body = request.body
        if len(body) > callbacks.MAX_BODY:
            return refuse(413, "request_too_large", "callback body too large")
        json_body = request.content_type == "application/json" or body.lstrip()[:1] == b"{"
        callbacks.receive(corp, body=body, msg_signature=signature, timestamp=timestamp, nonce=nonce,
                          json_body=json_body)
    except CallbackCryptoError as exc:
        return crypto_refusal(exc, channel="wecom")
    except UnicodeDecodeError:
        return refuse(400, "-40002", "XmlParseError")
    return HttpResponse(b"", content_type="text/plain")
