"""Idempotency-Key on API writes: replay, conflict while in flight, mismatch, 5xx not kept, expiry, purge."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client

from siyu.kernel import clock, idempotency, tasks
from siyu.kernel.models import IdempotencyRecord

URL = "/api/v1/things"


def post(client, body, key=None, url=URL, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers, **extra)


@time_machine.travel(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False)
def test_repeat_returns_the_stored_response_and_runs_the_handler_once(key_client, count_effects):
    first = post(key_client, {"name": "alpha"}, key="k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    second = post(key_client, {"name": "alpha"}, key="k-1")
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert count_effects() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.owner, record.key, record.method, record.path, record.status_code) == (
        f"apikey:{key_client.api_key.pk}", "k-1", "POST", URL, 201,
    )
    assert record.expires_at - record.created_at == dt.timedelta(hours=24)


def test_without_a_key_every_request_runs(key_client, count_effects):
    assert post(key_client, {"name": "a"}).status_code == 201
    assert post(key_client, {"name": "a"}).status_code == 201
    assert count_effects() == 2
    assert IdempotencyRecord.objects.count() == 0


def test_same_key_with_another_body_is_422_and_runs_nothing(key_client, count_effects):
    assert post(key_client, {"name": "alpha"}, key="k-2").status_code == 201
    r = post(key_client, {"name": "beta"}, key="k-2")
    assert r.status_code == 422
    assert r.json() == {
        "code": "idempotency_key_reused",
        "message": "this Idempotency-Key was used for a different request",
        "fields": {"Idempotency-Key": ["already used with another method, path or body"]},
    }
    assert count_effects() == 1


def test_same_key_on_another_path_is_422(key_client, count_effects):
    assert post(key_client, {"name": "alpha"}, key="k-3").status_code == 201
    r = post(key_client, {"name": "alpha"}, key="k-3", url=f"{URL}?fail=false")
    assert r.status_code == 422
    assert count_effects() == 1


def test_keys_belong_to_one_credential(org, key_client, count_effects):
    from siyu.iam import services as iam
    from siyu.kernel.actor import Actor

    _, raw = iam.issue_api_key(actor=Actor.system(org.pk), name="second", scopes=["*"])
    other = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert post(key_client, {"name": "alpha"}, key="shared").status_code == 201
    r = post(other, {"name": "alpha"}, key="shared")
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r
    assert count_effects() == 2


def test_a_request_in_flight_makes_the_repeat_409(key_client, count_effects):
    # The placeholder a running request left (status still null), as another worker would see it.
    IdempotencyRecord.objects.create(
        owner=f"apikey:{key_client.api_key.pk}", key="k-4", method="POST", path=URL,
        request_hash=idempotency.request_hash("POST", URL, json.dumps({"name": "alpha"}).encode()),
        expires_at=clock.now() + dt.timedelta(hours=24),
    )
    r = post(key_client, {"name": "alpha"}, key="k-4")
    assert r.status_code == 409
    assert r.json()["code"] == "idempotency_in_flight"
    assert count_effects() == 0


def test_server_errors_are_not_kept_so_the_client_may_retry(key_client, count_effects):
    r = post(key_client, {"name": "alpha"}, key="k-5", url=f"{URL}?fail=true")
    assert r.status_code == 500
    assert r.json()["code"] == "server_error"
    assert IdempotencyRecord.objects.count() == 0
    # a retry with the same key and request runs again (and fails again: nothing stored either time)
    r = post(key_client, {"name": "alpha"}, key="k-5", url=f"{URL}?fail=true")
    assert r.status_code == 500
    assert count_effects() == 0


def test_validation_errors_are_kept(key_client, count_effects):
    first = post(key_client, {"name": ""}, key="k-6")
    assert first.status_code == 422
    again = post(key_client, {"name": ""}, key="k-6")
    assert again.status_code == 422
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


def test_unauthenticated_writes_keep_nothing(conventions_urls, db, count_effects):
    r = post(Client(HTTP_AUTHORIZATION="Bearer siyu_not-a-real-key-at-all-000000"), {"name": "a"}, key="k-7")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
    assert IdempotencyRecord.objects.count() == 0
    assert count_effects() == 0


@pytest.mark.parametrize("bad", ["", "x" * 256, "has space", "naïve"])
def test_malformed_keys_are_422(key_client, count_effects, bad):
    r = post(key_client, {"name": "alpha"}, key=bad)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_invalid"
    assert count_effects() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_an_expired_key_may_be_used_again_and_purge_removes_expired(key_client, count_effects):
    with time_machine.travel(clock.now(), tick=False) as traveller:
        assert post(key_client, {"name": "alpha"}, key="k-8").status_code == 201
        assert post(key_client, {"name": "gamma"}, key="k-9").status_code == 201
        traveller.shift(dt.timedelta(hours=23, minutes=59))
        assert post(key_client, {"name": "alpha"}, key="k-8")["Idempotent-Replayed"] == "true"
        assert idempotency.purge_expired() == 0
        traveller.shift(dt.timedelta(minutes=2))
        r = post(key_client, {"name": "beta"}, key="k-8")  # expired: a fresh request, not a mismatch
        assert r.status_code == 201
        assert "Idempotent-Replayed" not in r
        assert count_effects() == 3
        assert tasks.purge_idempotency_keys.call_local() == 1  # the hourly task: k-9 went; k-8 is the fresh one
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k-8"]


def test_the_ttl_never_drops_below_24_hours(settings):
    settings.SIYU_IDEMPOTENCY_TTL_HOURS = 1
    assert idempotency.ttl() == dt.timedelta(hours=24)
    settings.SIYU_IDEMPOTENCY_TTL_HOURS = 72
    assert idempotency.ttl() == dt.timedelta(hours=72)


def test_sessions_key_per_person_and_organisation(conventions_urls, admin_membership, login_client, count_effects):
    client = login_client(admin_membership)
    client.raise_request_exception = False
    first = post(client, {"name": "alpha"}, key="s-1")
    assert first.status_code == 201, first.content
    again = post(client, {"name": "alpha"}, key="s-1")
    assert again["Idempotent-Replayed"] == "true"
    assert count_effects() == 1
    assert IdempotencyRecord.objects.get().owner == f"user:{admin_membership.user_id}:org:{admin_membership.org_id}"


def test_a_forged_session_write_is_never_replayed(conventions_urls, admin_membership, login_client, count_effects):
    client = login_client(admin_membership)
    assert post(client, {"name": "alpha"}, key="s-2").status_code == 201
    forged = login_client(admin_membership)
    forged.handler.enforce_csrf_checks = True  # a cross-site form post carries the cookie but no CSRF token
    r = post(forged, {"name": "alpha"}, key="s-2")
    assert r.status_code == 403
    assert "Idempotent-Replayed" not in r
    assert count_effects() == 1


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the real concurrent case runs on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_repeat_is_409_while_the_first_runs_on_postgres(key_client, count_effects, gates, new_gate):
    gate = gates.setdefault("slow", new_gate())
    results: dict[str, object] = {}

    def first():
        try:
            results["first"] = post(key_client, {"name": "slow"}, key="c-1")
        finally:
            connection.close()

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert gate.entered.wait(20), "the first request never reached its handler"
        # The first request is inside its handler, its own transaction still open; its placeholder is
        # committed and visible to this (separate) connection.
        assert IdempotencyRecord.objects.filter(key="c-1", status_code__isnull=True).count() == 1
        repeat = post(key_client, {"name": "slow"}, key="c-1")
        assert repeat.status_code == 409
        assert repeat.json()["code"] == "idempotency_in_flight"
    finally:
        gate.release.set()
        worker.join(30)
    assert results["first"].status_code == 201
    replay = post(key_client, {"name": "slow"}, key="c-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.content == results["first"].content
    assert count_effects() == 1
