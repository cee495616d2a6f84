"""The callback endpoint and its processing against a fake WeCom API (respx): URL verification, storage before the
200, deduplication, negative crypto cases, exactly-once effects under retries and out-of-order delivery."""

from __future__ import annotations

import base64
import struct
import time
from urllib.parse import quote, urlencode

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.test import Client

from siyu.cdp.models import Identity, Profile, ProfileTag, TimelineEntry
from siyu.channels.wecom import corps, livecodes, processing, sync, tags
from siyu.channels.wecom.models import (
    CallbackLog,
    ExternalContact,
    FollowRelation,
    LiveCodeDailyStat,
    SyncRun,
)
from siyu.channels.wecom.testing import AES_KEY, TOKEN, signed_post
from siyu.channels.wxcrypto import WXBizMsgCrypt, decode_aes_key, pkcs7_pad
from siyu.kernel.actor import Actor


@pytest.fixture
def system(org):
    return Actor.system(org.pk)


@pytest.fixture
def corp(connect):
    return connect()


@pytest.fixture
def vip_tag(fake, corp):
    ids = fake.add_tag_group("客户等级", ["VIP", "普通"])
    tags.pull_corp_tags(corp)
    return ids["VIP"]


@pytest.fixture
def live_code(system, corp, vip_tag):
    return livecodes.create_live_code(actor=system, corp_pk=corp.pk, data={
        "name": "门店海报", "state": "store-poster", "members": [{"userid": "zhangsan"}],
        "tag_ids": [vip_tag], "welcome": {"text": "你好，欢迎！", "attachments": [
            {"kind": "link", "title": "新人礼", "url": "https://example.com/gift"}]},
        "channel_label": "线下门店", "source_label": "wecom_live_code"})


def post(client, corp, xml, **kw):
    return signed_post(client, corps.callback_path(corp), xml, corp_id=corp.corp_id, **kw)


def test_url_verification_answers_the_decrypted_echostr(corp):
    crypto = WXBizMsgCrypt(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=corp.corp_id)
    echostr = crypto.encrypt("5927782489442352469")
    ts, nonce = str(int(time.time())), "9876"
    sig = crypto.signature(ts, nonce, echostr)
    # echostr's "+" and "/" percent-encoded as WeCom does; a form decoder would break the "+"
    query = f"msg_signature={sig}&timestamp={ts}&nonce={nonce}&echostr={quote(echostr, safe='')}"
    r = Client().get(f"{corps.callback_path(corp)}?{query}")
    assert r.status_code == 200
    assert r.content == b"5927782489442352469"
    assert CallbackLog.objects.count() == 0
    bad = Client().get(f"{corps.callback_path(corp)}?" + query.replace(f"nonce={nonce}", "nonce=9875"))
    assert bad.status_code == 403 and bad.json()["code"] == "-40001"


def test_unknown_callback_key_is_404(db):
    assert Client().post("/wecom/callback/nope/?msg_signature=a&timestamp=1&nonce=1", data="x",
                         content_type="text/xml").status_code == 404


@pytest.mark.parametrize("tamper,status,code", [
    ("signature", 403, "-40001"),
    ("receive_id", 403, "-40005"),
    ("base64", 400, "-40010"),
    ("padding", 400, "-40007"),
    ("length", 400, "-40008"),
    ("xml", 400, "-40002"),
    ("stale", 400, "stale_timestamp"),
])
def test_every_bad_callback_is_refused_and_nothing_is_stored(corp, fake, tamper, status, code, drain):
    xml = fake.scan(state="x", external_userid="wo1")
    crypto = WXBizMsgCrypt(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=corp.corp_id)
    key = decode_aes_key(AES_KEY)

    def raw_encrypt(plain: bytes, pad: bool = True) -> str:
        enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        data = pkcs7_pad(plain) if pad else plain
        return base64.b64encode(enc.update(data) + enc.finalize()).decode()

    ts, nonce = str(int(time.time())), "555"
    if tamper == "receive_id":
        encrypt = WXBizMsgCrypt(token=TOKEN, encoding_aes_key=AES_KEY, receive_id="wwother").encrypt(xml)
    elif tamper == "base64":
        encrypt = "not*base64!!"
    elif tamper == "padding":
        encrypt = raw_encrypt(b"A" * 31 + b"\x00", pad=False)
    elif tamper == "length":
        encrypt = raw_encrypt(b"R" * 16 + struct.pack(">I", 10_000) + b"<xml/>" + corp.corp_id.encode())
    elif tamper == "xml":
        encrypt = None
    else:
        encrypt = crypto.encrypt(xml)
    if tamper == "stale":
        ts = str(int(time.time()) - 3 * 86400)
    if encrypt is None:
        body = "<xml><Encrypt>"
        sig = "0" * 40
    else:
        sig = crypto.signature(ts, nonce, encrypt)
        if tamper == "signature":
            sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        body = f"<xml><ToUserName>{corp.corp_id}</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    url = corps.callback_path(corp) + "?" + urlencode({"msg_signature": sig, "timestamp": ts, "nonce": nonce})
    r = Client().post(url, data=body, content_type="text/xml")
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert CallbackLog.objects.count() == 0
    drain()
    assert ExternalContact.objects.count() == 0


