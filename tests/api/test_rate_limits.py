"""Per-credential rate limits: a fixed one-minute window in the shared cache, 429 with Retry-After."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.test import Client

from siyu.kernel import ratelimit

URL = "/api/v1/things"
START = dt.datetime(2026, 3, 1, 9, 0, 15, tzinfo=dt.UTC)  # 15 s into a window: 45 s left


@time_machine.travel(START, tick=False)
def test_the_limit_answers_429_with_retry_after_until_the_window_ends(key_client, settings):
    settings.SIYU_API_RATE_PER_MINUTE = 3
    seen = [key_client.get(URL) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    assert {r["X-RateLimit-Limit"] for r in seen} == {"3"}
    assert {r["X-RateLimit-Reset"] for r in seen} == {"45"}
    refused = key_client.get(URL)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused.json() == {"code": "rate_limited", "message": "more than 3 requests a minute", "fields": {}}
    # writes are refused too, and run nothing
    assert key_client.post(URL, {"name": "x"}, content_type="application/json").status_code == 429
    with time_machine.travel(START + dt.timedelta(seconds=45), tick=False):
        again = key_client.get(URL)
        assert again.status_code == 200
        assert again["X-RateLimit-Remaining"] == "2"
        assert again["X-RateLimit-Reset"] == "60"


@time_machine.travel(START, tick=False)
def test_an_api_key_may_carry_its_own_limit(key_client, settings):
    settings.SIYU_API_RATE_PER_MINUTE = 100
    key_client.api_key.rate_per_minute = 1
    key_client.api_key.save(update_fields=["rate_per_minute"])
    assert key_client.get(URL).status_code == 200
    r = key_client.get(URL)
    assert r.status_code == 429
    assert r["X-RateLimit-Limit"] == "1"


@time_machine.travel(START, tick=False)
def test_limits_are_per_credential(org, key_client, settings):
    from siyu.iam import services as iam
    from siyu.kernel.actor import Actor

    settings.SIYU_API_RATE_PER_MINUTE = 1
    _, raw = iam.issue_api_key(actor=Actor.system(org.pk), name="other", scopes=["*"])
    other = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert key_client.get(URL).status_code == 200
    assert key_client.get(URL).status_code == 429
    assert other.get(URL).status_code == 200


def test_requests_without_a_credential_are_not_counted(conventions_urls, db, settings):
    settings.SIYU_API_RATE_PER_MINUTE = 1
    anonymous = Client()
    for _ in range(3):
        r = anonymous.get(URL)
        assert r.status_code == 401
        assert "X-RateLimit-Limit" not in r


@time_machine.travel(START, tick=False)
def test_the_counter_is_shared_through_the_cache(db):
    # Two "processes" are two calls here: what counts is that the state lives in the cache, not in memory.
    decisions = [ratelimit.hit("apikey:test-shared", 2) for _ in range(3)]
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 1), (True, 0), (False, 0)]
    from django.core.cache import cache

    assert cache.get(f"siyu:ratelimit:apikey:test-shared:{int(START.timestamp()) // 60}") == 3


def test_a_broken_cache_lets_requests_through(db, monkeypatch):
    def broken(key):
        raise ConnectionError("cache down")

    monkeypatch.setattr(ratelimit, "_increment", broken)
    decision = ratelimit.hit("apikey:broken", 5)
    assert (decision.allowed, decision.limit, decision.remaining) == (True, 5, 5)


def test_an_api_key_is_looked_up_once_per_request(key_client, settings):
    """The rate limiter (middleware) and ninja's auth both need the key: one query for it, not two or three."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.SIYU_API_RATE_PER_MINUTE = 100
    key_client.get(URL)  # last_used_at is written on the first use; measure a steady-state request
    with CaptureQueriesContext(connection) as seen:
        assert key_client.get(URL).status_code == 200
    key_queries = [q["sql"] for q in seen.captured_queries if '"iam_apikey"' in q["sql"]]
    assert len(key_queries) == 1, key_queries
