"""Group commit of single-event requests: concurrent requests share one transaction, each is answered once
with its own result, only after the commit, and a failed commit acknowledges nothing and stores nothing."""

from __future__ import annotations

import threading

import httpx
import pytest
from django.db import DatabaseError
from ingest_support import basic

from siyu.cdp.ingest import committer, writer
from siyu.cdp.ingest.sources import source_for_key
from siyu.cdp.ingest.validation import validate_events
from siyu.cdp.models import EventBatch, EventDedup
from siyu.kernel import clock

pytestmark = pytest.mark.django_db(transaction=True)


def stored_ids():
    return sorted(e["messageId"] for b in EventBatch.objects.all() for e in b.payload)


def part(source, mid, user="u1"):
    accepted, rejected = validate_events([{"type": "track", "event": "E", "userId": user, "messageId": mid}])
    assert not rejected
    return writer.Part(source, accepted, clock.now())


def submit_all(c, parts):
    """Submit every part from its own thread at the same moment; returns results (or errors) in order."""
    start = threading.Barrier(len(parts))
    out: list = [None] * len(parts)

    def go(i):
        start.wait()
        try:
            out[i] = c.submit(parts[i])
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.fixture
def make_committer():
    made = []

    def make(window_seconds=0.2):
        c = committer.Committer(window_seconds)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_concurrent_requests_share_a_commit_and_each_is_answered_once(write_key, make_committer):
    source = source_for_key(write_key)
    c = make_committer()
    results = submit_all(c, [part(source, f"g{i}", user=f"u{i}") for i in range(20)])
    assert [(r.stored, r.duplicates) for r in results] == [(1, 0)] * 20
    assert c.groups < 20  # grouped: fewer transactions than requests
    assert stored_ids() == sorted(f"g{i}" for i in range(20))  # committed: visible to another connection
    assert EventDedup.objects.count() == 20
    # every request points at the batch row that holds its event
    for r in results:
        assert r.batch_id in set(EventBatch.objects.values_list("id", flat=True))


def test_the_same_message_id_in_one_group_is_stored_once(write_key, make_committer):
    source = source_for_key(write_key)
    c = make_committer()
    results = submit_all(c, [part(source, "same") for _ in range(5)])
    assert sorted((r.stored, r.duplicates) for r in results) == [(0, 1)] * 4 + [(1, 0)]
    assert stored_ids() == ["same"]
    # and a later replay is a duplicate too
    assert c.submit(part(source, "same")).duplicates == 1
    assert stored_ids() == ["same"]


def test_a_failed_commit_acknowledges_nothing_and_stores_nothing(write_key, make_committer, monkeypatch):
    source = source_for_key(write_key)
    c = make_committer()
    real = writer.payload_text

    def crash(events):  # the database refuses the batch row after the dedup rows were written: all rolls back
        return "[not json"

    monkeypatch.setattr(writer, "payload_text", crash)
    results = submit_all(c, [part(source, f"c{i}") for i in range(6)])
    assert all(isinstance(r, DatabaseError) for r in results)
    assert EventBatch.objects.count() == 0 and EventDedup.objects.count() == 0
    monkeypatch.setattr(writer, "payload_text", real)
    results = submit_all(c, [part(source, f"c{i}") for i in range(6)])  # the clients' retries
    assert [r.stored for r in results] == [1] * 6
    assert stored_ids() == [f"c{i}" for i in range(6)]


def test_one_bad_request_fails_alone(write_key, make_committer, monkeypatch):
    source = source_for_key(write_key)
    c = make_committer()
    real = writer.payload_text

    def picky(events):  # a value the database refuses, in one request's event only
        return "[not json" if any(b'"bad"' in e for e in events) else real(events)

    monkeypatch.setattr(writer, "payload_text", picky)
    results = submit_all(c, [part(source, "bad")] + [part(source, f"ok{i}") for i in range(5)])
    assert isinstance(results[0], DatabaseError)
    assert [r.stored for r in results[1:]] == [1] * 5
    assert stored_ids() == [f"ok{i}" for i in range(5)]
    assert not EventDedup.objects.filter(message_id="bad").exists()  # its dedup row rolled back with it


def test_track_over_http_goes_through_the_committer(live_server, write_key):
    committer.shutdown()
    try:
        start = threading.Barrier(8)
        answers = []

        def send(i):
            with httpx.Client(base_url=live_server.url, timeout=30) as http:
                start.wait()
                r = http.post("/v1/track", json={"userId": f"u{i}", "event": "E", "messageId": f"h{i % 4}"},
                              headers={"Authorization": basic(write_key)})
                answers.append((r.status_code, r.json()["stored"] + r.json()["duplicates"]))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [(200, 1)] * 8
        assert committer.committer().groups >= 1
        assert stored_ids() == ["h0", "h1", "h2", "h3"]  # four message ids, each sent twice, stored once
    finally:
        committer.shutdown()
