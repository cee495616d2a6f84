"""Console pages of the WeCom channel: every page renders for an administrator, forms create and change through
the services (WeCom is the fake API), QR downloads, refusals are 403/404 and change nothing."""

from __future__ import annotations

import time

import pytest

from siyu.channels.wecom import corps, livecodes
from siyu.channels.wecom.models import Corp, LiveCode, LiveCodeDailyStat, SyncRun
from siyu.channels.wecom.testing import AES_KEY, API_BASE, FakeWeCom
from siyu.kernel.actor import Actor


@pytest.fixture
def fake():
    f = FakeWeCom()
    f.add_employee("zhangsan", "张三")
    f.add_employee("lisi", "李四")
    f.add_tag_group("来源", ["海报", "展会"])
    return f


@pytest.fixture
def corp(connect):
    return connect()


@pytest.fixture
def admin(login_client, admin_membership):
    return login_client(admin_membership)


def test_every_page_renders(admin, corp, fake):
    code = livecodes.create_live_code(actor=Actor.system(corp.org_id), corp_pk=corp.pk, data={
        "name": "海报码", "members": [{"userid": "zhangsan"}]})
    for url in ("/channels/wecom/", "/channels/wecom/corps/new/", f"/channels/wecom/corps/{corp.pk}/",
                "/channels/wecom/employees/", "/channels/wecom/contacts/", "/channels/wecom/callbacks/",
                "/channels/wecom/live-codes/", "/channels/wecom/live-codes/new/",
                f"/channels/wecom/live-codes/{code.pk}/", f"/channels/wecom/live-codes/{code.pk}/stats/"):
        r = admin.get(url)
        assert r.status_code == 200, url
    overview = admin.get("/channels/wecom/").content.decode()
    assert corps.callback_path(corp) in overview
    assert "张三" in admin.get("/channels/wecom/employees/").content.decode()


def test_connect_a_corp_from_the_console(admin, org, api):
    r = admin.post("/channels/wecom/corps/new/", {"corp_id": "wwconsole1", "name": "控制台企业", "secret": "s3",
                                                  "callback_token": "tok", "encoding_aes_key": AES_KEY,
                                                  "api_base": API_BASE})
    corp = Corp.objects.get(corp_id="wwconsole1")
    assert r.status_code == 302 and r["Location"] == f"/channels/wecom/corps/{corp.pk}/"
    page = admin.get(r["Location"]).content.decode()
    assert f"http://testserver/wecom/callback/{corp.callback_key}/" in page
    assert "s3" not in page and AES_KEY not in page
    bad = admin.post("/channels/wecom/corps/new/", {"corp_id": "wwconsole2", "secret": "s", "callback_token": "t",
                                                    "encoding_aes_key": "short"})
    assert bad.status_code == 422 and "encoding_aes_key" in bad.content.decode()
    assert not Corp.objects.filter(corp_id="wwconsole2").exists()


