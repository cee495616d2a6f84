"""The sink kernel.auditing calls: append one entry at the head of its organisation's chain.

Appends are serialised per organisation by locking the current head row (PostgreSQL) or by SQLite's
IMMEDIATE write transaction, inside the caller's transaction: the entry commits or rolls back with the write.
"""

from __future__ import annotations

from django.db import transaction

from siyu.kernel import clock
from siyu.kernel.auditing import AuditEntry

from .chain import GENESIS, entry_hash
from .models import AuditLogEntry


def append(e: AuditEntry) -> AuditLogEntry:
    with transaction.atomic():
        head = (
            AuditLogEntry.objects.select_for_update()
            .filter(org_id=e.org_id)  # the chain is per organisation by definition: this IS the scope
            .order_by("-seq")
            .only("seq", "hash")
            .first()
        )
        row = AuditLogEntry(
            org_id=e.org_id, seq=(head.seq + 1) if head else 1, at=clock.now(), action=e.action,
            object_type=e.object_type, object_id=e.object_id, actor_user_id=e.actor_user_id,
            actor_api_key_id=e.actor_api_key_id, actor_label=e.actor_label, changes=e.changes, ip=e.ip,
            meta=e.meta, prev_hash=head.hash if head else GENESIS,
        )
        row.hash = entry_hash(row)
        row.save(force_insert=True)
        return row