def test_a_scan_creates_exactly_one_of_everything_even_when_retried(corp, fake, live_code, vip_tag, drain):
    xml = fake.scan(state="store-poster", external_userid="woCustomer1", name="王小明", unionid="oUnion1")
    client = Client()
    first = post(client, corp, xml)
    assert first.status_code == 200 and first.content == b""
    log = CallbackLog.objects.get()
    assert (log.event, log.change_type, log.processed_at) == ("change_external_contact", "add_external_contact", None)
    for _ in range(3):  # WeCom retries with the same body, and a second delivery of the same event
        assert post(client, corp, xml).status_code == 200
    assert CallbackLog.objects.count() == 1
    assert CallbackLog.objects.get().duplicates == 3
    drain()
    log.refresh_from_db()
    assert log.processed_at is not None and log.error == ""

    contact = ExternalContact.objects.get()
    assert (contact.external_userid, contact.name) == ("woCustomer1", "王小明")
    relation = FollowRelation.objects.get()
    assert (relation.employee.userid, relation.state, relation.live_code_id, relation.welcome_status) == (
        "zhangsan", "store-poster", live_code.pk, "sent")
    assert relation.tag_ids == [vip_tag]
    # WeCom side: the live code's tag marked once, one welcome message with the link
    assert fake.relations[("zhangsan", "woCustomer1")]["tags_ids"] == [vip_tag]
    assert fake.welcomes == [{"welcome_code": fake.welcomes[0]["welcome_code"], "text": {"content": "你好，欢迎！"},
                              "attachments": [{"msgtype": "link", "link": {"title": "新人礼",
                                                                           "url": "https://example.com/gift"}}]}]
    # CDP: one profile with both identities, source and channel, the corp tag and one timeline entry
    profile = Profile.objects.get()
    assert contact.profile_id == profile.pk
    assert (profile.name, profile.source, profile.channel) == ("王小明", "wecom_live_code", "线下门店")
    assert sorted(Identity.objects.filter(profile=profile).values_list("type", "namespace")) == [
        ("unionid", ""), ("wecom_external_userid", corp.corp_id)]
    assert [(t.tag.group.name, t.tag.name, t.source) for t in ProfileTag.objects.filter(profile=profile)] == [
        ("示例企业·客户等级", "VIP", "wecom")]
    added = TimelineEntry.objects.filter(profile=profile, kind="wecom.contact_added")
    assert [(e.data["employee"], e.data["live_code"]) for e in added] == [("张三", "门店海报")]
    stat = LiveCodeDailyStat.objects.get(live_code=live_code)
    assert (stat.adds, stat.deletions, stat.net, stat.retained) == (1, 0, 1, 1)

    # processing the same log again changes nothing
    assert processing.process_callback(org_id=corp.org_id, log_id=log.pk)
    assert len(fake.welcomes) == 1 and TimelineEntry.objects.filter(kind="wecom.contact_added").count() == 1


def test_a_delete_before_its_add_leaves_one_deleted_relation_and_no_welcome(corp, fake, live_code, drain):
    t0 = int(time.time()) - 60
    add_xml = fake.scan(state="store-poster", external_userid="woLate", name="迟到", at=t0)
    del_xml = fake.customer_deletes(userid="zhangsan", external_userid="woLate", at=t0 + 5)
    client = Client()
    assert post(client, corp, del_xml).status_code == 200
    drain()
    assert post(client, corp, add_xml).status_code == 200
    drain()
    relation = FollowRelation.objects.get()
    assert (relation.deleted, relation.deleted_by, relation.welcome_status) == (True, "customer", "skipped")
    assert fake.welcomes == []
    assert ExternalContact.objects.count() == 1 and Profile.objects.count() == 1
    profile = Profile.objects.get()
    assert TimelineEntry.objects.filter(profile=profile, kind="wecom.contact_added").count() == 1
    stat = LiveCodeDailyStat.objects.get(live_code=live_code)
    assert (stat.adds, stat.deletions, stat.net, stat.retained) == (1, 1, 0, 0)


