"""The same batch replayed 10 times at once (PostgreSQL, real HTTP): every event is stored exactly once, and
concurrent workers process the batches without double work."""

from __future__ import annotations

import threading

import httpx
import pytest
from django.db import connection
from ingest_support import basic, track

from siyu.cdp.ingest import processing
from siyu.cdp.models import Event, EventBatch, EventDedup, EventRollup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent writers")


def test_ten_concurrent_replays_store_every_event_once(live_server, write_key):
    body = {"batch": [track(i, user=f"u{i % 7}") for i in range(100)]}
    start = threading.Barrier(10)
    answers = []

    def replay():
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            start.wait()
            r = http.post("/v1/batch", json=body, headers={"Authorization": basic(write_key)})
            answers.append((r.status_code, r.json()["stored"], r.json()["duplicates"]))

    threads = [threading.Thread(target=replay) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [(200, 0, 100)] * 9 + [(200, 100, 0)]
    assert EventDedup.objects.count() == 100
    payload = [e["messageId"] for b in EventBatch.objects.all() for e in b.payload]
    assert sorted(payload) == sorted(f"m-{i}" for i in range(100))


def test_concurrent_workers_process_each_batch_once(live_server, write_key):
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        for n in range(20):
            batch = [track(n * 10 + i, user=f"u{(n + i) % 5}") for i in range(10)]
            assert http.post("/v1/batch", json={"batch": batch},
                             headers={"Authorization": basic(write_key)}).status_code == 200
    done = []

    def work():
        try:
            done.append(processing.process_pending(linger_seconds=0, limit=2))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == 200
    assert Event.objects.count() == 200
    assert sum(EventRollup.objects.values_list("count", flat=True)) == 200
    assert EventBatch.objects.filter(processed_at__isnull=True).count() == 0
