"""Processing off the request path: profiles resolved and updated from events, events on the timeline, and
incremental rollups that equal the full recompute after a mixed workload with merges."""

from __future__ import annotations

import datetime as dt

import pytest
from ingest_support import track

from siyu.audit.models import AuditLogEntry
from siyu.cdp.demo_data import rebuild_rollups
from siyu.cdp.identifiers import normalise
from siyu.cdp.ingest import processing
from siyu.cdp.models import (
    Event,
    EventBatch,
    EventDailyRollup,
    EventRollup,
    Identity,
    Profile,
    ProfileStatus,
    TimelineEntry,
)
from siyu.kernel.actor import Actor


def process():
    return processing.process_pending(linger_seconds=0)


def rollups():
    totals = sorted(EventRollup.objects.values_list("profile_id", "name", "count", "first_at", "last_at"))
    daily = sorted(EventDailyRollup.objects.values_list("profile_id", "name", "day", "count"))
    return totals, daily


def profile_of(org, type_, raw):
    ident = normalise(type_, raw)
    row = Identity.objects.in_org(Actor.system(org.pk)).get(type=ident.type, value_index=ident.index)
    return row.profile


def ts(day, hour, minute=0):
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=dt.UTC).isoformat()


def test_mixed_workload_incremental_rollups_equal_the_full_recompute(org, post, write_key):
    n = iter(range(10_000))

    def ev(kind, **fields):
        return {"type": kind, "messageId": f"x{next(n)}", **fields}

    batches = [
        [ev("page", anonymousId="a1", name="Home", timestamp=ts(1, 15, 59)),
         ev("page", anonymousId="a1", name="Home", timestamp=ts(1, 16, 1)),  # 00:01 on the 2nd in Shanghai
         ev("track", anonymousId="a1", event="Product Viewed", timestamp=ts(1, 17))],
        [ev("identify", userId="uA", anonymousId="a1", timestamp=ts(2, 9),
            traits={"name": "李雷", "phone": "138 1234 5678"}),
         ev("track", userId="uA", event="Product Viewed", timestamp=ts(2, 10)),
         ev("track", anonymousId="a2", event="Product Viewed", timestamp=ts(2, 11)),
         ev("track", anonymousId="a2", event="Coupon Claimed", timestamp=ts(3, 1)),
         ev("track", anonymousId="a3", event="Article Read", timestamp=ts(3, 2)),
         ev("identify", anonymousId="a3", timestamp=ts(3, 3), traits={"email": "lilei@example.cn"})],
    ]
    for b in batches:
        assert post("/v1/batch", {"batch": b}, key=write_key).status_code == 200
    assert process() == 9
    # In one batch: alias folds a2 into uA, identify with a3's e-mail merges a3's profile, and later events of
    # both merged profiles in the same batch land on the survivor.
    last = [
        ev("track", anonymousId="a2", event="Product Viewed", timestamp=ts(4, 8)),
        ev("alias", userId="uA", previousId="a2", timestamp=ts(4, 9)),
        ev("track", anonymousId="a2", event="Product Viewed", timestamp=ts(4, 10)),
        ev("identify", userId="uA", timestamp=ts(4, 11), traits={"email": "LiLei@example.cn"}),
        ev("track", anonymousId="a3", event="Article Read", timestamp=ts(4, 12)),
        ev("track", userId="uB", event="Order Completed", timestamp=ts(5, 12), properties={"revenue": "99.00"}),
        ev("group", userId="uB", groupId="g1", timestamp=ts(5, 13)),
    ]
    assert post("/v1/batch", {"batch": last}, key=write_key).status_code == 200
    assert process() == 7

    a = profile_of(org, "user_id", "uA")
    for type_, raw in (("anonymous_id", "a1"), ("anonymous_id", "a2"), ("anonymous_id", "a3"),
                       ("phone", "13812345678"), ("email", "lilei@example.cn")):
        assert profile_of(org, type_, raw).pk == a.pk
    assert Profile.objects.filter(status=ProfileStatus.MERGED, merged_into_id=a.pk).count() == 2
    assert Event.objects.count() == 16 and not Event.objects.filter(profile_id__isnull=True).exists()
    assert Event.objects.filter(profile_id=a.pk).count() == 14
    a.refresh_from_db()
    assert a.name == "李雷"
    assert a.first_seen_at == dt.datetime(2025, 3, 1, 15, 59, tzinfo=dt.UTC)
    assert a.last_seen_at == dt.datetime(2025, 3, 4, 12, tzinfo=dt.UTC)

    incremental = rollups()
    totals = {(p, name): (c, f, la) for p, name, c, f, la in incremental[0]}
    assert totals[(a.pk, "Product Viewed")] == (5, dt.datetime(2025, 3, 1, 17, tzinfo=dt.UTC),
                                                 dt.datetime(2025, 3, 4, 10, tzinfo=dt.UTC))
    assert totals[(a.pk, "Home")][0] == 2 and totals[(a.pk, "Article Read")][0] == 2
    home_days = sorted((d, c) for p, name, d, c in incremental[1] if name == "Home")
    assert home_days == [(dt.date(2025, 3, 1), 1), (dt.date(2025, 3, 2), 1)]

    rebuild_rollups(org.pk)
    assert rollups() == incremental

    names = sorted(TimelineEntry.objects.filter(profile=a, kind="event").values_list("data__name", flat=True))
    assert names == ["Article Read", "Article Read", "Coupon Claimed", "Home", "Home", "Product Viewed",
                     "Product Viewed", "Product Viewed", "Product Viewed", "Product Viewed"]


