"""The callback endpoint: URL verification, the three modes, deduplication, and every refusal (4xx, nothing stored,
nothing queued). Requests go through Django's full request handling (middleware, ATOMIC_REQUESTS)."""

from __future__ import annotations

import base64
import datetime as dt
import struct
import time
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from siyu.channels import wxcrypto
from siyu.channels.official_account import accounts
from siyu.channels.official_account.models import CallbackLog
from siyu.channels.wxcrypto import WXBizMsgCrypt, oa_signature
from siyu.kernel.actor import Actor
from siyu.kernel.models import OutboxMessage

APPID, TOKEN, KEY = "wxcallbacktest0001", "oatoken123", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oOpenId000000000000000000001"
EVENT = ("<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
         "<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
         "</xml>")  # fmt: skip

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(org):
    return accounts.add_account(actor=Actor.system(org.pk), data={
        "appid": APPID, "secret": "s" * 32, "callback_token": TOKEN, "encoding_aes_key": KEY,
        "api_base": "http://oa.invalid/cgi-bin/"})  # fmt: skip


@pytest.fixture
def url(account):
    return accounts.callback_path(account)


def event(openid=OPENID, ts=None):
    return EVENT.format(openid=openid, ts=ts or int(time.time()))


def plain_query(ts=None, nonce="123456", token=TOKEN):
    ts = str(ts or int(time.time()))
    return {"signature": oa_signature(token=token, timestamp=ts, nonce=nonce), "timestamp": ts, "nonce": nonce,
            "openid": OPENID}  # fmt: skip


def safe_request(plaintext: str, *, appid=APPID, extra_fields="", encrypt=None, ts=None, nonce="654321"):
    """Query and body of a safe-mode (or, with ``extra_fields``, compatible-mode) POST, signed with msg_signature."""
    crypt = WXBizMsgCrypt(token=TOKEN, encoding_aes_key=KEY, receive_id=appid)
    encrypt = encrypt if encrypt is not None else crypt.encrypt(plaintext)
    query = {**plain_query(ts, nonce), "encrypt_type": "aes",
             "msg_signature": crypt.signature(plain_query(ts, nonce)["timestamp"], nonce, encrypt)}  # fmt: skip
    body = f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>{extra_fields}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return query, body


def post(client, url, query, body):
    return client.post(f"{url}?{urlencode(query)}", data=body, content_type="text/xml")


def raw_encrypt(plain: bytes) -> str:
    key = wxcrypto.decode_aes_key(KEY)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def layout(message: bytes, receive_id: bytes = APPID.encode(), *, length=None) -> bytes:
    return b"R" * 16 + struct.pack(">I", len(message) if length is None else length) + message + receive_id


def nothing_stored():
    return not CallbackLog.objects.unscoped_all_orgs().exists() and not OutboxMessage.objects.exists()


# --- URL verification ---------------------------------------------------------------------------------------


def test_url_verification_echoes_echostr(client, url):
    answer = client.get(f"{url}?{urlencode({**plain_query(), 'echostr': '4375120948345356249'})}")
    assert (answer.status_code, answer.content) == (200, b"4375120948345356249")
    assert nothing_stored()


@pytest.mark.parametrize("change", [{"signature": "0" * 40}, {"nonce": "999"}, {"echostr": ""}])
def test_url_verification_refusals(client, url, change):
    query = {**plain_query(), "echostr": "4375120948345356249"}
    signature = query["signature"]
    query.update(change)
    if "nonce" in change:
        query["signature"] = signature  # signed over another nonce
    answer = client.get(f"{url}?{urlencode(query)}")
    assert answer.status_code == (400 if "echostr" in change else 403)
    assert nothing_stored()


# --- the three modes ----------------------------------------------------------------------------------------------


def test_plaintext_mode_is_checked_with_the_three_value_signature(client, url):
    answer = post(client, url, plain_query(), event())
    assert (answer.status_code, answer.content) == (200, b"success")
    [log] = CallbackLog.objects.unscoped_all_orgs()
    assert (log.mode, log.event, log.openid) == ("plain", "subscribe", OPENID)
    assert OutboxMessage.objects.count() == 1


def test_safe_mode_is_decrypted_with_the_appid(client, url):
    query, body = safe_request(event())
    answer = post(client, url, query, body)
    assert (answer.status_code, answer.content) == (200, b"success")
    [log] = CallbackLog.objects.unscoped_all_orgs()
    assert (log.mode, log.event, log.openid, log.body) == ("safe", "subscribe", OPENID, body)


def test_compatible_mode_trusts_only_the_ciphertext(client, url):
    # The plaintext fields beside Encrypt claim another sender; the signed ciphertext is what counts.
    query, body = safe_request(event(), extra_fields="<FromUserName><![CDATA[oForged]]></FromUserName>"
                                                     "<MsgType><![CDATA[event]]></MsgType>")  # fmt: skip
    assert post(client, url, query, body).status_code == 200
    [log] = CallbackLog.objects.unscoped_all_orgs()
    assert (log.mode, log.openid) == ("compat", OPENID)


