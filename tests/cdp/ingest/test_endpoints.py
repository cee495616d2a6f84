"""Raw HTTP against /v1/*: accepted shapes, per-event reasons, and every bad input with its 4xx and nothing
stored."""

from __future__ import annotations

import gzip
import json

import pytest
from ingest_support import basic, track

from siyu.cdp.ingest import overload
from siyu.cdp.ingest.config import MAX_BATCH_BYTES
from siyu.cdp.models import EventBatch, EventDedup


def stored_events():
    return [e for b in EventBatch.objects.order_by("id") for e in b.payload]


def nothing_stored():
    return EventBatch.objects.count() == 0 and EventDedup.objects.count() == 0


def test_batch_with_basic_auth_is_committed_before_the_answer(post, write_key):
    r = post("/v1/batch", {"batch": [track(1), track(2)]}, key=write_key)
    assert r.status_code == 200, r.content
    assert r.json() == {"success": True, "accepted": 2, "stored": 2, "duplicates": 0, "rejected": []}
    events = stored_events()
    assert [e["messageId"] for e in events] == ["m-1", "m-2"]
    assert events[0]["timestamp"] == "2025-03-01T10:00:00+00:00"
    assert events[0]["type"] == "track" and events[0]["userId"] == "u1"
    assert EventDedup.objects.count() == 2


def test_write_key_in_the_body_and_gzip(post, write_key):
    r = post("/v1/batch", {"writeKey": write_key, "batch": [track(1)]}, gz=True)
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert "writeKey" not in stored_events()[0]


@pytest.mark.parametrize("kind,body", [
    ("track", {"event": "Signed Up", "userId": "u1"}),
    ("identify", {"userId": "u1", "traits": {"name": "李雷"}}),
    ("page", {"anonymousId": "a1", "name": "Home"}),
    ("screen", {"anonymousId": "a1", "name": "Cart"}),
    ("group", {"userId": "u1", "groupId": "g1"}),
    ("alias", {"userId": "u1", "previousId": "a1"}),
])
def test_single_event_endpoints_set_the_type(post, write_key, kind, body):
    r = post(f"/v1/{kind}", body, key=write_key)
    assert r.status_code == 200, r.content
    (event,) = stored_events()
    assert event["type"] == kind
    assert event["messageId"].startswith("srv-")  # none given: the server names it


def test_invalid_events_get_a_reason_each_and_valid_ones_are_kept(post, write_key):
    batch = [
        track(1),
        {"type": "track", "userId": "u1", "messageId": "no-name"},
        {"type": "track", "event": "X", "messageId": "no-id"},
        {"type": "bogus", "userId": "u1", "messageId": "bad-type"},
        track(2, timestamp="yesterday"),
        track(3, properties=["not", "an", "object"]),
        "not an object",
        track(4, properties={"blob": "x" * 33_000}),
        track(5, properties=_nested(40)),
        track(6, userId="u\x00"),
        {"type": "alias", "userId": "u1", "messageId": "alias-no-prev"},
        track(1),  # the same messageId again inside the request
    ]
    r = post("/v1/batch", {"batch": batch}, key=write_key)
    assert r.status_code == 200
    body = r.json()
    assert body["stored"] == 1 and body["duplicates"] == 1
    reasons = [(e["index"], e["messageId"], e["reason"]) for e in body["rejected"]]
    assert reasons == [
        (1, "no-name", "missing_event"),
        (2, "no-id", "missing_identity"),
        (3, "bad-type", "invalid_type"),
        (4, "m-2", "invalid_timestamp"),
        (5, "m-3", "invalid_field"),
        (6, None, "not_an_object"),
        (7, "m-4", "event_too_large"),
        (8, "m-5", "too_deep"),
        (9, "m-6", "invalid_id"),
        (10, "alias-no-prev", "missing_previous_id"),
    ]
    assert all(e["message"] for e in body["rejected"])
    assert [e["messageId"] for e in stored_events()] == ["m-1"]


def _nested(depth):
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


def _error(r, status, code):
    assert r.status_code == status, r.content
    body = r.json()
    assert body["code"] == code and body["message"]
    assert isinstance(body["errors"], list)
    return body


def test_unknown_or_missing_write_key_is_401(post, write_key):
    _error(post("/v1/batch", {"batch": [track(1)]}, key="wk0000000000000000nope"), 401, "invalid_write_key")
    _error(post("/v1/batch", {"batch": [track(1)]}), 401, "invalid_write_key")
    _error(post("/v1/batch", {"batch": [track(1)], "writeKey": write_key[:-4] + ("BBBB" if write_key.endswith("AAAA") else "AAAA")}), 401, "invalid_write_key")
    assert nothing_stored()


def test_inactive_source_is_refused(post, write_key):
    from siyu.cdp.models import Source

    Source.objects.unscoped_all_orgs().update(is_active=False)
    _error(post("/v1/batch", {"batch": [track(1)]}, key=write_key), 401, "invalid_write_key")


def test_malformed_json_is_400(post, write_key):
    _error(post("/v1/batch", None, key=write_key, raw=b'{"batch": [}'), 400, "malformed_json")
    _error(post("/v1/batch", None, key=write_key, raw=b"\xff\xfe{}"), 400, "malformed_json")
    _error(post("/v1/batch", None, key=write_key, raw=b"[1, 2]"), 400, "invalid_body")
    _error(post("/v1/batch", {"batch": {"type": "track"}}, key=write_key), 400, "invalid_body")
    assert nothing_stored()


