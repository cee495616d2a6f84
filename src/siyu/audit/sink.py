"""The sink kernel.auditing calls: append one entry at the head of its organisation's chain.

Appends to one chain are serialised inside the caller's transaction, so the entry commits or rolls back with
the write it describes:

* PostgreSQL: a transaction-level advisory lock per chain, taken *before* the head is read. Under READ
  COMMITTED the head query then runs with a snapshot taken after the previous holder committed, so it sees
  that holder's entry (locking the head row itself would hand a waiter the stale head and a duplicate seq).
* SQLite: the write transaction is ``BEGIN IMMEDIATE`` (settings), so there is one writer at a time anyway.

The unique (org_id, seq) constraints are the last line of defence: a fork cannot be stored. Should one ever
be hit (a caller running REPEATABLE READ, an operator inserting by hand) the append is retried in a savepoint.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from django.db import IntegrityError, connection, transaction

from siyu.kernel import clock
from siyu.kernel.auditing import AuditEntry

from .chain import GENESIS, entry_hash
from .models import AuditLogEntry

LOCK_NAMESPACE = 0x5A7D  # first key of pg_advisory_xact_lock(int, int): "audit chain"
PRE_ORG_LOCK_KEY = -1
ATTEMPTS = 3

# column widths (PostgreSQL enforces them; we cut before hashing so the stored row is what was hashed)
_WIDTH = {"action": 40, "object_type": 80, "object_id": 80, "actor_label": 120}


def lock_chain(org_id: int | None) -> None:
    """Serialise appends (and purges) of one chain until the end of the current transaction."""
    if connection.vendor != "postgresql":
        return
    key = PRE_ORG_LOCK_KEY if org_id is None else org_id % 2**31  # a shared key only over-serialises
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, key])


def _json(value: dict[str, Any]) -> dict[str, Any]:
    # What is hashed must be exactly what the JSON column gives back (tuples, dates, decimals → JSON).
    return json.loads(json.dumps(value or {}, default=str))


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)  # the databases' canonical text, so the hash survives the round trip


def _build(e: AuditEntry, head: AuditLogEntry | None) -> AuditLogEntry:
    row = AuditLogEntry(
        org_id=e.org_id, seq=(head.seq + 1) if head else 1, at=clock.now(),
        action=e.action[: _WIDTH["action"]], object_type=e.object_type[: _WIDTH["object_type"]],
        object_id=str(e.object_id)[: _WIDTH["object_id"]], actor_user_id=e.actor_user_id,
        actor_api_key_id=e.actor_api_key_id, actor_label=e.actor_label[: _WIDTH["actor_label"]],
        changes=_json(e.changes), ip=_ip(e.ip), meta=_json(e.meta), prev_hash=head.hash if head else GENESIS,
    )
    row.hash = entry_hash(row)
    return row


def append(e: AuditEntry) -> AuditLogEntry:
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                lock_chain(e.org_id)
                head = AuditLogEntry.objects.chain(e.org_id).order_by("-seq").only("seq", "hash").first()
                row = _build(e, head)
                row._append_unsafe()
                return row
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
