"""End to end over real HTTP: the simulator's official account posts safe-mode callbacks to Siyu's live server;
Siyu calls the simulator's API (token, user/info, qrcode/create, template messages)."""

from __future__ import annotations

import json

import httpx
import pytest

from siyu.cdp.consent import ensure_default_purposes, record_consent
from siyu.cdp.models import Identity, TimelineEntry
from siyu.channels.api_client import shared_http
from siyu.channels.official_account import accounts, qrcodes
from siyu.channels.official_account import adapter as adapter_module
from siyu.channels.official_account.models import Follower, Scan, TemplateSend
from siyu.channels.ports import Link, MessageContent, Recipient, SendStatus, registry
from siyu.channels.wecom.simulator import actions, delivery, state
from siyu.kernel import encrypted
from siyu.kernel.actor import Actor

from .conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def follower(org, openid):
    return Follower.objects.in_org(Actor.system(org.pk)).select_related("profile").get(openid=openid)


def test_a_scan_of_a_parametric_code_becomes_one_follower_profile_and_timeline_entry(
        org, account, sim, deliver, drain, logs):  # fmt: skip
    actor = Actor.system(org.pk)
    code = qrcodes.create_qr_code(actor=actor, account_pk=account.pk, data={
        "name": "门店海报", "scene": "store-12", "expire_seconds": 3600, "source_label": "poster",
        "channel_label": "门店 12"})  # fmt: skip
    assert code.ticket and code.url.endswith(code.ticket) and code.expires_at is not None
    followed = actions.follow_oa(sim.sim, scene="store-12", name="王小明", unionid="oUnionE2E")
    [delivery] = deliver()
    assert delivery["status"] == "delivered", delivery["last_error"]
    [log] = logs()
    assert (log.mode, log.event, log.openid, log.processed_at) == ("safe", "subscribe", followed["openid"], None)
    drain()
    row = follower(org, followed["openid"])
    assert row.subscribed and row.first_qr_code_id == code.pk
    assert encrypted.reveal(row, "unionid") == "oUnionE2E"
    profile = row.profile
    assert (profile.source, profile.channel) == ("poster", "门店 12")
    ids = set(Identity.objects.in_org(actor).filter(profile=profile).values_list("type", "namespace"))
    assert {("openid", account.appid), ("unionid", "")} <= ids
    kinds = list(TimelineEntry.objects.in_org(actor).filter(profile=profile).values_list("kind", flat=True))
    assert kinds.count("official_account.subscribed") == 1
    account.refresh_from_db()
    assert account.original_id.startswith("gh_")

    # The platform retries (same query, same body): answered success, stored once, processed once.
    url = f"{delivery['url']}?{delivery['query']}"
    for _ in range(3):
        answer = httpx.post(url, content=delivery["body"].encode(), timeout=60)
        assert (answer.status_code, answer.text) == (200, "success")
    drain()
    [log] = logs()
    assert log.duplicates == 3 and log.processed_at is not None
    assert Scan.objects.in_org(actor).filter(qr_code=code).count() == 1
    assert TimelineEntry.objects.in_org(actor).filter(profile=profile, kind="official_account.subscribed").count() == 1

    # A scan while following, then an unfollow: statistics and timeline follow.
    actions.follow_oa(sim.sim, scene="store-12", unionid="oUnionE2E")
    actions.unfollow_oa(sim.sim, openid=followed["openid"])
    assert all(row["status"] == "delivered" for row in deliver())
    drain()
    stats = qrcodes.scene_stats(actor, [code])[code.pk]
    assert stats == {"subscribes": 1, "scans": 1, "people": 1}
    assert qrcodes.daily_stats(actor, code)[0]["subscribes"] == 1
    row = follower(org, followed["openid"])
    assert not row.subscribed and row.unsubscribed_at is not None
    kinds = set(TimelineEntry.objects.in_org(actor).filter(profile=profile).values_list("kind", flat=True))
    assert {"official_account.scanned", "official_account.unsubscribed"} <= kinds


def test_a_follower_by_search_gets_the_account_as_channel(org, account, sim, deliver, drain):
    followed = actions.follow_oa(sim.sim, name="李雷")
    assert all(row["status"] == "delivered" for row in deliver())
    drain()
    profile = follower(org, followed["openid"]).profile
    assert (profile.source, profile.channel) == ("official_account", "示例服务号")


