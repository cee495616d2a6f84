"""Entries are added only through the sink; the ORM and the database both refuse to change or delete them."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from siyu.audit import triggers
from siyu.audit.models import AppendOnly, AuditCheckpoint, AuditLogEntry
from siyu.kernel import clock

from .conftest import CHAIN, raw, rows


def test_orm_cannot_create_update_or_delete(chain):
    entry = rows(chain)[2]
    before = [(e.pk, e.action, e.hash) for e in rows(chain)]
    with pytest.raises(AppendOnly):
        AuditLogEntry.objects.create(org_id=chain, seq=99, at=clock.now(), action="x", prev_hash="0", hash="0")
    with pytest.raises(AppendOnly):
        AuditLogEntry.objects.bulk_create([AuditLogEntry(org_id=chain, seq=99, at=clock.now(), action="x")])
    entry.action = "delete"
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditLogEntry.objects.chain(chain).update(action="delete")
    with pytest.raises(AppendOnly):
        AuditLogEntry.objects.chain(chain).delete()
    with pytest.raises(AppendOnly):
        AuditLogEntry.objects.filter(pk=entry.pk).update_or_create(pk=entry.pk, defaults={"action": "x"})
    with pytest.raises(AppendOnly):
        AuditLogEntry.objects.bulk_update([entry], ["action"])
    with pytest.raises(AppendOnly):
        entry._append_unsafe()  # an existing row cannot be re-appended either
    assert [(e.pk, e.action, e.hash) for e in rows(chain)] == before


def test_raw_update_is_refused_by_the_database(chain):
    entry = rows(chain)[2]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("UPDATE audit_auditlogentry SET action = 'delete' WHERE id = %s", [entry.pk])
    assert AuditLogEntry.objects.get(pk=entry.pk).action == "update"


def test_raw_delete_is_refused_by_the_database(chain):
    entry = rows(chain)[2]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditlogentry WHERE id = %s", [entry.pk])
    assert AuditLogEntry.objects.filter(pk=entry.pk).exists()
    assert len(rows(chain)) == 6


def test_raw_delete_of_old_entries_needs_a_checkpoint_and_on_postgres_the_purge_switch(old_chain):
    old = rows(old_chain)[0]
    # old enough, but no checkpoint covers it
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditlogentry WHERE id = %s", [old.pk])
    AuditCheckpoint(org_id=old_chain, seq=1, hash=old.hash, at=clock.now(), purged_before=clock.now(),
                    purged_count=1)._append_unsafe()
    young = rows(old_chain)[5]
    # a checkpoint "covering" a young entry does not make it deletable
    AuditCheckpoint(org_id=old_chain, seq=6, hash=young.hash, at=clock.now(), purged_before=clock.now(),
                    purged_count=0)._append_unsafe()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditlogentry WHERE id = %s", [young.pk])
    if connection.vendor == "postgresql":
        # without SET LOCAL siyu.audit_purge = 'on' even an old, covered entry stays
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            raw("DELETE FROM audit_auditlogentry WHERE id = %s", [old.pk])
        raw("SELECT set_config('siyu.audit_purge', 'on', true)")
    raw("DELETE FROM audit_auditlogentry WHERE id = %s", [old.pk])
    assert [e.seq for e in rows(old_chain)] == [2, 3, 4, 5, 6]


def test_checkpoints_cannot_change(chain):
    cp = AuditCheckpoint(org_id=chain, seq=1, hash="a" * 64, at=clock.now(), purged_before=clock.now(), purged_count=1)
    cp._append_unsafe()
    with pytest.raises(AppendOnly):
        cp.save()
    with pytest.raises(AppendOnly):
        AuditCheckpoint.objects.all().delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("UPDATE audit_auditcheckpoint SET hash = 'b' WHERE id = %s", [cp.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditcheckpoint WHERE id = %s", [cp.pk])
    assert AuditCheckpoint.objects.get(pk=cp.pk).hash == "a" * 64


def test_retention_floor_agrees_everywhere():
    assert settings.SIYU_AUDIT_MIN_RETENTION_DAYS == triggers.MIN_RETENTION_DAYS == 180
    sql = " ".join(triggers.SQLITE_V1 + triggers.POSTGRES_V1)
    assert sql.count("180 days") == 2


def test_chain_of_none_is_the_pre_organisation_chain(db):
    from .conftest import append_n

    append_n(None, 2)
    append_n(CHAIN, 1)
    assert [(e.org_id, e.seq) for e in rows(None)] == [(None, 1), (None, 2)]
    assert [(e.org_id, e.seq) for e in rows(CHAIN)] == [(CHAIN, 1)]
