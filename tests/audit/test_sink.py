"""The sink appends at the head of the right chain, hashes exactly what it stores, and never forks."""

from __future__ import annotations

import datetime as dt
import decimal
import threading

import pytest
from django.db import connection, connections, transaction

from siyu.audit.chain import GENESIS, entry_hash
from siyu.audit.models import AuditLogEntry
from siyu.audit.verify import verify_chain
from siyu.kernel.auditing import AuditEntry, record

from .conftest import CHAIN, append_n, rows


def test_entries_link_from_genesis_per_organisation(db):
    append_n(CHAIN, 3)
    append_n(CHAIN + 1, 2)
    append_n(CHAIN, 1, start=3)
    a, b = rows(CHAIN), rows(CHAIN + 1)
    assert [e.seq for e in a] == [1, 2, 3, 4]
    assert [e.object_id for e in a] == ["0", "1", "2", "3"]
    assert [e.seq for e in b] == [1, 2]
    assert a[0].prev_hash == GENESIS and b[0].prev_hash == GENESIS
    assert [e.prev_hash for e in a[1:]] == [e.hash for e in a[:-1]]
    assert all(entry_hash(e) == e.hash for e in a + b)


def test_pre_organisation_events_form_their_own_chain(db):
    """``filter(org_id=None)`` is ``IS NULL`` in Django; the NULL chain counts 1, 2, … like any other."""
    for email in ("nobody@example.com", "ghost@example.com"):
        record(AuditEntry(org_id=None, action="login_failed", meta={"email_hash": email[:3]}, ip="203.0.113.9"))
    append_n(CHAIN, 1)
    pre = rows(None)
    assert [(e.seq, e.action) for e in pre] == [(1, "login_failed"), (2, "login_failed")]
    assert pre[1].prev_hash == pre[0].hash
    assert verify_chain(None).intact and verify_chain(None).entries == 2


def test_what_is_hashed_is_what_is_stored(db):
    record(AuditEntry(
        org_id=CHAIN, action="update", object_type="x" * 100, object_id="y" * 100, actor_label="z" * 200,
        changes={"when": [dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)],
                 "amount": [decimal.Decimal("1.50"), (1, 2)]},
        ip="0:0:0:0:0:0:0:1", meta={"n": 1},
    ))
    e = AuditLogEntry.objects.chain(CHAIN).get()
    assert len(e.object_type) == 80 and len(e.object_id) == 80 and len(e.actor_label) == 120
    assert e.changes == {"when": ["2026-01-02", "2026-01-02 03:04:00+00:00"], "amount": ["1.50", [1, 2]]}
    assert e.ip == "::1"
    assert entry_hash(e) == e.hash


def test_bad_ip_is_dropped_not_fatal(db):
    record(AuditEntry(org_id=CHAIN, action="login", ip="not an address"))
    assert AuditLogEntry.objects.chain(CHAIN).get().ip is None


def test_entry_rolls_back_with_the_write_it_describes(db):
    append_n(CHAIN, 1)
    with pytest.raises(RuntimeError), transaction.atomic():
        append_n(CHAIN, 1, start=1)
        raise RuntimeError("the write failed")
    append_n(CHAIN, 1, start=2)
    assert [(e.seq, e.object_id) for e in rows(CHAIN)] == [(1, "0"), (2, "2")]
    assert verify_chain(CHAIN).intact


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_organisation_never_fork():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time (BEGIN IMMEDIATE); the race needs PostgreSQL")
    per_thread, threads = 25, 4
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic():  # each append in its own request-like transaction
                    record(AuditEntry(org_id=CHAIN, action="update", object_id=f"{n}-{i}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    chain = rows(CHAIN)
    assert [e.seq for e in chain] == list(range(1, per_thread * threads + 1))
    assert len({e.object_id for e in chain}) == per_thread * threads
    report = verify_chain(CHAIN)
    assert report.intact and report.entries == per_thread * threads
