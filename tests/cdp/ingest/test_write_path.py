"""The durable write's shape: on PostgreSQL one statement per request (no BEGIN/COMMIT round trips, no
per-request health check, a dead connection retried once); on both databases the stored batch holds exactly
the new events, in the order sent, when some were duplicates, and a group over several sources stores each
source's events in its own batch row."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from ingest_support import track

from siyu.cdp.ingest import writer
from siyu.cdp.ingest.sources import create_source, source_for_key
from siyu.cdp.ingest.validation import validate_events
from siyu.cdp.models import EventBatch, EventDedup
from siyu.kernel import clock
from siyu.kernel.actor import Actor

pytestmark = pytest.mark.django_db(transaction=True)


def payloads():
    return [[e["messageId"] for e in b.payload] for b in EventBatch.objects.order_by("id")]


def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement write is PostgreSQL's")


def test_a_batch_is_one_statement_without_transaction_round_trips(post, write_key):
    postgres_only()
    assert post("/v1/batch", {"batch": [track(0)]}, key=write_key).status_code == 200  # warms the key cache
    health_checks = []
    real = connection.is_usable
    connection.is_usable = lambda: health_checks.append(1) or real()
    try:
        with CaptureQueriesContext(connection) as queries:
            r = post("/v1/batch", {"batch": [track(i) for i in range(1, 51)]}, key=write_key)
    finally:
        del connection.is_usable
    assert r.status_code == 200 and r.json()["stored"] == 50
    assert connection.health_check_enabled  # so "no SELECT 1" below means something
    assert health_checks == []
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 1 and "cdp_eventdedup" in sql[0] and "cdp_eventbatch" in sql[0], sql
    assert payloads()[-1] == [f"m-{i}" for i in range(1, 51)]


def test_a_dead_connection_is_replaced_and_the_batch_stored_once(post, write_key):
    postgres_only()
    assert post("/v1/batch", {"batch": [track(0)]}, key=write_key).status_code == 200
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    r = post("/v1/batch", {"batch": [track(1), track(2)]}, key=write_key)
    assert r.status_code == 200, r.content
    assert r.json()["stored"] == 2
    assert connection.connection.info.backend_pid != pid
    assert payloads() == [["m-0"], ["m-1", "m-2"]]


def test_partly_replayed_batch_stores_the_new_events_in_order_as_sent(post, write_key):
    assert post("/v1/batch", {"batch": [track(i) for i in (1, 2, 3)]}, key=write_key).json()["stored"] == 3
    again = [track(2), track(4, properties={"note": "新的", "n": 1.5}), track(3), track(5), track(4)]
    r = post("/v1/batch", {"batch": again}, key=write_key).json()
    assert (r["stored"], r["duplicates"]) == (2, 3)
    assert payloads() == [["m-1", "m-2", "m-3"], ["m-4", "m-5"]]
    kept = EventBatch.objects.order_by("id").last().payload[0]
    assert kept["properties"] == {"note": "新的", "n": 1.5}
    assert EventDedup.objects.count() == 5


def test_a_group_over_two_sources_writes_one_row_per_source(org, write_key):
    first = source_for_key(write_key)
    _, other_key = create_source(actor=Actor.system(org.pk), name="app")
    second = source_for_key(other_key)

    def part(source, *mids):
        accepted, _ = validate_events([{"type": "track", "event": "E", "userId": "u", "messageId": m} for m in mids])
        return writer.Part(source, accepted, clock.now())

    writer.write_events(source=first, events=part(first, "old").events)
    results = writer.write_parts([part(first, "a", "old", "b"), part(second, "a", "z"), part(first, "b", "c"),
                                  part(second, "y")])
    assert [(r.stored, r.duplicates) for r in results] == [(2, 1), (2, 0), (1, 1), (1, 0)]
    rows = {b.source_id: [e["messageId"] for e in b.payload] for b in EventBatch.objects.exclude(
        id=EventBatch.objects.order_by("id").first().id)}
    assert rows == {first.id: ["a", "b", "c"], second.id: ["a", "z", "y"]}
    assert results[0].batch_id == results[2].batch_id != results[1].batch_id == results[3].batch_id
