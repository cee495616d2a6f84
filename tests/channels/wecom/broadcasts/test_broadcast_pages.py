"""The broadcast console: list, new (validation per field, nothing written), detail with the per-employee chart
data, policy, and refusals (no permission: 403, another organisation's broadcast: 404), changing nothing."""

from __future__ import annotations

import pytest

from siyu.cdp.segments import services as segments
from siyu.channels.wecom import corps
from siyu.channels.wecom.broadcasts.models import Broadcast, BroadcastPolicy
from siyu.channels.wecom.testing import AES_KEY, API_BASE, TOKEN
from siyu.kernel.actor import Actor
from siyu.kernel.models import ScheduledAction

pytestmark = pytest.mark.django_db


@pytest.fixture
def corp(org):
    return corps.add_corp(actor=Actor.system(org.pk), data={
        "corp_id": "wwpages", "secret": "s" * 20, "callback_token": TOKEN, "encoding_aes_key": AES_KEY,
        "api_base": API_BASE, "name": "示例企业"})


@pytest.fixture
def segment(admin_actor):
    return segments.create_segment(actor=admin_actor, name="所有人", rules={"op": "and", "rules": []})


def test_new_broadcast_validates_then_schedules(org, admin_membership, login_client, corp, segment):
    client = login_client(admin_membership)
    assert client.get("/channels/wecom/broadcasts/").status_code == 200
    assert client.get("/channels/wecom/broadcasts/new/").status_code == 200
    bad = client.post("/channels/wecom/broadcasts/new/", {"name": "", "text": "x" * 4001, "corp_id": corp.pk,
                                                           "segment_id": segment.pk})
    assert bad.status_code == 422
    assert b"name" in bad.content and b"4000" in bad.content
    assert not Broadcast.objects.exists()
    ok = client.post("/channels/wecom/broadcasts/new/", {"name": "双十一", "text": "你好", "corp_id": corp.pk,
                                                          "segment_id": segment.pk})
    assert ok.status_code == 302, ok.content.decode()[-3000:]
    broadcast = Broadcast.objects.get()
    assert broadcast.snapshot.segment_id == segment.pk
    assert ScheduledAction.objects.filter(key=f"wecom.broadcast:{broadcast.pk}:plan").exists()
    page = client.get(f"/channels/wecom/broadcasts/{broadcast.pk}/")
    assert page.status_code == 200 and "双十一" in page.content.decode()
    data = client.get(f"/channels/wecom/broadcasts/{broadcast.pk}/employees.json").json()
    assert data["employees"] == [] and [s["key"] for s in data["series"]][0] == "sent"
    assert client.post(f"/channels/wecom/broadcasts/{broadcast.pk}/cancel/").status_code == 302
    broadcast.refresh_from_db()
    assert broadcast.status == "cancelled"
    assert ScheduledAction.objects.get(key=f"wecom.broadcast:{broadcast.pk}:plan").cancelled_at is not None


def test_policy_form(org, admin_membership, login_client):
    client = login_client(admin_membership)
    assert client.get("/channels/wecom/broadcasts/policy/").status_code == 200
    bad = client.post("/channels/wecom/broadcasts/policy/", {"max_per_window": "0", "window_days": "x",
                                                              "wecom_rule": "nope"})
    assert bad.status_code == 422
    assert not BroadcastPolicy.objects.exists()  # nothing written: reads show the defaults
    ok = client.post("/channels/wecom/broadcasts/policy/", {"max_per_window": "3", "window_days": "30",
                                                             "wecom_rule": "day_1"})
    assert ok.status_code == 302
    policy = BroadcastPolicy.objects.get()
    assert (policy.max_per_window, policy.window_days, policy.wecom_rule) == (3, 30, "day_1")


def test_refusals_change_nothing(org, make_org, make_member, login_client, corp, segment, admin_actor):
    from siyu.channels.wecom.broadcasts import services

    broadcast = services.create_broadcast(actor=admin_actor, data={"name": "a", "text": "b", "corp_id": corp.pk,
                                                                   "segment_id": segment.pk})
    reader = make_member(org, "reader@acme.example", permissions=("channels.broadcast.read",))
    client = login_client(reader)
    assert client.get(f"/channels/wecom/broadcasts/{broadcast.pk}/").status_code == 200
    assert client.post(f"/channels/wecom/broadcasts/{broadcast.pk}/cancel/").status_code == 403
    assert client.post("/channels/wecom/broadcasts/policy/", {"max_per_window": "9", "window_days": "9",
                                                               "wecom_rule": "day_1"}).status_code == 403
    other = make_org("Other")
    outsider = login_client(other)
    assert outsider.get(f"/channels/wecom/broadcasts/{broadcast.pk}/").status_code == 404
    assert outsider.post(f"/channels/wecom/broadcasts/{broadcast.pk}/cancel/").status_code == 404
    broadcast.refresh_from_db()
    assert broadcast.status == "scheduled"
    assert not BroadcastPolicy.objects.filter(max_per_window=9).exists()
