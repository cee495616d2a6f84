"""Customer groups, group live codes and transfers end to end over real HTTP against the simulator.

The simulator runs in-process on a loopback port; Siyu's client calls it over HTTP. Its callbacks (signed and
encrypted by the simulator) land on a tiny recorder and are replayed, byte for byte, into Siyu's callback endpoint
with Django's test client, so the database stays in the test's transaction."""

from __future__ import annotations

import datetime as dt
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest
import time_machine
from django.test import Client

from siyu.cdp.models import Identity, TimelineEntry
from siyu.channels.errors import ChannelError
from siyu.channels.wecom import corps, grouplivecodes, groups, sync, tasks, transfers
from siyu.channels.wecom.models import (
    DeletedBy,
    ExternalContact,
    FollowRelation,
    GroupChat,
    GroupLiveCode,
    GroupMember,
    GroupMemberEvent,
    Transfer,
)
from siyu.channels.wecom.simulator import actions, state
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.server import SimServer
from siyu.channels.wecom.simulator.store import Store
from siyu.kernel import outbox
from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed

FAST = dict(callback_timeout=2.0, retry_delays=(0.2, 0.2, 0.2), tick_interval=0.1, dispatcher_threads=1)


class Recorder:
    """Answers the simulator's callbacks with 200 and keeps them for replay."""

    def __init__(self):
        self.requests: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder.lock:
                    recorder.requests.append((urlsplit(self.path).query, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/wecom/callback/x/"

    def take(self, n: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.requests) < n:
            time.sleep(0.02)
        with self.lock:
            taken, self.requests = self.requests[:], []
        assert len(taken) >= n, f"expected {n} callbacks, got {len(taken)}"
        return taken


@pytest.fixture
def recorder():
    rec = Recorder()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def sim(tmp_path):
    server = SimServer(store=Store(tmp_path / "sim.sqlite3"), config=SimConfig(**FAST, group_qr_capacity=2), port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def creds(sim, recorder):
    c = state.create_corp(sim.store, name="测试企业", corp_id="wwgroups00000001", callback_url=recorder.url)
    for userid, name in (("zhangsan", "张三"), ("lisi", "李四"), ("wangwu", "王五")):
        state.add_employee(sim.store, c.corp_id, userid=userid, name=name, department=[1])
    return c


@pytest.fixture
def corp(org, sim, creds):
    corp = corps.add_corp(actor=Actor.system(org.pk), data={
        "corp_id": creds.corp_id, "secret": creds.contact_secret, "callback_token": creds.token,
        "encoding_aes_key": creds.aes_key, "api_base": sim.api_base, "name": "测试企业"})
    sync.sync_employees(corp)
    return corp


@pytest.fixture
def relay(corp, recorder):
    """Replay the next ``n`` callbacks into Siyu (``twice`` sends each one again, as a WeCom retry would) and
    process them."""
    client = Client()

    def run(n: int, *, twice: bool = False) -> None:
        for query, body in recorder.take(n):
            for _ in range(2 if twice else 1):
                answer = client.post(f"{corps.callback_path(corp)}?{query}", data=body, content_type="text/xml")
                assert answer.status_code == 200, answer.content
        while outbox.dispatch_pending():
            pass

    return run


def _members(group):
    return {m.userid: m for m in GroupMember.objects.filter(group=group)}


def test_group_callbacks_members_profiles_and_statistics(sim, creds, corp, relay):
    made = actions.create_group(sim.sim, corp_id=creds.corp_id, owner="zhangsan", name="VIP 客户群")
    chat = made["chat_id"]
    joined = actions.join_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, name="王小明")
    relay(2, twice=True)  # create + add_member, each delivered twice

    group = GroupChat.objects.get(corp=corp, chat_id=chat)
    assert (group.name, group.owner.userid, group.member_count, group.external_count) == ("VIP 客户群", "zhangsan", 2, 1)
    member = _members(group)[joined["external_userid"]]
    assert member.type == 2 and member.join_scene == 3 and member.left_at is None
    contact = member.external_contact
    assert contact.name == "王小明" and contact.profile_id is not None
    assert sorted(Identity.objects.filter(profile_id=contact.profile_id).values_list("type", "namespace")) == [
        ("unionid", ""), ("wecom_external_userid", creds.corp_id)]
    assert TimelineEntry.objects.filter(profile_id=contact.profile_id, kind="wecom.group_joined").count() == 1

    actions.leave_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, external_userid=joined["external_userid"])
    actions.change_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, name="VIP 二群")
    relay(2)
    group.refresh_from_db()
    member.refresh_from_db()
    assert group.name == "VIP 二群" and group.member_count == 1 and group.external_count == 0
    assert member.left_at is not None and member.quit_scene == 0
    assert TimelineEntry.objects.filter(profile_id=contact.profile_id, kind="wecom.group_left").count() == 1
    assert GroupMemberEvent.objects.filter(group=group).count() == 3  # owner and customer joined, customer left

    series = groups.stats_series(group, days=7)
    assert series["joins"][-1] == 2 and series["quits"][-1] == 1 and series["members"][-1] == 1
    assert series["members"][-2] == 0  # nobody was in the group yesterday

    actions.change_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, owner="lisi")
    relay(1)
    group.refresh_from_db()
    assert group.owner.userid == "lisi" and group.member_count == 2

    actions.change_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, dismiss=True)
    relay(1)
    group.refresh_from_db()
    assert group.dismissed_at is not None and group.member_count == 0
    assert GroupMember.objects.filter(group=group, left_at__isnull=True).count() == 0