def test_retries_and_repeats_are_stored_once(client, url):
    ts = int(time.time())
    query, body = safe_request(event(ts=ts))
    for _ in range(3):
        assert post(client, url, query, body).content == b"success"
    assert post(client, url, plain_query(), event(ts=ts)).content == b"success"  # the same event, plaintext
    [log] = CallbackLog.objects.unscoped_all_orgs()
    assert log.duplicates == 3 and OutboxMessage.objects.count() == 1
    # Another user in the same second, and the same user's next event, are events of their own.
    post(client, url, plain_query(), event(openid="oOther", ts=ts))
    post(client, url, plain_query(), event(ts=ts + 1))
    assert CallbackLog.objects.unscoped_all_orgs().count() == 3


# --- refusals: 4xx, nothing stored, nothing processed ---------------------------------------------------------------


def test_plaintext_with_a_wrong_signature_is_refused(client, url):
    answer = post(client, url, plain_query(token="othertoken"), event())
    assert (answer.status_code, answer.json()["code"]) == (403, "-40001")
    assert nothing_stored()


def _broken(case: str):
    if case == "msg_signature":
        query, body = safe_request(event())
        return {**query, "msg_signature": "f" * 40}, body, 403, "-40001"
    if case == "plain signature only":  # encrypted, but only the three-value signature: not enough
        query, body = safe_request(event())
        query.pop("msg_signature")
        return query, body, 403, "-40001"
    if case == "other appid":
        return (*safe_request(event(), appid="wxsomeoneelse0001"), 403, "-40005")
    if case == "base64":
        return (*safe_request("", encrypt="@@not-base64@@"), 400, "-40010")
    if case == "padding":
        plain = layout(b"<xml/>")
        return (*safe_request("", encrypt=raw_encrypt(plain + bytes([0]) * (32 - len(plain) % 32))), 400, "-40007")
    if case == "length":
        return (*safe_request("", encrypt=raw_encrypt(wxcrypto.pkcs7_pad(layout(b"<xml/>", length=4000)))), 400,
                "-40008")  # fmt: skip
    if case == "envelope xml":
        query, _ = safe_request(event())
        return query, "<xml><Encrypt>", 400, "-40002"
    if case == "message xml":
        return (*safe_request("not xml at all"), 400, "-40002")
    if case == "entities":
        bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
        query, _ = safe_request(event())
        return query, bomb, 400, "-40002"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["msg_signature", "plain signature only", "other appid", "base64", "padding",
                                  "length", "envelope xml", "message xml", "entities"])  # fmt: skip
def test_broken_encrypted_callbacks_are_refused_and_never_processed(client, url, case):
    query, body, status, code = _broken(case)
    answer = post(client, url, query, body)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert nothing_stored()


@pytest.mark.parametrize("change", [{"timestamp": str(int(time.time()) - 2 * 86400)}, {"timestamp": "abc"},
                                    {"nonce": ""}, {"signature": ""}])  # fmt: skip
def test_bad_query_parameters_are_refused(client, url, change):
    query = plain_query()
    query.update(change)
    assert post(client, url, query, event()).status_code == 400
    assert nothing_stored()


def test_unknown_callback_and_inactive_account_are_404(client, account, url):
    assert post(client, "/oa/callback/nope/", plain_query(), event()).status_code == 404
    account.is_active = False
    account.save()
    assert post(client, url, plain_query(), event()).status_code == 404
    assert nothing_stored()


def test_a_follow_and_an_unfollow_in_the_same_second_end_unfollowed_and_an_older_one_changes_nothing(
        account, monkeypatch):
    from siyu.channels.official_account import followers
    from siyu.channels.official_account.models import Follower

    monkeypatch.setattr(followers, "_unionid", lambda account, openid: "")  # no platform call in this test
    at = dt.datetime(2026, 11, 1, 9, 0, 0, tzinfo=dt.UTC)

    def log(event, when):
        return CallbackLog.objects.create(org_id=account.org_id, account=account, mode="plain", body="",
                                          signature="", timestamp="0", nonce="n", dedup_key=f"{event}{when}",
                                          msg_type="event", event=event, openid=OPENID, event_time=when,
                                          received_at=when)

    followers.on_subscribe(account, log("subscribe", at), {"FromUserName": OPENID, "EventKey": ""})
    followers.on_unsubscribe(account, log("unsubscribe", at), {"FromUserName": OPENID})
    row = Follower.objects.in_org(Actor.system(account.org_id)).get(openid=OPENID)
    assert not row.subscribed
    # a subscribe from a second earlier that arrives late does not follow again
    followers.on_subscribe(account, log("subscribe", at - dt.timedelta(seconds=1)), {"FromUserName": OPENID})
    row.refresh_from_db()
    assert not row.subscribed
