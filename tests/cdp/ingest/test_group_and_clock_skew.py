"""``/v1/group`` links people to B2B company accounts, and ``sentAt`` corrects a device's clock skew — driven by
the real Segment Python client (segment-analytics-python) against a live server, as the other SDKs send."""

from __future__ import annotations

import datetime as dt

import pytest
from segment.analytics import request as segment_request
from segment.analytics.client import Client as SegmentClient

from siyu.cdp import search
from siyu.cdp.identifiers import normalise
from siyu.cdp.ingest import processing
from siyu.cdp.models import Event, EventBatch, Identity, Profile
from siyu.kernel.actor import Actor

pytestmark = pytest.mark.django_db(transaction=True)


def _client(live_server, write_key, **kw):
    errors: list = []
    client = SegmentClient(write_key, host=live_server.url, sync_mode=True, max_retries=0,
                           on_error=lambda e, batch: errors.append(e), **kw)
    return client, errors


def _holder(org_id, type_, value):
    ident = normalise(type_, value)
    return Identity.objects.in_org(Actor.system(org_id)).get(type=type_, value_index=ident.index).profile


def test_group_links_people_to_one_account_that_its_traits_keep_up_to_date(live_server, write_key, org):
    client, errors = _client(live_server, write_key, gzip=True)
    client.identify("u-1", {"name": "王芳", "email": "wf@example.cn"}, message_id="i-1")
    client.group("u-1", "acct-9", {"name": "思域科技有限公司", "industry": "SaaS", "email": "hr@siyu.example"},
                 message_id="g-1")
    client.group("u-2", "acct-9", {"employees": 120}, message_id="g-2")
    client.group("u-3", "acct-7", {"name": "Acme Ltd"}, message_id="g-3")
    assert errors == []
    assert processing.process_pending(linger_seconds=0) == 4
    account = _holder(org.pk, "group_id", "acct-9")
    assert account.kind == "company" and account.name == "思域科技有限公司"
    assert account.traits == {"industry": "SaaS", "employees": 120}  # identifier-like traits are not kept in clear
    u1, u2, u3 = (_holder(org.pk, "user_id", u) for u in ("u-1", "u-2", "u-3"))
    assert (u1.kind, u1.account_id) == ("person", account.pk)
    assert u2.account_id == account.pk
    other = _holder(org.pk, "group_id", "acct-7")
    assert u3.account_id == other.pk and other.name == "Acme Ltd"
    # the events themselves are stored as group events of the people, with their groupId
    assert sorted(Event.objects.filter(type="group").values_list("profile_id", "properties__groupId")) == sorted(
        [(u1.pk, "acct-9"), (u2.pk, "acct-9"), (u3.pk, "acct-7")])
    # later calls update the same account (no second one), and move a person who changed company
    client.group("u-1", "acct-9", {"name": "思域科技", "plan": "enterprise"}, message_id="g-4")
    client.group("u-3", "acct-9", {}, message_id="g-5")
    processing.process_pending(linger_seconds=0)
    assert Profile.objects.filter(kind="company").count() == 2
    account.refresh_from_db()
    assert account.name == "思域科技" and account.traits["plan"] == "enterprise" and account.traits["employees"] == 120
    assert Profile.objects.get(pk=u3.pk).account_id == account.pk
    assert set(Profile.objects.filter(account_id=account.pk).values_list("pk", flat=True)) == {u1.pk, u2.pk, u3.pk}
    # the account's name is searchable at once (SQLite: FTS rows written by the batch)
    found = search.name_matches(Profile.objects.in_org(Actor.system(org.pk)), "思域科技")
    assert list(found.values_list("pk", flat=True)) == [account.pk]


def test_a_device_clock_ahead_or_behind_is_corrected_with_sent_at(live_server, write_key, monkeypatch):
    skew = dt.timedelta(hours=-5)  # the device's clock runs five hours behind

    class DeviceClock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + skew

    monkeypatch.setattr(segment_request, "datetime", DeviceClock)  # the client's sentAt
    client, errors = _client(live_server, write_key, gzip=False)
    device_now = dt.datetime.now(dt.UTC) + skew
    client.track("u-1", "Product Viewed", timestamp=device_now - dt.timedelta(minutes=10), message_id="t-1")
    client.track("u-1", "Order Completed", timestamp=device_now, message_id="t-2")
    assert errors == []
    processing.process_pending(linger_seconds=0)
    by_id = {e.message_id: e for e in Event.objects.all()}
    # timestamp = receivedAt - (sentAt - originalTimestamp): the ten minutes the event waited on the device
    # are kept, the five hours of skew are gone
    for mid, waited in (("t-1", dt.timedelta(minutes=10)), ("t-2", dt.timedelta(0))):
        e = by_id[mid]
        assert abs((e.received_at - e.timestamp) - waited) < dt.timedelta(seconds=5), (mid, e.timestamp,
                                                                                     e.received_at)
    stored = {e["messageId"]: e for b in EventBatch.objects.all() for e in b.payload}
    original = dt.datetime.fromisoformat(stored["t-1"]["originalTimestamp"])
    assert abs(original - (device_now - dt.timedelta(minutes=10))) < dt.timedelta(seconds=1)  # kept as sent


def test_sent_at_rules_over_the_wire(post, write_key):
    """Without sentAt the timestamp is taken as sent; an event's own sentAt wins over the batch's; a bad
    sentAt is a per-event invalid_timestamp; a correction landing more than a day ahead is refused."""
    body = {"sentAt": "2025-03-01T12:00:00Z", "batch": [
        {"type": "track", "event": "A", "userId": "u", "messageId": "a", "timestamp": "2025-03-01T11:00:00Z"},
        {"type": "track", "event": "B", "userId": "u", "messageId": "b", "originalTimestamp": "2025-03-01T11:30:00Z",
         "sentAt": "2025-03-01T11:40:00Z"},
        {"type": "track", "event": "C", "userId": "u", "messageId": "c", "timestamp": "2025-03-01T11:00:00Z",
         "sentAt": "yesterday"},
        {"type": "track", "event": "D", "userId": "u", "messageId": "d", "timestamp": "2025-03-04T12:00:00Z"},
    ]}
    r = post("/v1/batch", body, key=write_key)
    assert r.status_code == 200, r.content
    assert [(x["messageId"], x["reason"]) for x in r.json()["rejected"]] == [("c", "invalid_timestamp"),
                                                                             ("d", "timestamp_in_future")]
    stored = {e["messageId"]: e for b in EventBatch.objects.all() for e in b.payload}
    received = dt.datetime.fromisoformat(stored["a"]["receivedAt"])
    assert dt.datetime.fromisoformat(stored["a"]["timestamp"]) == received - dt.timedelta(hours=1)
    assert dt.datetime.fromisoformat(stored["b"]["timestamp"]) == received - dt.timedelta(minutes=10)
    assert stored["b"]["originalTimestamp"] == "2025-03-01T11:30:00+00:00"
    single = post("/v1/track", {"event": "E", "userId": "u", "messageId": "e", "timestamp": "2020-01-01T00:00:00Z"},
                  key=write_key)
    assert single.status_code == 200, single.content
    stored = {e["messageId"]: e for b in EventBatch.objects.all() for e in b.payload}
    assert stored["e"]["timestamp"] == "2020-01-01T00:00:00+00:00"  # no sentAt: historical import as sent