def test_identify_traits_update_the_profile_and_identifiers_stay_encrypted(org, post, write_key):
    traits = {"firstName": "梅梅", "lastName": "韩", "gender": "女", "birthday": "1990-05-04",
              "address": {"state": "广东", "city": "深圳"}, "plan": "gold", "email": "mm@example.cn",
              "phone": "+86 139 0000 1111"}
    assert post("/v1/identify", {"userId": "u9", "traits": traits, "context": {"traits": {"mobile": "13900001111"},
                                                                                 "ip": "127.0.0.1"}},
                key=write_key).status_code == 200
    process()
    p = profile_of(org, "user_id", "u9")
    assert (p.name, p.gender, p.birthday, p.province, p.city) == ("韩梅梅", "female", dt.date(1990, 5, 4), "广东",
                                                                  "深圳")
    assert p.traits == {"plan": "gold", "address": {"state": "广东", "city": "深圳"}}
    assert profile_of(org, "phone", "13900001111").pk == p.pk
    assert profile_of(org, "email", "mm@example.cn").pk == p.pk
    event = Event.objects.get()
    assert event.properties == {} and event.context == {"traits": {}, "ip": "127.0.0.1"}
    entry = AuditLogEntry.objects.filter(object_type="cdp.profile", action="update").get()
    assert entry.changes["name"] == ["", "韩**"]
    assert entry.changes["traits.plan"] == [None, "gold"]
    # The same traits again change nothing and write no audit entry.
    post("/v1/identify", {"userId": "u9", "traits": traits}, key=write_key)
    process()
    assert AuditLogEntry.objects.filter(object_type="cdp.profile", action="update").count() == 1


def test_each_batch_is_processed_once_and_a_failure_leaves_no_trace(org, post, write_key, monkeypatch,
                                                                    time_machine):
    time_machine.move_to(dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC))
    post("/v1/batch", {"batch": [track(1), track(2)]}, key=write_key)
    real = processing.process_events

    def boom(**kwargs):
        real(**kwargs)
        raise RuntimeError("worker died mid-batch")

    monkeypatch.setattr(processing, "process_events", boom)
    assert process() == 0
    batch = EventBatch.objects.get()
    assert batch.processed_at is None and batch.attempts == 1 and batch.locked_until is not None
    assert Event.objects.count() == 0 and Profile.objects.count() == 0 and EventRollup.objects.count() == 0
    monkeypatch.setattr(processing, "process_events", real)
    assert process() == 0  # still backing off
    time_machine.move_to(dt.datetime(2025, 3, 10, 12, 1, tzinfo=dt.UTC))
    assert process() == 2
    assert process() == 0
    assert Event.objects.count() == 2 and EventRollup.objects.get().count == 2
    assert EventBatch.objects.get().processed_at is not None


def test_purge_drops_old_dedup_rows_and_processed_batches(org, post, write_key, time_machine):
    from siyu.cdp.models import EventDedup

    time_machine.move_to(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC))
    post("/v1/batch", {"batch": [track(1)]}, key=write_key)
    process()
    time_machine.move_to(dt.datetime(2025, 3, 2, 13, tzinfo=dt.UTC))
    post("/v1/batch", {"batch": [track(2)]}, key=write_key)
    assert processing.purge() == {"dedup": 0, "batches": 1}
    time_machine.move_to(dt.datetime(2025, 3, 8, 12, 30, tzinfo=dt.UTC))
    assert processing.purge() == {"dedup": 1, "batches": 0}
    assert list(EventDedup.objects.values_list("message_id", flat=True)) == ["m-2"]
    assert EventBatch.objects.get().processed_at is None  # unprocessed batches are never purged


@pytest.mark.parametrize("kind,body,timeline", [
    ("page", {"anonymousId": "a", "properties": {"url": "/"}}, 0),  # unnamed page: stored, no timeline entry
    ("screen", {"anonymousId": "a", "name": "Cart"}, 1),
    ("group", {"userId": "u", "groupId": "g", "traits": {"email": "x@example.cn", "size": 3}}, 0),
])
def test_what_reaches_the_timeline(post, write_key, kind, body, timeline):
    post(f"/v1/{kind}", body, key=write_key)
    process()
    assert TimelineEntry.objects.count() == timeline
    event = Event.objects.get()
    if kind == "group":
        assert event.properties == {"groupId": "g", "traits": {"size": 3}}