def test_wrong_gzip_is_400(post, write_key):
    headers = {"HTTP_CONTENT_ENCODING": "gzip"}
    _error(post("/v1/batch", None, key=write_key, raw=b'{"batch": []}', headers=headers), 400, "invalid_gzip")
    whole = gzip.compress(json.dumps({"batch": [track(1)]}).encode())
    _error(post("/v1/batch", None, key=write_key, raw=whole[:-6], headers=headers), 400, "invalid_gzip")
    _error(post("/v1/batch", None, key=write_key, raw=whole + b"junk", headers=headers), 400, "invalid_gzip")
    _error(post("/v1/batch", {"batch": []}, key=write_key, headers={"HTTP_CONTENT_ENCODING": "br"}), 415,
           "unsupported_encoding")
    assert nothing_stored()


def test_decompression_bomb_is_refused_without_inflating_it(post, write_key):
    bomb = gzip.compress(b'{"batch": [' + b" " * (50 * 1024 * 1024) + b"]}")
    assert len(bomb) < 100_000
    _error(post("/v1/batch", None, key=write_key, raw=bomb, headers={"HTTP_CONTENT_ENCODING": "gzip"}), 413,
           "body_too_large")
    assert nothing_stored()


def test_oversized_batch_and_event_are_413(post, write_key):
    big = {"batch": [track(i, properties={"p": "x" * 20_000}) for i in range(30)]}
    assert len(json.dumps(big)) > MAX_BATCH_BYTES
    _error(post("/v1/batch", big, key=write_key), 413, "body_too_large")
    _error(post("/v1/track", {"event": "E", "userId": "u", "properties": {"p": "x" * 40_000}}, key=write_key), 413,
           "body_too_large")
    assert nothing_stored()


def test_deeply_nested_json_is_400(post, write_key):
    deep = b'{"batch": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _error(post("/v1/batch", None, key=write_key, raw=deep), 400, "too_deep")
    r = post("/v1/track", {"event": "E", "userId": "u", "properties": _nested(40)}, key=write_key)
    body = _error(r, 400, "invalid_events")
    assert body["errors"] == [{"index": 0, "messageId": None, "reason": "too_deep",
                               "message": "the event nests deeper than 32 levels"}]
    assert nothing_stored()


def test_all_events_invalid_is_400_with_every_reason(post, write_key):
    r = post("/v1/batch", {"batch": [{"type": "track", "userId": "u"}, {"type": "page"}]}, key=write_key)
    body = _error(r, 400, "invalid_events")
    assert [e["reason"] for e in body["errors"]] == ["missing_event", "missing_identity"]
    r = post("/v1/identify", {"type": "track", "userId": "u", "event": "E"}, key=write_key)
    assert _error(r, 400, "invalid_events")["errors"][0]["reason"] == "type_mismatch"
    assert nothing_stored()


def test_get_is_405(db, client, write_key):
    r = client.get("/v1/batch", HTTP_AUTHORIZATION=basic(write_key))
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_replayed_batch_stores_nothing_twice(post, write_key):
    body = {"batch": [track(i) for i in range(5)]}
    assert post("/v1/batch", body, key=write_key).json()["stored"] == 5
    again = post("/v1/batch", body, key=write_key).json()
    assert again == {"success": True, "accepted": 5, "stored": 0, "duplicates": 5, "rejected": []}
    assert EventBatch.objects.count() == 1 and len(stored_events()) == 5


def test_dedup_window_is_seven_days(post, write_key, time_machine):
    import datetime as dt

    time_machine.move_to(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC))
    assert post("/v1/batch", {"batch": [track(1)]}, key=write_key).json()["stored"] == 1
    time_machine.move_to(dt.datetime(2025, 3, 7, 12, tzinfo=dt.UTC))
    assert post("/v1/batch", {"batch": [track(1)]}, key=write_key).json()["stored"] == 0
    time_machine.move_to(dt.datetime(2025, 3, 8, 13, tzinfo=dt.UTC))
    assert post("/v1/batch", {"batch": [track(1)]}, key=write_key).json()["stored"] == 1


def test_backlog_over_the_threshold_is_429_with_retry_after(post, write_key, settings):
    settings.SIYU_INGEST_MAX_BACKLOG_BATCHES = 2
    for i in range(3):
        assert post("/v1/batch", {"batch": [track(i)]}, key=write_key).status_code == 200
        overload.reset()
    r = post("/v1/batch", {"batch": [track(9)]}, key=write_key)
    _error(r, 429, "overloaded")
    assert r["Retry-After"] == "5"
    assert EventBatch.objects.count() == 3


def test_per_source_rate_limit_is_429(post, write_key, settings):
    settings.SIYU_INGEST_SOURCE_EVENTS_PER_SECOND = 3
    assert post("/v1/batch", {"batch": [track(1), track(2)]}, key=write_key).status_code == 200
    r = post("/v1/batch", {"batch": [track(3), track(4)]}, key=write_key)
    _error(r, 429, "rate_limited")
    assert int(r["Retry-After"]) >= 1
    assert len(stored_events()) == 2
