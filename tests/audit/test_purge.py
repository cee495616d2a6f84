"""`siyu audit purge` never touches entries younger than 180 days and leaves every chain verifiable."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from siyu.audit import verify
from siyu.audit.models import AuditCheckpoint, AuditLogEntry

from .conftest import CHAIN, append_n, rows, tamper


def day(days_ago: int) -> str:
    return (timezone.localdate() - dt.timedelta(days=days_ago)).isoformat()


def run_purge(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("audit", "purge", *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


def test_refuses_anything_younger_than_180_days(old_chain):
    before = [(e.pk, e.hash) for e in rows(old_chain)]
    code, message = run_purge("--before", day(179))
    assert code == 2
    assert "refusing to purge entries younger than 180 days" in message
    assert [(e.pk, e.hash) for e in rows(old_chain)] == before
    assert not AuditCheckpoint.objects.exists()


def test_refuses_a_malformed_date(old_chain):
    code, message = run_purge("--before", "last spring")
    assert code == 2 and "YYYY-MM-DD" in message
    assert len(rows(old_chain)) == 6


def test_a_longer_configured_retention_is_honoured(old_chain, settings):
    settings.SIYU_AUDIT_MIN_RETENTION_DAYS = 365
    code, message = run_purge("--before", day(185))
    assert code == 2 and "younger than 365 days" in message
    assert len(rows(old_chain)) == 6


def test_purge_removes_old_entries_writes_a_checkpoint_and_the_chain_still_verifies(old_chain):
    fourth = rows(old_chain)[3]
    code, out = run_purge("--before", day(185))
    assert code == 0
    assert f"organisation {CHAIN}: purged 4 entries through seq 4" in out
    assert [(e.seq, e.action) for e in rows(old_chain)] == [(5, "update"), (6, "update"), (7, "purge")]
    cp = AuditCheckpoint.objects.chain(old_chain).get()
    assert (cp.seq, cp.hash, cp.purged_count) == (4, fourth.hash, 4)
    assert rows(old_chain)[0].prev_hash == cp.hash
    purge_entry = rows(old_chain)[2]
    assert purge_entry.meta["from_seq"] == 1 and purge_entry.meta["through_seq"] == 4
    assert purge_entry.meta["count"] == 4 and purge_entry.meta["checkpoint_hash"] == fourth.hash
    assert purge_entry.actor_label.startswith("cli")
    report = verify.verify_chain(old_chain)
    assert report.intact and report.entries == 3 and report.first_seq == 5
    # a second purge finds nothing more to do
    assert run_purge("--before", day(185)) == (0, f"purged 0 entries older than {day(185)}\n")


def test_the_newest_entry_is_kept_as_the_chain_head(db):
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=400), tick=True):
        append_n(CHAIN, 3)
    assert run_purge("--before", day(200))[0] == 0
    assert [e.seq for e in rows(CHAIN)] == [3, 4]  # 3 kept as the head, 4 the purge entry
    assert verify.verify_chain(CHAIN).intact


def test_deleting_the_oldest_remaining_entry_after_a_purge_is_detected(old_chain):
    run_purge("--before", day(185))
    tamper("DELETE FROM audit_auditlogentry WHERE id = %s", [rows(old_chain)[0].pk])
    problems = verify.verify_chain(old_chain).problems
    assert [(p.kind, p.seq) for p in problems] == [("deleted", 5)]


def test_purge_of_one_organisation_leaves_the_others(old_chain, org):
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=300), tick=True):
        append_n(CHAIN + 1, 3)
    other_before = [(e.pk, e.hash) for e in rows(CHAIN + 1)]
    code, _ = run_purge("--before", day(185), "--org", str(org.pk))
    assert code == 0
    assert [(e.pk, e.hash) for e in rows(CHAIN + 1)] == other_before
    assert len(rows(old_chain)) == 6


def test_pre_organisation_chain_purges_too(db):
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=300), tick=True):
        append_n(None, 3, action="login_failed")
    assert run_purge("--before", day(185), "--org", "-")[0] == 0
    assert [(e.seq, e.action) for e in rows(None)] == [(3, "login_failed"), (4, "purge")]
    assert verify.verify_chain(None).intact


def test_the_orm_still_refuses_deletion_outside_the_purge(old_chain):
    from siyu.audit.models import AppendOnly

    with pytest.raises(AppendOnly):
        AuditLogEntry.objects.chain(old_chain).filter(seq__lte=2).delete()
    assert len(rows(old_chain)) == 6
