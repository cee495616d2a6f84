"""The real Segment Python client (segment-analytics-python) against a live server: the same wire format the
other SDKs use, with gzip on and off, in sync mode and through the client's own queue and flush."""

from __future__ import annotations

import datetime as dt

import pytest
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import APIError

from siyu.cdp.ingest import processing
from siyu.cdp.models import Event, EventBatch, Identity, Profile

pytestmark = pytest.mark.django_db(transaction=True)


def _calls(client):
    at = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
    client.identify("user-1", {"name": "王芳", "email": "wf@example.cn", "plan": "pro"}, timestamp=at,
                    message_id="c-identify")
    client.track("user-1", "Product Viewed", {"sku": "SKU1"}, timestamp=at, message_id="c-track")
    client.page("user-1", "Docs", "Install", {"url": "/docs"}, timestamp=at, message_id="c-page")
    client.screen("user-1", "App", "Cart", timestamp=at, message_id="c-screen")
    client.group("user-1", "company-9", {"size": 10}, timestamp=at, message_id="c-group")
    client.track(anonymous_id="anon-7", event="Article Read", timestamp=at, message_id="c-anon")
    client.alias("anon-7", "user-1", timestamp=at, message_id="c-alias")


@pytest.mark.parametrize("gzip", [False, True])
@pytest.mark.parametrize("sync_mode", [True, False])
def test_the_segment_client_delivers_every_call(live_server, write_key, gzip, sync_mode):
    errors = []
    client = SegmentClient(write_key, host=live_server.url, gzip=gzip, sync_mode=sync_mode, max_retries=0,
                           on_error=lambda e, batch: errors.append(e), upload_interval=0.05)
    _calls(client)
    if not sync_mode:
        client.flush()
        client.join()
    assert errors == []
    payload = [e for b in EventBatch.objects.order_by("id") for e in b.payload]
    assert sorted(e["messageId"] for e in payload) == sorted(
        ["c-identify", "c-track", "c-page", "c-screen", "c-group", "c-anon", "c-alias"])
    assert {e["context"]["library"]["name"] for e in payload} == {"analytics-python"}
    assert processing.process_pending(linger_seconds=0) == 7
    user = Identity.objects.get(type="user_id").profile
    assert Profile.objects.get(pk=user.pk).name == "王芳"
    assert Event.objects.filter(profile_id=user.pk).count() == 7  # anon-7 was folded in by the alias
    names = sorted(Event.objects.exclude(name="").values_list("type", "name"))
    assert names == [("page", "Install"), ("screen", "Cart"), ("track", "Article Read"), ("track", "Product Viewed")]


def test_the_client_sees_a_clear_error_for_a_wrong_key(live_server, write_key):
    client = SegmentClient("wk" + "0" * 30, host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as exc:
        client.track("u", "E")
    assert exc.value.status == 401 and exc.value.code == "invalid_write_key"
    assert EventBatch.objects.count() == 0


def test_a_replay_from_the_client_is_stored_once(live_server, write_key):
    client = SegmentClient(write_key, host=live_server.url, sync_mode=True, gzip=True)
    for _ in range(3):
        client.track("u", "Clicked", message_id="same-id")
    assert [b.payload[0]["messageId"] for b in EventBatch.objects.all()] == ["same-id"]