def test_join_and_quit_processed_in_reverse_order_still_count(sim, creds, corp, recorder, relay):
    chat = actions.create_group(sim.sim, corp_id=creds.corp_id, owner="zhangsan", name="乱序群")["chat_id"]
    relay(1)
    joined = actions.join_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, name="过客")
    actions.leave_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, external_userid=joined["external_userid"])
    pending = recorder.take(2)
    recorder.requests[:0] = list(reversed(pending))  # the quit arrives before the join
    relay(2)
    group = GroupChat.objects.get(chat_id=chat)
    member = GroupMember.objects.get(group=group, userid=joined["external_userid"])
    assert member.left_at is not None and group.member_count == 1
    kinds = sorted(GroupMemberEvent.objects.filter(group=group, userid=member.userid).values_list("kind", flat=True))
    assert kinds == ["join", "quit"]


def test_full_sync_repairs_missed_group_callbacks(sim, creds, corp, recorder):
    first = actions.create_group(sim.sim, corp_id=creds.corp_id, owner="zhangsan", name="一群")["chat_id"]
    second = actions.create_group(sim.sim, corp_id=creds.corp_id, owner="lisi", name="二群")["chat_id"]
    for name in ("甲", "乙"):
        actions.join_group(sim.sim, corp_id=creds.corp_id, chat_id=first, name=name)
    recorder.take(4)  # every callback is lost

    counts = groups.sync_groups(corp)
    assert counts == {"groups": 2, "added": 2, "updated": 0, "dismissed": 0}
    assert GroupChat.objects.get(chat_id=first).member_count == 3
    assert GroupChat.objects.get(chat_id=second).external_count == 0
    assert ExternalContact.objects.filter(corp=corp, profile__isnull=False).count() == 2

    actions.change_group(sim.sim, corp_id=creds.corp_id, chat_id=second, dismiss=True)
    recorder.take(1)
    again = groups.sync_groups(corp)
    assert again["dismissed"] == 1 and again["updated"] == 1
    assert GroupMemberEvent.objects.filter(group__chat_id=first, kind="join").count() == 3  # nothing counted twice


