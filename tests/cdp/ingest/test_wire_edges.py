"""Edges of the fast wire path (orjson parsing, the bracket-count shortcut of the depth check): what the
standard library parser let through or rounded is refused or kept exact, and nothing partial is stored."""

from __future__ import annotations

import json

from ingest_support import track

from siyu.cdp.models import EventBatch, EventDedup


def stored_events():
    return [e for b in EventBatch.objects.order_by("id") for e in b.payload]


def _nest(depth: int) -> str:
    return '{"n":' * depth + "1" + "}" * depth


def test_integers_beyond_64_bits_are_stored_exactly(post, write_key):
    big = 123456789012345678901234567890
    body = json.dumps({"batch": [track(1, properties={"big": big, "neg": -(2**70), "price": 12.5})]}).encode()
    r = post("/v1/batch", None, key=write_key, raw=body)
    assert r.status_code == 200, r.content
    (event,) = stored_events()
    assert event["properties"] == {"big": big, "neg": -(2**70), "price": 12.5}


def test_nan_and_lone_surrogates_are_malformed_and_store_nothing(post, write_key):
    for raw in (b'{"batch": [{"type": "track", "event": "E", "userId": "u", "properties": {"x": NaN}}]}',
                b'{"batch": [{"type": "track", "event": "E", "userId": "u\\ud800"}]}'):
        r = post("/v1/batch", None, key=write_key, raw=raw)
        assert r.status_code == 400 and r.json()["code"] == "malformed_json", raw
    assert EventBatch.objects.count() == 0 and EventDedup.objects.count() == 0


def test_depth_limit_is_exact_at_the_boundary(post, write_key):
    # The event object is level 1: 31 nested objects under "properties" make 32 levels (allowed), 32 make 33.
    ok = '{"type":"track","event":"E","userId":"u","messageId":"ok","properties":' + _nest(31) + "}"
    deep = '{"type":"track","event":"E","userId":"u","messageId":"deep","properties":' + _nest(32) + "}"
    r = post("/v1/batch", None, key=write_key, raw=('{"batch":[' + ok + "," + deep + "]}").encode())
    assert r.status_code == 200, r.content
    assert r.json()["rejected"] == [{"index": 1, "messageId": "deep", "reason": "too_deep",
                                     "message": "the event nests deeper than 32 levels"}]
    assert [e["messageId"] for e in stored_events()] == ["ok"]


def test_events_nested_past_the_encoders_limits_get_a_reason(post, write_key):
    # 300 levels: parsed (orjson reads up to 1,024) but past orjson's encoder (254); 1,000: near both limits.
    events = [f'{{"type":"track","event":"E","userId":"u","messageId":"d{n}","properties":{_nest(n)}}}'
              for n in (300, 1000)]
    r = post("/v1/batch", None, key=write_key, raw=('{"batch":[' + ",".join(events) + "]}").encode())
    assert r.status_code == 400 and r.json()["code"] == "invalid_events"
    assert [(e["messageId"], e["reason"]) for e in r.json()["errors"]] == [("d300", "too_deep"),
                                                                          ("d1000", "too_deep")]
    assert EventBatch.objects.count() == 0 and EventDedup.objects.count() == 0


def test_a_batch_context_nested_too_deeply_is_refused_whole(post, write_key):
    raw = ('{"context":' + _nest(32) + ',"batch":[' + json.dumps(track(1)) + "]}").encode()
    r = post("/v1/batch", None, key=write_key, raw=raw)
    assert r.status_code == 400 and r.json()["code"] == "too_deep"
    assert EventBatch.objects.count() == 0 and EventDedup.objects.count() == 0


def test_many_brackets_inside_strings_are_not_depth(post, write_key):
    r = post("/v1/batch", {"batch": [track(1, properties={"text": "[{" * 100})]}, key=write_key)
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert stored_events()[0]["properties"]["text"] == "[{" * 100


def test_batch_context_is_merged_under_each_events_own(post, write_key):
    body = {"context": {"ip": "10.0.0.1", "locale": "zh-CN"},
            "batch": [track(1, context={"locale": "en-US"}), track(2)]}
    r = post("/v1/batch", body, key=write_key)
    assert r.status_code == 200 and r.json()["stored"] == 2
    assert [e["context"] for e in stored_events()] == [{"ip": "10.0.0.1", "locale": "en-US"},
                                                       {"ip": "10.0.0.1", "locale": "zh-CN"}]


def test_a_huge_float_is_kept_as_a_number(post, write_key):
    r = post("/v1/batch", {"batch": [track(1, properties={"f": 1.5e30})]}, key=write_key)
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert float(stored_events()[0]["properties"]["f"]) == 1.5e30  # PostgreSQL's jsonb gives it back as numeric


def test_nul_characters_get_a_reason_instead_of_a_database_error(post, write_key):
    batch = [track(1, properties={"note": "a\x00b"}), track(2, properties={"note": "literal \\u0000 text"})]
    r = post("/v1/batch", {"batch": batch}, key=write_key)
    assert r.status_code == 200, r.content
    assert [(e["messageId"], e["reason"]) for e in r.json()["rejected"]] == [("m-1", "invalid_field")]
    assert [e["properties"]["note"] for e in stored_events()] == ["literal \\u0000 text"]
