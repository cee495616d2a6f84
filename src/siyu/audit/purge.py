"""Purge entries past retention while keeping every chain verifiable.

Per chain, in one transaction: lock the chain, pick the longest prefix of entries older than ``before``
(never the newest entry, so the chain keeps a head to append to), write a checkpoint with the hash of the last
entry removed, delete the prefix through the triggers' purge path, and append a ``purge`` entry that says who
purged what. The verifier then starts from the oldest remaining entry, whose ``prev_hash`` must equal that
checkpoint.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from siyu.kernel import clock
from siyu.kernel.auditing import AuditEntry, record
from siyu.kernel.errors import Conflict, ValidationFailed

from .models import AuditCheckpoint, AuditLogEntry
from .sink import lock_chain
from .triggers import MIN_RETENTION_DAYS


@dataclass(frozen=True)
class PurgeResult:
    org_id: int | None
    purged: int
    through_seq: int | None


def retention_days() -> int:
    # The setting may lengthen retention, never shorten it below the legal floor the triggers enforce.
    return max(settings.SIYU_AUDIT_MIN_RETENTION_DAYS, MIN_RETENTION_DAYS)


def latest_purgeable(now: dt.datetime | None = None) -> dt.datetime:
    return (now or clock.now()) - dt.timedelta(days=retention_days())


def check_purge_date(before: dt.datetime) -> None:
    """Refuse a cut-off inside the retention period (nothing younger than 180 days may ever be purged)."""
    floor = latest_purgeable()
    if before > floor:
        raise ValidationFailed(
            f"refusing to purge entries younger than {retention_days()} days: "
            f"the cut-off must be on or before {floor.isoformat(timespec='seconds')}",
            fields={"before": [f"must be at least {retention_days()} days ago"]},
        )


def _purge_switch(on: bool) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('siyu.audit_purge', %s, true)", ["on" if on else "off"])


def purge_chain(*, org_id: int | None, before: dt.datetime, actor_label: str) -> PurgeResult:
    """Remove one chain's entries older than ``before``. Call inside a transaction (the edge owns it)."""
    check_purge_date(before)
    lock_chain(org_id)
    entries = AuditLogEntry.objects.chain(org_id)
    head = entries.order_by("-seq").only("seq").first()
    first = entries.order_by("seq").only("seq").first()
    if head is None:
        return PurgeResult(org_id, 0, None)
    young = entries.filter(at__gte=before).order_by("seq").values_list("seq", flat=True).first()
    through = min(young - 1 if young is not None else head.seq, head.seq - 1)
    if through < first.seq:
        return PurgeResult(org_id, 0, None)
    last = entries.filter(seq=through).only("seq", "hash").first()
    doomed = entries.filter(seq__lte=through)
    count = doomed.count()
    if last is None or count != through - first.seq + 1:
        raise Conflict(f"chain {org_id} has gaps before seq {through}: run `siyu audit verify` first")
    AuditCheckpoint(org_id=org_id, seq=through, hash=last.hash, at=clock.now(), purged_before=before,
                    purged_count=count)._append_unsafe()
    _purge_switch(True)
    try:
        deleted = doomed._purge_rollback_unsafe()
    finally:
        _purge_switch(False)
    record(AuditEntry(
        org_id=org_id, action="purge", object_type="audit.entry", actor_label=actor_label,
        meta={"before": before.isoformat(), "from_seq": first.seq, "through_seq": through, "count": deleted,
              "checkpoint_hash": last.hash},
    ))
    return PurgeResult(org_id, deleted, through)