def test_group_live_code_routes_scanners_to_groups_with_room(org, sim, creds, corp, relay, recorder):
    system = Actor.system(org.pk)
    chats = [actions.create_group(sim.sim, corp_id=creds.corp_id, owner="zhangsan", name=n)["chat_id"]
             for n in ("福利1群", "福利2群")]
    recorder.take(2)
    groups.sync_groups(corp)
    with pytest.raises(ValidationFailed) as refused:
        grouplivecodes.create_group_code(actor=system, corp_pk=corp.pk, data={
            "name": "海报", "chat_ids": chats + ["wrnope"], "auto_create_room": True})
    assert set(refused.value.fields) == {"chat_ids", "room_base_name"}

    code = grouplivecodes.create_group_code(actor=system, corp_pk=corp.pk, data={
        "name": "海报", "state": "poster-group", "chat_ids": chats, "capacity": 2, "auto_create_room": True,
        "room_base_name": "福利新群"})
    assert code.config_id and code.qr_code and code.current_chat_ids == chats

    page = httpx.get(sim.url + "/").text
    assert "poster-group" in page
    scanned = httpx.post(sim.url + "/sim/action/scan_group_code", data={"corp_id": creds.corp_id,
                                                                        "code": code.config_id, "name": "客户甲"})
    assert scanned.status_code in (200, 303) and "refused" not in scanned.text
    relay(1)
    first = GroupChat.objects.get(chat_id=chats[0])
    assert first.member_count == 2
    # the route job the callback queued: the first group is full, WeCom now lists only the second
    assert tasks.route_group_codes.call_local(org.pk, first.pk) == 1
    code.refresh_from_db()
    assert code.current_chat_ids == [chats[1]]
    way = corps.client_for(corp).get_join_way(config_id=code.config_id)["join_way"]
    assert way["chat_id_list"] == [chats[1]] and way["state"] == "poster-group"

    second = actions.scan_group_code(sim.sim, corp_id=creds.corp_id, code="poster-group", name="客户乙")
    assert second["chat_id"] == chats[1]
    relay(1)
    grouplivecodes.route(code)
    assert code.current_chat_ids == [chats[1]]  # all full: the last stays, WeCom opens a new group after it

    third = actions.scan_group_code(sim.sim, corp_id=creds.corp_id, code="poster-group", name="客户丙")
    assert third["chat_id"] not in chats
    relay(2)  # create + add_member
    grouplivecodes.route(code)
    opened = GroupChat.objects.get(chat_id=third["chat_id"])
    assert opened.name == "福利新群1" and opened.member_count == 2
    assert code.chat_ids == [*chats, third["chat_id"]] and code.current_chat_ids == [third["chat_id"]]
    assert groups.joins_by_state(corp, ["poster-group"]) == {"poster-group": 3}

    grouplivecodes.delete_group_code(actor=system, code_pk=code.pk)
    code.refresh_from_db()
    assert not code.is_active
    with pytest.raises(ChannelError):  # the join way is gone in WeCom too (41040)
        corps.client_for(corp).get_join_way(config_id=code.config_id)


@pytest.fixture
def customer(sim, creds, corp, relay):
    corps.client_for(corp).add_contact_way(type=1, scene=2, state="tr", user=["zhangsan"])
    added = actions.scan(sim.sim, state="tr", name="转接客户", corp_id=creds.corp_id)
    relay(1)
    return added["external_userid"]


@pytest.fixture
def later():
    """``later()`` moves every clock of the process (Siyu's and the simulator's threads) 24 h and a few seconds
    on: the takeover is due, and the simulator's callbacks are signed with a time Siyu accepts."""
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        yield lambda: traveller.shift(dt.timedelta(hours=24, seconds=5))


def _relation(userid, external):
    return FollowRelation.objects.get(employee__userid=userid, external_contact__external_userid=external)


def test_on_job_transfer_moves_the_customer_after_the_takeover(org, sim, creds, corp, relay, customer, later):
    system = Actor.system(org.pk)
    [transfer] = transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
        "kind": "onjob", "handover": "zhangsan", "takeover": "lisi", "external_userids": [customer],
        "message": "您好，我是新的服务顾问"})
    assert transfer.status == Transfer.Status.WAITING and transfer.errcode == 0
    assert transfers.poll_results(corp) == 0  # WeCom hands over after 24 h
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.WAITING and transfer.checked_at is not None

    later()
    assert transfers.poll_results(corp) == 1
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.DONE and transfer.takeover_at is not None
    old, new = _relation("zhangsan", customer), _relation("lisi", customer)
    assert old.deleted and old.deleted_by == DeletedBy.TRANSFER
    assert not new.deleted and new.announced
    profile_id = new.external_contact.profile_id
    assert TimelineEntry.objects.filter(profile_id=profile_id, kind="wecom.transferred").count() == 1

    relay(2)  # WeCom's own del_external_contact (DELETE_BY_TRANSFER) and add_external_contact change nothing more
    assert FollowRelation.objects.filter(external_contact__external_userid=customer, deleted=False).count() == 1
    assert TimelineEntry.objects.filter(profile_id=profile_id, kind="wecom.contact_added").count() == 2

    # a second transfer is allowed; a third inside 90 days is refused before WeCom is asked
    [second] = transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
        "handover": "lisi", "takeover": "wangwu", "external_userids": [customer]})
    later()
    transfers.poll_results(corp)
    second.refresh_from_db()
    assert second.status == Transfer.Status.DONE and not _relation("wangwu", customer).deleted
    with pytest.raises(ValidationFailed) as refused:
        transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
            "handover": "wangwu", "takeover": "zhangsan", "external_userids": [customer]})
    assert "twice in the last 90 days" in refused.value.fields["external_userids.0"][0]
    assert Transfer.objects.filter(external_contact__external_userid=customer).count() == 2


