"""The durable write of accepted events: deduplicate by ``messageId`` and store the batch, in one transaction.

Before the 2xx, a request commits exactly two statements: a multi-row insert into ``cdp_eventdedup`` that keeps
only the ``messageId``s it actually inserted (``ON CONFLICT … DO UPDATE … WHERE`` the old row is older than the
7-day window, ``RETURNING message_id``), and one ``cdp_eventbatch`` row holding the kept events as JSON. A
replay, even a concurrent one, finds the first request's dedup rows (PostgreSQL makes the second insert wait for
the first transaction, then skips the conflicting rows) and stores nothing twice. Writing one batch row instead
of N event rows keeps the request path short; the worker (:mod:`.processing`) writes the events later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction

from siyu.kernel import clock

from .config import DEDUP_DAYS
from .sources import KnownSource
from .validation import Accepted


@dataclass(frozen=True)
class WriteResult:
    stored: int
    duplicates: int
    batch_id: int | None


def _dt(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def insert_dedup(source_id: int, message_ids: list[str], received_at: dt.datetime) -> set[str]:
    """Insert dedup rows; return the message ids that were new (or whose old row had left the window)."""
    if not message_ids:
        return set()
    now, expired = _dt(received_at), _dt(received_at - dt.timedelta(days=DEDUP_DAYS))
    values = ", ".join(["(%s, %s, %s)"] * len(message_ids))
    params: list = []
    for mid in message_ids:
        params += [source_id, mid, now]
    sql = (
        f"INSERT INTO cdp_eventdedup (source_id, message_id, received_at) VALUES {values} "  # noqa: S608 - placeholders
        "ON CONFLICT (source_id, message_id) DO UPDATE SET received_at = excluded.received_at "
        "WHERE cdp_eventdedup.received_at < %s RETURNING message_id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [*params, expired])
        return {row[0] for row in cur.fetchall()}


def insert_batch(source: KnownSource, texts: list[str], received_at: dt.datetime) -> int:
    payload = "[" + ",".join(texts) + "]"
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cur:
        sql = f"INSERT INTO cdp_eventbatch (org_id, source_id, received_at, payload, attempts) VALUES (%s, %s, %s, %s{cast}, 0) RETURNING id"  # noqa: S608 - cast is a constant
        cur.execute(sql, [source.org_id, source.id, _dt(received_at), payload])
        return cur.fetchone()[0]


def write_events(*, source: KnownSource, events: list[Accepted], received_at: dt.datetime | None = None) -> WriteResult:
    """Commit the accepted events durably (dedup rows + one batch row) and return what was stored."""
    received_at = received_at or clock.now()
    if not events:
        return WriteResult(0, 0, None)
    with transaction.atomic():
        fresh = insert_dedup(source.id, [e.message_id for e in events], received_at)
        kept = [e.text for e in events if e.message_id in fresh]
        batch_id = insert_batch(source, kept, received_at) if kept else None
    return WriteResult(len(kept), len(events) - len(kept), batch_id)