def test_create_edit_and_delete_a_live_code_from_the_console(admin, corp, fake):
    zhang = corp.employees.get(userid="zhangsan")
    li = corp.employees.get(userid="lisi")
    tag_id = fake.tag_groups[0]["tag"][0]["id"]
    r = admin.post(f"/channels/wecom/live-codes/new/?corp={corp.pk}", {
        "name": "展会码", "state": "expo-2026", f"use_{zhang.pk}": "on", f"weight_{zhang.pk}": "2",
        f"use_{li.pk}": "on", f"weight_{li.pk}": "1", f"backup_{li.pk}": "on", "weekdays": ["1", "2", "3"],
        "start": "09:00", "end": "18:00", "daily_cap": "20", "tag_ids": [tag_id], "welcome_text": "欢迎光临",
        "link_title": "展位图", "link_url": "https://example.com/map", "channel_label": "展会",
        "skip_verify": "on"})
    code = LiveCode.objects.get(state="expo-2026")
    assert r.status_code == 302 and r["Location"] == f"/channels/wecom/live-codes/{code.pk}/"
    assert (code.daily_cap, code.tag_ids, code.schedule) == (20, [tag_id], {"weekdays": [1, 2, 3], "start": "09:00",
                                                                         "end": "18:00"})
    assert code.welcome == {"text": "欢迎光临", "attachments": [{"kind": "link", "title": "展位图",
                                                             "url": "https://example.com/map", "description": "",
                                                             "picture_url": ""}]}
    assert sorted((m.employee.userid, m.weight, m.is_backup) for m in code.members.all()) == [
        ("lisi", 1, True), ("zhangsan", 2, False)]
    way = fake.contact_ways[code.config_id]
    assert (way["type"], way["scene"], way["state"], way["user"]) == (2, 2, "expo-2026", code.current_users)

    png = admin.get(f"/channels/wecom/live-codes/{code.pk}/qr.png?download=1")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert png["Content-Disposition"] == f'attachment; filename="live-code-{code.pk}.png"'
    svg = admin.get(f"/channels/wecom/live-codes/{code.pk}/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content

    r = admin.post(f"/channels/wecom/live-codes/{code.pk}/", {"name": "展会码2", "state": "expo-2026",
                                                              f"use_{zhang.pk}": "on", "weekdays": ["1"]})
    assert r.status_code == 302
    code.refresh_from_db()
    assert (code.name, code.schedule, code.tag_ids, code.welcome) == ("展会码2", {}, [], {})
    assert fake.contact_ways[code.config_id]["remark"] == "展会码2"

    r = admin.post(f"/channels/wecom/live-codes/{code.pk}/delete/")
    assert r.status_code == 302
    code.refresh_from_db()
    assert (code.is_active, code.config_id in fake.contact_ways) == (False, False)


def test_stats_json_has_the_days(admin, corp):
    code = livecodes.create_live_code(actor=Actor.system(corp.org_id), corp_pk=corp.pk, data={
        "name": "码", "members": [{"userid": "zhangsan"}]})
    today = livecodes.local_now().date()
    LiveCodeDailyStat.objects.create(org_id=corp.org_id, live_code=code, day=today, adds=4, deletions=1, net=3,
                                     retained=3)
    data = admin.get(f"/channels/wecom/live-codes/{code.pk}/stats.json?days=7").json()
    assert data["days"][-1] == today.isoformat() and len(data["days"]) == 7
    assert (data["adds"][-1], data["deletions"][-1], data["net"][-1], data["retention"][-1]) == (4, 1, 3, 75.0)
    assert data["adds"][:-1] == [0] * 6 and data["retention"][:-1] == [None] * 6


def test_sync_button_queues_a_run(admin, corp):
    r = admin.post(f"/channels/wecom/corps/{corp.pk}/sync/", {"kind": "tags"})
    assert r.status_code == 302
    assert list(SyncRun.objects.values_list("kind", "status")) == [("tags", "queued")]


def test_refusals_change_nothing(make_member, login_client, org, corp, make_org):
    reader = make_member(org, "reader@acme.example", permissions=["channels.wecom.read", "channels.livecode.read"])
    client = login_client(reader)
    code = livecodes.create_live_code(actor=Actor.system(org.pk), corp_pk=corp.pk, data={
        "name": "码", "members": [{"userid": "zhangsan"}]})
    assert client.get("/channels/wecom/").status_code == 200
    assert client.get("/channels/wecom/corps/new/").status_code == 403
    assert client.post(f"/channels/wecom/live-codes/{code.pk}/delete/").status_code == 403
    assert client.post(f"/channels/wecom/live-codes/{code.pk}/", {"name": "改"}).status_code == 403
    assert client.post(f"/channels/wecom/corps/{corp.pk}/sync/", {"kind": "tags"}).status_code == 403
    code.refresh_from_db()
    assert (code.name, code.is_active, SyncRun.objects.count()) == ("码", True, 0)
    # another organisation's administrator sees none of it
    other = login_client(make_org("Other Co"))
    assert other.get(f"/channels/wecom/live-codes/{code.pk}/").status_code == 404
    assert other.get(f"/channels/wecom/corps/{corp.pk}/").status_code == 404
    assert other.get(f"/channels/wecom/live-codes/{code.pk}/qr.png").status_code == 404
    assert other.post(f"/channels/wecom/live-codes/{code.pk}/delete/").status_code == 404
    code.refresh_from_db()
    assert code.is_active


def test_callback_log_page_lists_received_callbacks(admin, corp, fake):
    from django.test import Client

    from siyu.channels.wecom.testing import signed_post

    signed_post(Client(), corps.callback_path(corp), fake.scan(state="none", external_userid="woX"),
                corp_id=corp.corp_id, timestamp=int(time.time()))
    page = admin.get("/channels/wecom/callbacks/").content.decode()
    assert "add_external_contact" in page
