"""The durable write of accepted events: deduplicate by ``messageId`` and store the batch, in one transaction.

Before the 2xx, a request (or a group of single-event requests, see :mod:`.committer`) commits exactly two
statements: a multi-row insert into ``cdp_eventdedup`` that keeps only the ``messageId``s it actually inserted
(``ON CONFLICT … DO UPDATE … WHERE`` the old row is older than the 7-day window, ``RETURNING``), and one
``cdp_eventbatch`` row per source holding the kept events as JSON. A replay, even a concurrent one, finds the
first request's dedup rows (PostgreSQL makes the second insert wait for the first transaction, then skips the
conflicting rows) and stores nothing twice. Writing one batch row instead of N event rows keeps the request path
short; the worker (:mod:`.processing`) writes the events later.

On PostgreSQL the dedup insert passes its keys as two arrays (``unnest``), so a 100-event batch is three
parameters rather than 300; the batch payload is the events' JSON as validation encoded it, joined, never
encoded again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Part:
    """One request's accepted events, as handed to :func:`write_parts`."""

    source: KnownSource
    events: Sequence[Accepted]
    received_at: dt.datetime


def _dt(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def insert_dedup(keys: list[tuple[int, str]], received_at: dt.datetime) -> set[tuple[int, str]]:
    """Insert dedup rows for distinct ``(source_id, message_id)`` keys; return the keys that were new (or whose
    old row had left the 7-day window)."""
    if not keys:
        return set()
    now, expired = _dt(received_at), _dt(received_at - dt.timedelta(days=DEDUP_DAYS))
    conflict = ("ON CONFLICT (source_id, message_id) DO UPDATE SET received_at = excluded.received_at "
                "WHERE cdp_eventdedup.received_at < %s RETURNING source_id, message_id")
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "INSERT INTO cdp_eventdedup (source_id, message_id, received_at) "  # noqa: S608 - constants
                "SELECT s, m, %s FROM unnest(%s::bigint[], %s::text[]) AS t(s, m) " + conflict,
                [now, [k[0] for k in keys], [k[1] for k in keys], expired],
            )
        else:
            params: list = []
            for source_id, mid in keys:
                params += [source_id, mid, now]
            cur.execute(
                "INSERT INTO cdp_eventdedup (source_id, message_id, received_at) VALUES "  # noqa: S608 - placeholders
                + ", ".join(["(%s, %s, %s)"] * len(keys)) + " " + conflict,
                [*params, expired],
            )
        return {(row[0], row[1]) for row in cur.fetchall()}


def insert_batch(source: KnownSource, events: Sequence[bytes], received_at: dt.datetime) -> int:
    payload = (b"[" + b",".join(events) + b"]").decode()
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cur:
        sql = f"INSERT INTO cdp_eventbatch (org_id, source_id, received_at, payload, attempts) VALUES (%s, %s, %s, %s{cast}, 0) RETURNING id"  # noqa: S608 - cast is a constant
        cur.execute(sql, [source.org_id, source.id, _dt(received_at), payload])
        return cur.fetchone()[0]


def write_parts(parts: Sequence[Part]) -> list[WriteResult]:
    """Commit several requests' events in one transaction (dedup rows + one batch row per source) and return
    what each request stored. A ``messageId`` sent twice within the parts is stored once, for the first."""
    keys: dict[tuple[int, str], None] = {}
    for part in parts:
        for e in part.events:
            keys.setdefault((part.source.id, e.message_id), None)
    if not keys:
        return [WriteResult(0, 0, None) for _ in parts]
    received_at = max(p.received_at for p in parts)
    with transaction.atomic():
        fresh = insert_dedup(list(keys), received_at)
        kept: list[list[Accepted]] = []
        by_source: dict[int, tuple[KnownSource, dt.datetime, list[bytes]]] = {}
        for part in parts:
            mine = []
            for e in part.events:
                key = (part.source.id, e.message_id)
                if key in fresh:
                    fresh.discard(key)  # the first occurrence in the group takes it
                    mine.append(e)
            kept.append(mine)
            if mine:
                _, _, texts = by_source.setdefault(part.source.id, (part.source, part.received_at, []))
                texts.extend(e.data for e in mine)
        batch_ids = {sid: insert_batch(src, texts, at) for sid, (src, at, texts) in by_source.items()}
    return [WriteResult(len(mine), len(part.events) - len(mine), batch_ids.get(part.source.id) if mine else None)
            for part, mine in zip(parts, kept, strict=True)]


def write_events(*, source: KnownSource, events: list[Accepted], received_at: dt.datetime | None = None) -> WriteResult:
    """Commit the accepted events durably (dedup rows + one batch row) and return what was stored."""
    if not events:
        return WriteResult(0, 0, None)
    return write_parts([Part(source, events, received_at or clock.now())])[0]
