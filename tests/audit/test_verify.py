"""`siyu audit verify` names the first edited, deleted or reordered entry with its seq and id, and exits 1."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from siyu.audit import verify
from siyu.audit.chain import entry_hash

from .conftest import CHAIN, append_n, rows, tamper


def run_verify(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_intact_chains_exit_zero_with_a_summary(chain):
    append_n(None, 2)
    head = rows(chain)[-1]
    code, out = run_verify()
    assert code == 0
    assert f"organisation {CHAIN}: 6 entries, chain intact (head #6 {head.hash})" in out
    assert "pre-organisation chain: 2 entries, chain intact" in out
    assert out.rstrip().endswith("8 entries, chain intact")


def test_edited_field_is_reported_at_its_seq(chain):
    victim = rows(chain)[3]
    tamper("UPDATE audit_auditlogentry SET changes = %s WHERE id = %s", [json.dumps({"name": ["old3", "forged"]}), victim.pk])
    code, out = run_verify()
    assert code == 1
    assert f"organisation {CHAIN}: EDITED at seq 4 (entry id {victim.pk})" in out
    report = verify.verify_chain(chain)
    assert [(p.kind, p.seq, p.entry_id) for p in report.problems] == [("edited", 4, victim.pk)]


def test_deleted_entry_is_reported_at_the_missing_seq(chain):
    victim, after = rows(chain)[2], rows(chain)[3]
    tamper("DELETE FROM audit_auditlogentry WHERE id = %s", [victim.pk])
    code, out = run_verify()
    assert code == 1
    assert f"DELETED at seq 3 (entry id {after.pk})" in out
    assert [(p.kind, p.seq) for p in verify.verify_chain(chain).problems] == [("deleted", 3)]


def test_deleted_first_entry_is_reported(chain):
    tamper("DELETE FROM audit_auditlogentry WHERE id = %s", [rows(chain)[0].pk])
    assert [(p.kind, p.seq) for p in verify.verify_chain(chain).problems] == [("deleted", 1)]


def test_swapped_entries_are_reported_as_reordered(chain):
    a, b = rows(chain)[1], rows(chain)[2]  # seq 2 and 3
    tamper("UPDATE audit_auditlogentry SET seq = -1 WHERE id = %s", [a.pk])
    tamper("UPDATE audit_auditlogentry SET seq = 2 WHERE id = %s", [b.pk])
    tamper("UPDATE audit_auditlogentry SET seq = 3 WHERE id = %s", [a.pk])
    code, out = run_verify()
    assert code == 1
    assert f"REORDERED at seq 2 (entry id {b.pk}): entry {b.pk} at seq 2 was written as seq 3" in out


def test_resealed_edit_is_caught_at_the_next_link(chain):
    """An attacker who edits an entry *and* recomputes its hash breaks the next entry's prev_hash."""
    victim = rows(chain)[1]
    victim.action = "login"
    tamper("UPDATE audit_auditlogentry SET action = 'login', hash = %s WHERE id = %s", [entry_hash(victim), victim.pk])
    assert [(p.kind, p.seq) for p in verify.verify_chain(chain).problems] == [("deleted", 3)]


def test_tampering_in_one_chain_does_not_hide_another_chains_state(chain):
    append_n(CHAIN + 1, 3)
    tamper("DELETE FROM audit_auditlogentry WHERE id = %s", [rows(chain)[4].pk])
    code, out = run_verify()
    assert code == 1
    assert f"organisation {CHAIN + 1}: 3 entries, chain intact" in out
    assert f"organisation {CHAIN}: DELETED at seq 5" in out


def test_emptied_chain_after_a_purge_is_reported(chain):
    from siyu.audit.models import AuditCheckpoint
    from siyu.kernel import clock

    AuditCheckpoint(org_id=chain, seq=2, hash=rows(chain)[1].hash, at=clock.now(), purged_before=clock.now(),
                    purged_count=2)._append_unsafe()
    tamper("DELETE FROM audit_auditlogentry WHERE org_id = %s", [chain])
    assert [(p.kind, p.seq) for p in verify.verify_chain(chain).problems] == [("deleted", 3)]


def test_verify_one_organisation_by_id_or_slug(org, chain):
    code, out = run_verify("--org", org.slug)
    assert code == 0 and f"organisation {org.pk}:" in out and f"organisation {CHAIN}" not in out
    assert run_verify("--org", "no-such-org")[0] == 2
    code, out = run_verify("--org", "-")
    assert code == 0 and "pre-organisation chain" in out


def test_progress_is_reported_on_long_chains(chain, monkeypatch):
    monkeypatch.setattr(verify, "PROGRESS_EVERY", 2)
    seen: list[tuple] = []
    report = verify.verify_chain(chain, progress=lambda org_id, n: seen.append((org_id, n)))
    assert report.intact and seen == [(CHAIN, 2), (CHAIN, 4), (CHAIN, 6)]


def test_walk_streams_instead_of_loading_the_chain(chain, monkeypatch):
    calls = []
    real = verify._walk

    def spy(org_id):
        it = real(org_id)
        calls.append(type(it).__name__)
        return it

    monkeypatch.setattr(verify, "_walk", spy)
    verify.verify_chain(chain)
    assert calls == ["generator"]  # QuerySet.iterator(), not a list


@pytest.mark.parametrize("kind", ["edited", "deleted", "reordered"])
def test_console_and_cli_agree(kind, chain):
    target = rows(chain)[2]
    if kind == "edited":
        tamper("UPDATE audit_auditlogentry SET object_id = 'x' WHERE id = %s", [target.pk])
    elif kind == "deleted":
        tamper("DELETE FROM audit_auditlogentry WHERE id = %s", [target.pk])
    else:
        tamper("UPDATE audit_auditlogentry SET seq = 99 WHERE id = %s", [rows(chain)[5].pk])
        tamper("UPDATE audit_auditlogentry SET seq = 6 WHERE id = %s", [target.pk])
        tamper("UPDATE audit_auditlogentry SET seq = 3 WHERE seq = 99 AND org_id = %s", [chain])
    problems = verify.verify_chain(chain).problems
    assert [p.kind for p in problems] == [kind] and problems[0].seq == 3