def test_refused_transfer_and_rules_checked_before_wecom(org, sim, creds, corp, relay, customer):
    system = Actor.system(org.pk)
    with pytest.raises(ValidationFailed) as refused:
        transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
            "kind": "resigned", "handover": "zhangsan", "takeover": "zhangsan", "external_userids": [customer, "wmx"],
            "message": "x" * 201})
    assert set(refused.value.fields) == {"takeover", "handover", "message", "external_userids.1"}
    with pytest.raises(ValidationFailed) as not_followed:
        transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
            "handover": "lisi", "takeover": "wangwu", "external_userids": [customer]})
    assert "does not follow" in not_followed.value.fields["external_userids.0"][0]
    assert not Transfer.objects.exists()

    [transfer] = transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
        "handover": "zhangsan", "takeover": "lisi", "external_userids": [customer]})
    with pytest.raises(ValidationFailed) as waiting:
        transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
            "handover": "zhangsan", "takeover": "wangwu", "external_userids": [customer]})
    assert "already waiting" in waiting.value.fields["external_userids.0"][0]
    actions.refuse_transfer(sim.sim, corp_id=creds.corp_id, external_userid=customer)
    relay(1)  # transfer_fail (customer_refused)
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.REFUSED
    assert not _relation("zhangsan", customer).deleted


def test_resigned_inheritance(org, sim, creds, corp, relay, customer, later):
    system = Actor.system(org.pk)
    actions.resign(sim.sim, corp_id=creds.corp_id, userid="zhangsan")
    relay(1)
    sync.sync_employees(corp)
    [transfer] = transfers.start_transfer(actor=system, corp_pk=corp.pk, data={
        "kind": "resigned", "handover": "zhangsan", "takeover": "wangwu", "external_userids": [customer]})
    assert transfer.status == Transfer.Status.WAITING
    later()
    assert tasks.poll_transfers.call_local() == 1  # the periodic poll
    assert not _relation("wangwu", customer).deleted
    assert _relation("zhangsan", customer).deleted


