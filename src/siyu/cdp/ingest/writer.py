"""The durable write of accepted events: deduplicate by ``messageId`` and store the batch, atomically.

Before the 2xx, a request (or a group of single-event requests, see :mod:`.committer`) commits the dedup rows
and one ``cdp_eventbatch`` row per source holding the kept events as JSON. The dedup insert keeps only the
``messageId``s it actually inserted (``ON CONFLICT … DO UPDATE … WHERE`` the old row is older than the 7-day
window, ``RETURNING``). A replay, even a concurrent one, finds the first request's dedup rows (PostgreSQL makes
the second insert wait for the first transaction, then skips the conflicting rows) and stores nothing twice.
Writing one batch row instead of N event rows keeps the request path short; the worker (:mod:`.processing`)
writes the events later.

**PostgreSQL: one statement, one round trip.** The dedup insert and the batch insert are one statement (two
data-modifying CTEs: the batch keeps the events whose keys the dedup insert returned), run in autocommit
mode outside an atomic block: a single statement is its own transaction, committed (and flushed, with
``synchronous_commit`` on) before it returns, so there is no ``BEGIN``, second statement or ``COMMIT`` to wait
for. The keys are passed as arrays (``unnest``) and inserted in (source, messageId) order, one order for every
transaction, so two overlapping requests cannot deadlock on each other's keys. The batch payload is the events'
JSON as validation encoded it, joined (no second encoding); only when some events of a source were duplicates
is it rebuilt in the database from the kept positions. The statement doubles as the connection's health check:
Django's per-request ``SELECT 1`` is skipped, and a statement that fails on a dead connection is sent once
more on a new one (safe: the failed statement committed nothing, or — if only its answer was lost — the retry
finds its dedup rows and stores nothing twice).

SQLite (one local writer, no round trips) runs the two statements in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection, transaction

from siyu.kernel import clock

from .config import DEDUP_DAYS
from .sources import KnownSource
from .validation import Accepted

T = TypeVar("T")


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


def payload_text(events: Sequence[bytes]) -> str:
    """A batch row's payload: the events' JSON, joined into one array."""
    return (b"[" + b",".join(events) + b"]").decode()


_CONFLICT = ("ON CONFLICT (source_id, message_id) DO UPDATE SET received_at = excluded.received_at "
             "WHERE cdp_eventdedup.received_at < %s RETURNING source_id, message_id")


def insert_dedup(keys: list[tuple[int, str]], received_at: dt.datetime) -> set[tuple[int, str]]:
    """Insert dedup rows for distinct ``(source_id, message_id)`` keys; return the keys that were new (or whose
    old row had left the 7-day window). SQLite's half of :func:`write_parts`."""
    if not keys:
        return set()
    now, expired = _dt(received_at), _dt(received_at - dt.timedelta(days=DEDUP_DAYS))
    params: list = []
    for source_id, mid in keys:
        params += [source_id, mid, now]
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO cdp_eventdedup (source_id, message_id, received_at) VALUES "  # noqa: S608 - placeholders
            + ", ".join(["(%s, %s, %s)"] * len(keys)) + " " + _CONFLICT,
            [*params, expired],
        )
        return {(row[0], row[1]) for row in cur.fetchall()}


def insert_batch(source: KnownSource, events: Sequence[bytes], received_at: dt.datetime) -> int:
    with connection.cursor() as cur:
        cur.execute("INSERT INTO cdp_eventbatch (org_id, source_id, received_at, payload, attempts) "
                    "VALUES (%s, %s, %s, %s, 0) RETURNING id",
                    [source.org_id, source.id, _dt(received_at), payload_text(events)])
        return cur.fetchone()[0]


# ev: every event of the parts in order (source, messageId, position in its source's payload, ordinal);
# fresh: the dedup insert, one row per distinct key in (source, messageId) order; kept: the first occurrence of
# each fresh key; batch: one row per source with kept events, the payload as sent when all of them were kept.
# The sources are a VALUES list, not arrays: a payload inside an array literal would be escaped character by
# character in Python (psycopg's client-side array dumper), a scalar is quoted by libpq.
_PG_WRITE = """
WITH ev AS (
    SELECT s, m, p, o FROM unnest(%s::bigint[], %s::text[], %s::int[]) WITH ORDINALITY AS t(s, m, p, o)
), fresh AS (
    INSERT INTO cdp_eventdedup (source_id, message_id, received_at)
    SELECT s, m, %s FROM ev GROUP BY s, m ORDER BY s, m
    """ + _CONFLICT + """
), kept AS (
    SELECT DISTINCT ON (ev.s, ev.m) ev.s, ev.p FROM ev
    JOIN fresh ON fresh.source_id = ev.s AND fresh.message_id = ev.m ORDER BY ev.s, ev.m, ev.o
), per_source AS (
    SELECT s, count(*) AS n, array_agg(p) AS ps FROM kept GROUP BY s
), batch AS (
    INSERT INTO cdp_eventbatch (org_id, source_id, received_at, payload, attempts)
    SELECT src.org, src.s, src.at,
           CASE WHEN k.n = src.n THEN src.payload::jsonb
                ELSE (SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(src.payload::jsonb)
                      WITH ORDINALITY AS a(e, i) WHERE i = ANY (k.ps)) END,
           0
    FROM (VALUES {sources}) AS src(s, org, at, payload, n)
    JOIN per_source AS k ON k.s = src.s
    ORDER BY src.s
    RETURNING source_id, id
)
SELECT source_id, message_id, NULL::bigint FROM fresh
UNION ALL SELECT source_id, NULL, id FROM batch
"""  # noqa: S608 - constants only
_PG_SOURCE = "(%s::bigint, %s::bigint, %s::timestamptz, %s::text, %s::int)"


