"""Monthly partitions of ``cdp_event`` on PostgreSQL (``cdp_event_YYYYMM``, UTC months), created ahead.

Migration 0002 made ``cdp_event`` a range-partitioned table with a DEFAULT partition that catches any event
whose month has no partition yet, so ingestion never fails for want of one. :func:`ensure_partitions` (run by
the periodic task ``"cdp.ingest.partitions"`` and by ``siyu event-partitions``) creates the current month and
the next two.

Rows already in DEFAULT for a month would make ``CREATE TABLE … PARTITION OF`` fail (PostgreSQL refuses a new
partition whose range the default partition already holds rows for). Instead of only creating empty future
months, the month is then **moved**: in one transaction a plain table is created like ``cdp_event``, that
month's rows are copied into it and deleted from DEFAULT, and the table is attached as the month's partition
(PostgreSQL adds the parent's indexes). That takes an ACCESS EXCLUSIVE lock on DEFAULT for the move, so
inserts into DEFAULT wait for it; the periodic task keeps months created ahead so this is rare (a worker that
was down for weeks, or historical imports). ``include_default=True`` also moves every other month found in DEFAULT.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

from siyu.kernel import clock

PARENT = "cdp_event"
DEFAULT = "cdp_event_default"


def _add_months(day: dt.date, n: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(month: dt.date) -> str:
    return f"{PARENT}_{month.year:04d}{month.month:02d}"


def _bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    nxt = _add_months(month, 1)
    return start, dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC)


def existing() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s", [PARENT])
        return {r[0] for r in cur.fetchall()}


def _default_months() -> list[dt.date]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC')::date FROM {DEFAULT}")  # noqa: S608
        return sorted(r[0] for r in cur.fetchall())


def create_partition(month: dt.date) -> str:
    """Create one month's partition, moving that month's rows out of DEFAULT if there are any."""
    name = partition_name(month)
    start, end = _bounds(month)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"LOCK TABLE {DEFAULT} IN SHARE ROW EXCLUSIVE MODE")  # noqa: S608 - constant
        cur.execute(f'SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE "timestamp" >= %s AND "timestamp" < %s)',  # noqa: S608
                    [start, end])
        if not cur.fetchone()[0]:
            cur.execute(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",  # noqa: S608
                        [start.isoformat(), end.isoformat()])
            return name
        cur.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")  # noqa: S608
        cur.execute(f'ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK ("timestamp" >= %s AND "timestamp" < %s)',  # noqa: S608
                    [start.isoformat(), end.isoformat()])
        cur.execute(f'INSERT INTO {name} SELECT * FROM {DEFAULT} WHERE "timestamp" >= %s AND "timestamp" < %s',  # noqa: S608
                    [start, end])
        cur.execute(f'DELETE FROM {DEFAULT} WHERE "timestamp" >= %s AND "timestamp" < %s', [start, end])  # noqa: S608
        # The CHECK constraint lets ATTACH skip re-scanning the new table.
        cur.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",  # noqa: S608
                    [start.isoformat(), end.isoformat()])
        cur.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")  # noqa: S608
    return name


def ensure_partitions(*, months_ahead: int = 2, today: dt.date | None = None,
                      include_default: bool = False) -> list[str]:
    """Create missing partitions for the current month and ``months_ahead`` more; returns the names created.
    A no-op on SQLite (one plain table)."""
    if connection.vendor != "postgresql":
        return []
    today = today or clock.now().astimezone(dt.UTC).date()
    first = today.replace(day=1)
    months = [_add_months(first, n) for n in range(months_ahead + 1)]
    if include_default:
        months = sorted(set(months) | set(_default_months()))
    have = existing()
    return [create_partition(m) for m in months if partition_name(m) not in have]