def test_template_messages_go_through_the_port_and_honour_consent(org, account, sim, deliver, drain):
    actor = Actor.system(org.pk)
    followed = actions.follow_oa(sim.sim, name="韩梅梅")
    assert all(row["status"] == "delivered" for row in deliver())
    drain()
    openid = followed["openid"]
    adapter = registry.adapter("official_account", org_id=org.pk)
    content = MessageContent(text="您的订单已发货", attachments=(Link(title="查看", url="https://example.com/o/1"),))
    sent_in_sim = lambda: sim.store.conn().execute("SELECT COUNT(*) FROM oa_template_msgs").fetchone()[0]  # noqa: E731

    ensure_default_purposes(actor=actor)
    skipped = adapter.send_direct(idempotency_key="notice:1", recipient=Recipient(address=openid), content=content)
    assert [(r.status, r.code) for r in skipped.results] == [(SendStatus.SKIPPED, "consent:no_record")]
    assert sent_in_sim() == 0

    record_consent(actor=actor, profile=follower(org, openid).profile, purpose="marketing", granted=True,
                   source="test", channel="official_account")  # fmt: skip
    result = adapter.send_direct(idempotency_key="notice:2", recipient=Recipient(address=openid), content=content)
    [one] = result.results
    assert one.status == SendStatus.ACCEPTED and one.channel_message_id
    again = adapter.send_direct(idempotency_key="notice:2", recipient=Recipient(address=openid), content=content)
    assert again == result and sent_in_sim() == 1
    body = json.loads(sim.store.conn().execute("SELECT body FROM oa_template_msgs").fetchone()[0])
    assert body == {"touser": openid, "template_id": "TPL-notice", "data": {"content": {"value": "您的订单已发货"}},
                    "url": "https://example.com/o/1", "client_msg_id": body["client_msg_id"]}  # fmt: skip
    assert len(body["client_msg_id"]) == 32

    # The delivery report comes back as TEMPLATESENDJOBFINISH.
    assert all(row["status"] == "delivered" for row in deliver())
    drain()
    send = TemplateSend.objects.in_org(actor).get(msgid=one.channel_message_id)
    assert send.status == "success" and send.reported_at is not None

    # An unfollowed recipient is unreachable without a call; an unknown openid is refused by the platform.
    actions.unfollow_oa(sim.sim, openid=openid)
    assert all(row["status"] == "delivered" for row in deliver())
    drain()
    gone = adapter.broadcast(idempotency_key="notice:3", recipients=[Recipient(address=openid)], content=content)
    assert [(r.status, r.code) for r in gone.results] == [(SendStatus.UNREACHABLE, "unsubscribed")]
    assert sent_in_sim() == 1


def test_a_broadcast_uses_one_client_for_all_its_recipients_on_the_shared_pool(org, account, sim, deliver, drain,
                                                                          monkeypatch):
    actor = Actor.system(org.pk)
    openids = [actions.follow_oa(sim.sim, name=name)["openid"] for name in ("李雷", "韩梅梅", "张伟")]
    assert all(row["status"] == "delivered" for row in deliver())
    drain()
    ensure_default_purposes(actor=actor)
    for openid in openids:
        record_consent(actor=actor, profile=follower(org, openid).profile, purpose="marketing", granted=True,
                       source="test", channel="official_account")  # fmt: skip
    built = []

    def counting_client_for(acc):
        built.append(accounts.client_for(acc))
        return built[-1]

    monkeypatch.setattr(adapter_module, "client_for", counting_client_for)
    result = registry.adapter("official_account", org_id=org.pk).broadcast(
        idempotency_key="notice:many", recipients=[Recipient(address=o) for o in openids],
        content=MessageContent(text="周末活动"))  # fmt: skip
    assert [r.status for r in result.results] == [SendStatus.ACCEPTED] * 3
    # One client for the send, on the process's one connection pool (shared with WeCom), left open for others.
    assert len(built) == 1 and built[0]._http is shared_http() and not built[0]._http.is_closed


def test_an_expired_token_is_refreshed_once_mid_run(org, account, sim, deliver, drain):
    actor = Actor.system(org.pk)
    qrcodes.create_qr_code(actor=actor, account_pk=account.pk, data={"name": "A", "permanent": True})
    issued = lambda: sim.store.conn().execute("SELECT COUNT(*) FROM access_tokens").fetchone()[0]  # noqa: E731
    before = issued()
    sim.store.advance_clock(7300)  # the simulator's token expired; our cache still holds it
    code = qrcodes.create_qr_code(actor=actor, account_pk=account.pk, data={"name": "B", "permanent": True})
    assert code.ticket and code.expires_at is None
    assert issued() == before + 1


def test_sync_contacts_pages_the_followers(org, account, sim):
    for n in range(3):
        actions.follow_oa(sim.sim, name=f"粉丝{n}")
    page = registry.adapter("official_account", org_id=org.pk, account=account.appid).sync_contacts()
    assert len(page.contacts) == 3 and page.next_cursor is None
    assert wait_until(lambda: True)


def test_the_simulator_verifies_the_callback_url_like_the_platform(account, sim, sim_oa):
    oa = sim.store.one("SELECT * FROM oa_accounts WHERE appid = ?", sim_oa.appid)
    assert delivery.verify_oa_callback_url(oa, now=sim.sim.now(), timeout=60) == (True, "ok")
    state.set_oa_callback_url(sim.store, sim_oa.appid, oa["callback_url"].replace(account.callback_key, "wrong"))
    oa = sim.store.one("SELECT * FROM oa_accounts WHERE appid = ?", sim_oa.appid)
    assert delivery.verify_oa_callback_url(oa, now=sim.sim.now(), timeout=60) == (False, "HTTP 404")