def _write_pg(parts: Sequence[Part], received_at: dt.datetime) -> tuple[set[tuple[int, str]], dict[int, int]]:
    """The fresh keys and the batch row id per source, from one statement."""
    srcs: list[int] = []
    mids: list[str] = []
    positions: list[int] = []
    payloads: dict[int, tuple[KnownSource, dt.datetime, list[bytes]]] = {}
    for part in parts:
        sid = part.source.id
        _, _, texts = payloads.setdefault(sid, (part.source, part.received_at, []))
        for e in part.events:
            texts.append(e.data)
            srcs.append(sid)
            mids.append(e.message_id)
            positions.append(len(texts))
    params: list = [srcs, mids, positions, _dt(received_at), _dt(received_at - dt.timedelta(days=DEDUP_DAYS))]
    for src, at, texts in payloads.values():
        params += [src.id, src.org_id, _dt(at), payload_text(texts), len(texts)]
    sql = _PG_WRITE.replace("{sources}", ", ".join([_PG_SOURCE] * len(payloads)))

    def run():
        with connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    fresh: set[tuple[int, str]] = set()
    batch_ids: dict[int, int] = {}
    for source_id, message_id, batch_id in _statement_is_the_health_check(run):
        if batch_id is None:
            fresh.add((source_id, message_id))
        else:
            batch_ids[source_id] = batch_id
    return fresh, batch_ids


def _statement_is_the_health_check(run: Callable[[], T]) -> T:
    """Run one autocommit statement without Django's per-request health check (a ``SELECT 1`` round trip);
    if it fails on a connection that turns out to be dead, reconnect and run it once more. Inside an atomic
    block the caller's transaction decides (no retry: its earlier work would be lost with the connection)."""
    if connection.in_atomic_block:
        return run()
    connection.health_check_done = True
    try:
        return run()
    except (OperationalError, InterfaceError):
        if connection.connection is not None and connection.is_usable():
            raise
        connection.close()
        return run()


def _write_sqlite(parts: Sequence[Part], keys: list[tuple[int, str]],
                  received_at: dt.datetime) -> tuple[set[tuple[int, str]], dict[int, int]]:
    with transaction.atomic():
        fresh = insert_dedup(keys, received_at)
        by_source: dict[int, tuple[KnownSource, dt.datetime, list[bytes]]] = {}
        taken = set(fresh)
        for part in parts:
            for e in part.events:
                key = (part.source.id, e.message_id)
                if key in taken:
                    taken.discard(key)  # the first occurrence in the group takes it
                    by_source.setdefault(part.source.id, (part.source, part.received_at, []))[2].append(e.data)
        return fresh, {sid: insert_batch(src, texts, at) for sid, (src, at, texts) in by_source.items()}


def write_parts(parts: Sequence[Part]) -> list[WriteResult]:
    """Commit several requests' events atomically (dedup rows + one batch row per source) and return what
    each request stored. A ``messageId`` sent twice within the parts is stored once, for the first."""
    keys: dict[tuple[int, str], None] = {}
    for part in parts:
        for e in part.events:
            keys.setdefault((part.source.id, e.message_id), None)
    if not keys:
        return [WriteResult(0, 0, None) for _ in parts]
    received_at = max(p.received_at for p in parts)
    if connection.vendor == "postgresql":
        fresh, batch_ids = _write_pg(parts, received_at)
    else:
        fresh, batch_ids = _write_sqlite(parts, list(keys), received_at)
    results = []
    for part in parts:
        mine = 0
        for e in part.events:
            key = (part.source.id, e.message_id)
            if key in fresh:
                fresh.discard(key)  # the first occurrence in the group takes it (as the statement did)
                mine += 1
        results.append(WriteResult(mine, len(part.events) - mine, batch_ids.get(part.source.id) if mine else None))
    return results


def write_events(*, source: KnownSource, events: list[Accepted], received_at: dt.datetime | None = None) -> WriteResult:
    """Commit the accepted events durably (dedup rows + one batch row) and return what was stored."""
    if not events:
        return WriteResult(0, 0, None)
    return write_parts([Part(source, events, received_at or clock.now())])[0]
