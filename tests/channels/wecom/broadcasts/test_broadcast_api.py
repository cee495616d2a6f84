"""The broadcast API (/api/v1/channels/wecom/broadcasts): create with attachments (201, Idempotency-Key replayed,
not run twice), list, one with its counts, cancel while scheduled (then 422), per-field 422 that writes nothing,
permissions (403) and another organisation's broadcast (404, nothing changed)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from siyu.cdp.segments import services as segments
from siyu.channels.wecom import corps
from siyu.channels.wecom.broadcasts.models import Broadcast
from siyu.channels.wecom.testing import AES_KEY, API_BASE, TOKEN
from siyu.kernel.actor import Actor
from siyu.kernel.models import ScheduledAction

pytestmark = pytest.mark.django_db

BASE = "/api/v1/channels/wecom/broadcasts"
LINK = {"kind": "link", "title": "双十一会场", "url": "https://shop.example.com/1111"}
MINI = {"kind": "miniprogram", "title": "会员中心", "appid": "wx1", "page": "pages/index", "picture_media_id": "M1"}


@pytest.fixture
def corp(org):
    return corps.add_corp(actor=Actor.system(org.pk), data={
        "corp_id": "wwbcapi", "secret": "s" * 20, "callback_token": TOKEN, "encoding_aes_key": AES_KEY,
        "api_base": API_BASE, "name": "接口企业"})


@pytest.fixture
def segment(admin_actor):
    return segments.create_segment(actor=admin_actor, name="所有人", rules={"op": "and", "rules": []})


def post(client, url, body=None, **headers):
    return client.post(BASE + url, data=json.dumps(body or {}), content_type="application/json", **headers)


def _body(corp, segment, **over):
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    return {"name": "双十一", "corp_id": corp.pk, "segment_id": segment.pk, "text": "会员专享",
            "attachments": [LINK, MINI], "scheduled_at": later, **over}


def test_create_list_detail_cancel(api_client, org, corp, segment):
    client = api_client(org)
    request = _body(corp, segment)
    made = post(client, "", request, HTTP_IDEMPOTENCY_KEY="bc-1")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["status"] == "scheduled" and body["attachments"] == [LINK, MINI]
    assert body["counts"]["planned"] == 0
    again = post(client, "", request, HTTP_IDEMPOTENCY_KEY="bc-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == body["id"] and Broadcast.objects.count() == 1  # not created twice
    listed = client.get(BASE).json()
    assert [b["id"] for b in listed["items"]] == [body["id"]] and listed["items"][0]["counts"] is None
    one = client.get(f"{BASE}/{body['id']}").json()
    assert one["text"] == "会员专享" and one["snapshot_id"] == Broadcast.objects.get().snapshot_id
    assert client.get(f"{BASE}/{body['id']}/employees").json() == []
    cancelled = post(client, f"/{body['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert ScheduledAction.objects.get(key=f"wecom.broadcast:{body['id']}:plan").cancelled_at is not None
    late = post(client, f"/{body['id']}/cancel")
    assert late.status_code == 422 and list(late.json()["fields"]) == ["status"]


def test_bad_input_is_refused_per_field_and_writes_nothing(api_client, org, corp, segment):
    client = api_client(org)
    bad = post(client, "", _body(corp, segment, text="", attachments=[
        {"kind": "image", "url": "ftp://x.example/a.png"}, {"kind": "link", "title": "t", "url": ""},
        {"kind": "miniprogram", "title": "m" * 65, "appid": "wx1", "page": "p"}]))
    assert bad.status_code == 422, bad.content
    assert set(bad.json()["fields"]) == {"attachments[0].url", "attachments[1].url", "attachments[2].title",
                                         "attachments[2].picture_media_id"}
    unknown = post(client, "", _body(corp, segment, attachments=[{"kind": "video", "url": "https://v.example"}]))
    assert unknown.status_code == 422
    too_many = post(client, "", _body(corp, segment, attachments=[LINK] * 10))
    assert too_many.status_code == 422
    other_corp = post(client, "", _body(corp, segment, corp_id=corp.pk + 1000))
    assert other_corp.status_code == 422 and "corp_id" in other_corp.json()["fields"]
    assert not Broadcast.objects.exists() and not ScheduledAction.objects.exists()


def test_refusals_change_nothing(api_client, org, make_org, corp, segment, admin_actor):
    from siyu.channels.wecom.broadcasts import services

    broadcast = services.create_broadcast(actor=admin_actor, data={
        "name": "a", "text": "b", "corp_id": corp.pk, "segment_id": segment.pk,
        "scheduled_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()})
    reader = api_client(org, scopes=("channels.broadcast.read",))
    assert reader.get(f"{BASE}/{broadcast.pk}").status_code == 200
    assert post(reader, f"/{broadcast.pk}/cancel").status_code == 403
    assert post(reader, "", _body(corp, segment)).status_code == 403
    stranger = api_client(make_org("Other").org)
    assert stranger.get(BASE).json()["items"] == []
    for url in (f"{BASE}/{broadcast.pk}", f"{BASE}/{broadcast.pk}/employees"):
        assert stranger.get(url).status_code == 404
    assert post(stranger, f"/{broadcast.pk}/cancel").status_code == 404
    broadcast.refresh_from_db()
    assert broadcast.status == "scheduled" and Broadcast.objects.count() == 1