def test_a_readd_after_a_deletion_is_a_new_add(corp, fake, live_code, drain):
    t0 = int(time.time()) - 120
    client = Client()
    post(client, corp, fake.scan(state="store-poster", external_userid="woBack", at=t0))
    drain()
    post(client, corp, fake.employee_deletes(userid="zhangsan", external_userid="woBack", at=t0 + 10))
    drain()
    post(client, corp, fake.scan(state="store-poster", external_userid="woBack", at=t0 + 20))
    drain()
    relation = FollowRelation.objects.get()
    assert (relation.deleted, relation.deleted_by) == (False, "")
    assert TimelineEntry.objects.filter(kind="wecom.contact_added").count() == 2
    assert TimelineEntry.objects.filter(kind="wecom.contact_deleted").count() == 1
    assert len(fake.welcomes) == 2


def test_a_failing_event_is_recorded_and_retried(corp, fake, live_code, drain):
    fake.fail["externalcontact/get"] = [-1, -1, -1, -1]  # busy beyond the client's in-call retries
    post(Client(), corp, fake.scan(state="store-poster", external_userid="woRetry"))
    drain()
    log = CallbackLog.objects.get()
    assert log.processed_at is None and log.attempts == 1 and "WeComBusy" in log.error
    assert ExternalContact.objects.count() == 0
    from siyu.kernel.models import ScheduledAction

    action = ScheduledAction.objects.get(action=processing.RETRY_ACTION)
    assert action.args == {"log_id": log.pk}
    from siyu.kernel import scheduled

    action.due_at = action.created_at
    action.save()
    scheduled.run_due()
    log.refresh_from_db()
    assert log.processed_at is not None and log.attempts == 2
    assert FollowRelation.objects.filter(deleted=False).count() == 1


def test_reconcile_repairs_a_dropped_callback(corp, fake, live_code, vip_tag, drain):
    client = Client()
    post(client, corp, fake.scan(state="store-poster", external_userid="woSeen", name="收到"))
    fake.scan(state="store-poster", external_userid="woDropped", name="丢失", unionid="oDropped")  # never posted
    post(client, corp, fake.scan(state="store-poster", external_userid="woGone", name="删了"))
    drain()
    fake.employee_deletes(userid="zhangsan", external_userid="woGone")  # that callback is dropped too
    assert set(FollowRelation.objects.filter(deleted=False).values_list("external_contact__external_userid",
                                                                        flat=True)) == {"woSeen", "woGone"}
    run = SyncRun.objects.create(org_id=corp.org_id, corp=corp, kind=SyncRun.Kind.RECONCILE)
    run = sync.run(run.pk, org_id=corp.org_id)
    assert (run.status, run.added, run.deleted, run.total, run.done) == ("done", 1, 1, 2, 2)
    live = FollowRelation.objects.filter(deleted=False)
    assert set(live.values_list("external_contact__external_userid", flat=True)) == {"woSeen", "woDropped"}
    dropped = FollowRelation.objects.get(external_contact__external_userid="woDropped")
    assert (dropped.live_code_id, dropped.tag_ids, dropped.announced) == (live_code.pk, [vip_tag], True)
    gone = FollowRelation.objects.get(external_contact__external_userid="woGone")
    assert (gone.deleted, gone.deleted_by) == (True, "reconcile")
    profile = ExternalContact.objects.get(external_userid="woDropped").profile
    assert profile.channel == "线下门店"
    assert TimelineEntry.objects.filter(profile=profile, kind="wecom.contact_added").count() == 1
    # a second reconcile changes nothing
    again = sync.run(SyncRun.objects.create(org_id=corp.org_id, corp=corp, kind="reconcile").pk, org_id=corp.org_id)
    assert (again.added, again.deleted) == (0, 0)
    assert TimelineEntry.objects.filter(kind="wecom.contact_added").count() == 3
    stat = LiveCodeDailyStat.objects.get(live_code=live_code)
    assert (stat.adds, stat.deletions, stat.net, stat.retained) == (3, 1, 2, 2)
