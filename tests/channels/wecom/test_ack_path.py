"""The callback ack path stays cheap (issue 4: 200 callbacks/s, each acknowledged well inside 5 s) without
giving up a promise: the corp's decrypted token and EncodingAESKey are cached per process and corp version, so
a changed key or a deactivated corp takes effect on the next callback; a warm callback costs one corp query and
two inserts; a retry is stored once."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from siyu.channels.wecom import corps
from siyu.channels.wecom.events import CallbackReceived
from siyu.channels.wecom.models import CallbackLog
from siyu.channels.wecom.testing import AES_KEY, TOKEN, signed_post
from siyu.channels.wxcrypto import WXBizMsgCrypt
from siyu.kernel import encrypted
from siyu.kernel.actor import Actor
from siyu.kernel.models import OutboxMessage

NEW_TOKEN = "rotatedtoken42"
NEW_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _post(corp, xml, **kw):
    return signed_post(Client(), corps.callback_path(corp), xml, corp_id=corp.corp_id, **kw)


def _statements(queries) -> tuple[list[str], list[str]]:
    """(SELECT/INSERT/UPDATE/DELETE, everything else). In a test the request's BEGIN/COMMIT are a SAVEPOINT and
    its RELEASE inside the test's transaction: any further savepoint is the code's own."""
    data, other = [], []
    for q in queries:
        verb = q["sql"].lstrip().split(" ", 1)[0].upper()
        (data if verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else other).append(q["sql"])
    return data, other


def test_a_changed_token_and_key_are_used_from_the_next_callback(connect, fake):
    corp = connect()
    assert _post(corp, fake.scan(state="", external_userid="wmA")).status_code == 200
    corps.update_corp(actor=Actor.system(corp.org_id), corp_pk=corp.pk,
                      data={"callback_token": NEW_TOKEN, "encoding_aes_key": NEW_AES_KEY})
    # signed and encrypted with the old settings: refused now, although they were cached a moment ago
    old = _post(corp, fake.scan(state="", external_userid="wmB"))
    assert old.status_code == 403 and old.json()["code"] == "-40001"
    new = _post(corp, fake.scan(state="", external_userid="wmC"), token=NEW_TOKEN, aes_key=NEW_AES_KEY)
    assert new.status_code == 200
    assert CallbackLog.objects.count() == 2


def test_a_changed_key_alone_is_picked_up(connect, fake):
    corp = connect()
    assert _post(corp, fake.scan(state="", external_userid="wmA")).status_code == 200
    corps.update_corp(actor=Actor.system(corp.org_id), corp_pk=corp.pk, data={"encoding_aes_key": NEW_AES_KEY})
    # the same token signs, but the body is encrypted with the old key: it no longer decrypts to this corp
    stale = _post(corp, fake.scan(state="", external_userid="wmB"))
    assert stale.status_code in (400, 403) and CallbackLog.objects.count() == 1
    assert _post(corp, fake.scan(state="", external_userid="wmC"), aes_key=NEW_AES_KEY).status_code == 200
    assert CallbackLog.objects.count() == 2


def test_a_deactivated_corp_is_not_found_at_once(connect, fake):
    corp = connect()
    assert _post(corp, fake.scan(state="", external_userid="wmA")).status_code == 200
    corps.update_corp(actor=Actor.system(corp.org_id), corp_pk=corp.pk, data={"is_active": False})
    assert _post(corp, fake.scan(state="", external_userid="wmB")).status_code == 404
    assert CallbackLog.objects.count() == 1


def test_the_secrets_are_decrypted_once_per_corp_version(connect, fake, monkeypatch):
    corp = connect()
    reveals: list[str] = []
    real = encrypted.reveal
    monkeypatch.setattr(encrypted, "reveal", lambda obj, field: reveals.append(field) or real(obj, field))
    for n in range(3):
        assert _post(corp, fake.scan(state="", external_userid=f"wm{n}")).status_code == 200
    assert sorted(reveals) == ["callback_token", "encoding_aes_key"]
    corps.update_corp(actor=Actor.system(corp.org_id), corp_pk=corp.pk, data={"name": "改名"})
    assert _post(corp, fake.scan(state="", external_userid="wm9")).status_code == 200
    assert len(reveals) == 4  # a saved corp is a new version: read again, once


def test_a_warm_callback_costs_one_corp_query_and_two_inserts(connect, fake):
    corp = connect()
    assert _post(corp, fake.scan(state="", external_userid="wmWarm")).status_code == 200
    xml = fake.scan(state="", external_userid="wmMeasured")
    with CaptureQueriesContext(connection) as captured:
        assert _post(corp, xml).status_code == 200
    statements, other = _statements(captured.captured_queries)
    assert len(statements) == 3, statements
    assert len(other) == 2, other  # the request's own transaction; the insert needs no savepoint of its own
    # the corp's version only (its id and updated_at), not its row: the row and the crypto are cached
    assert statements[0].startswith("SELECT") and "wecom_corp" in statements[0]
    assert "encoding_aes_key" not in statements[0] and "updated_at" in statements[0]
    assert statements[1].startswith("INSERT") and "wecom_callbacklog" in statements[1]
    assert statements[2].startswith("INSERT") and "kernel_outboxmessage" in statements[2]
    assert OutboxMessage.objects.filter(topic=CallbackReceived.topic).count() == 2


def test_a_retry_costs_no_outbox_row_and_is_counted(connect, fake):
    corp = connect()
    xml = fake.scan(state="", external_userid="wmRetried")
    assert _post(corp, xml).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert _post(corp, xml).status_code == 200
    statements, other = _statements(captured.captured_queries)
    # the corp, the insert that finds the row stored, the count, the stored row's id: no outbox row
    assert len(statements) == 4, statements
    assert len(other) == 2, other  # no savepoint to roll back to: the insert does not fail
    assert not any("kernel_outboxmessage" in s for s in statements)
    log = CallbackLog.objects.get()
    assert log.duplicates == 1 and log.processed_at is None
    assert OutboxMessage.objects.filter(topic=CallbackReceived.topic).count() == 1


def test_one_corp_version_has_one_crypto_with_its_settings(connect):
    corp = connect()
    crypto = corps.crypto_for(corp)
    assert crypto is corps.crypto_for(corp)  # the same object for the same version
    expected = WXBizMsgCrypt(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=corp.corp_id)
    assert crypto.signature("1", "2", "x") == expected.signature("1", "2", "x")
    assert crypto.decrypt(expected.encrypt("hello")) == b"hello"