def test_console_pages_start_a_transfer_and_refuse_outsiders(org, sim, creds, corp, relay, customer, recorder,
                                                             login_client, admin_membership, make_member, make_org):
    admin = login_client(admin_membership)
    chat = actions.create_group(sim.sim, corp_id=creds.corp_id, owner="zhangsan", name="页面群")["chat_id"]
    actions.join_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, external_userid=customer)
    relay(2)
    group = GroupChat.objects.get(chat_id=chat)
    made = admin.post("/channels/wecom/group-codes/new/", {"name": "页面码", "chat_ids": [chat], "capacity": "50"})
    assert made.status_code == 302
    bad = admin.post("/channels/wecom/group-codes/new/", {"name": "", "chat_ids": []})
    assert bad.status_code == 422 and "chat_ids" in bad.content.decode()
    for url in ("/channels/wecom/groups/", f"/channels/wecom/groups/{group.pk}/", "/channels/wecom/group-codes/",
                "/channels/wecom/group-codes/new/", "/channels/wecom/transfers/",
                "/channels/wecom/transfers/?handover=zhangsan"):
        assert admin.get(url).status_code == 200, url
    stats = admin.get(f"/channels/wecom/groups/{group.pk}/stats.json").json()
    assert stats["joins"][-1] == 2 and stats["members"][-1] == 2
    assert "页面码" in admin.get("/channels/wecom/group-codes/").content.decode()
    code = GroupLiveCode.objects.get(name="页面码")
    png = admin.get(f"/channels/wecom/group-codes/{code.pk}/qr.png?download=1")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG") and "group-code" in png["Content-Disposition"]
    assert b"<svg" in admin.get(f"/channels/wecom/group-codes/{code.pk}/qr.svg").content

    refused = admin.post("/channels/wecom/transfers/", {"corp": corp.pk, "action": "start", "handover": "zhangsan",
                                                        "takeover": "zhangsan", "external_userids": [customer]})
    assert refused.status_code == 422 and not Transfer.objects.exists()
    started = admin.post("/channels/wecom/transfers/", {"corp": corp.pk, "action": "start", "handover": "zhangsan",
                                                        "takeover": "lisi", "external_userids": [customer]})
    assert started.status_code == 302 and Transfer.objects.get().status == Transfer.Status.WAITING
    assert admin.post("/channels/wecom/transfers/", {"corp": corp.pk, "action": "poll"}).status_code == 302
    assert "李四" in admin.get("/channels/wecom/transfers/").content.decode()

    reader = login_client(make_member(org, "reader@acme.example", permissions=["channels.wecom.read",
                                                                                "channels.livecode.read"]))
    assert reader.get(f"/channels/wecom/groups/{group.pk}/").status_code == 200
    assert reader.post("/channels/wecom/transfers/", {"corp": corp.pk, "action": "start", "handover": "zhangsan",
                                                      "takeover": "wangwu",
                                                      "external_userids": [customer]}).status_code == 403
    assert reader.post("/channels/wecom/group-codes/new/", {"name": "x", "chat_ids": [chat]}).status_code == 403
    other = login_client(make_org("Other Co"))
    assert other.get(f"/channels/wecom/groups/{group.pk}/").status_code == 404
    assert other.get(f"/channels/wecom/groups/{group.pk}/stats.json").status_code == 404
    assert other.get(f"/channels/wecom/group-codes/{code.pk}/qr.png").status_code == 404
    assert Transfer.objects.count() == 1


def test_api_groups_codes_and_transfers(org, sim, creds, corp, relay, customer, api_client, make_org):
    import json

    base = "/api/v1/channels/wecom"
    client = api_client(org)

    def post(c, url, body):
        return c.post(base + url, data=json.dumps(body), content_type="application/json")

    chat = actions.create_group(sim.sim, corp_id=creds.corp_id, owner="zhangsan", name="接口群")["chat_id"]
    actions.join_group(sim.sim, corp_id=creds.corp_id, chat_id=chat, external_userid=customer)
    relay(2)
    listed = client.get(base + "/groups").json()["items"]
    assert [(g["chat_id"], g["member_count"], g["external_count"]) for g in listed] == [(chat, 2, 1)]
    gid = listed[0]["id"]
    assert client.get(base + f"/groups/{gid}/stats?days=3").json()["joins"] == [0, 0, 2]

    bad = post(client, "/group-codes", {"corp": corp.pk, "name": "码", "chat_ids": []})
    assert bad.status_code == 422 and "chat_ids" in bad.json()["fields"]
    made = post(client, "/group-codes", {"corp": corp.pk, "name": "码", "chat_ids": [chat]})
    assert made.status_code == 201 and made.json()["current_chat_ids"] == [chat]

    refused = post(client, "/transfers", {"corp": corp.pk, "handover": "zhangsan", "takeover": "lisi",
                                          "external_userids": [customer, "wmunknown"]})
    assert refused.status_code == 422 and "external_userids.1" in refused.json()["fields"]
    started = post(client, "/transfers", {"corp": corp.pk, "handover": "zhangsan", "takeover": "lisi",
                                          "external_userids": [customer]})
    assert started.status_code == 201 and started.json()[0]["status"] == "waiting"
    assert post(client, f"/corps/{corp.pk}/transfers/poll", {}).json() == {"settled": 0}
    assert [t["external_userid"] for t in client.get(base + "/transfers").json()] == [customer]

    reader = api_client(org, scopes=["channels.wecom.read"])
    assert post(reader, "/transfers", {"corp": corp.pk, "handover": "zhangsan", "takeover": "wangwu",
                                       "external_userids": [customer]}).status_code == 403
    other = api_client(make_org("Other Co").org)
    assert other.get(base + f"/groups/{gid}/stats").status_code == 404
    assert other.get(base + "/transfers").json() == []
    assert post(other, f"/corps/{corp.pk}/transfers/poll", {}).status_code == 404
