"""Fast bulk writes for generators and imports: COPY on PostgreSQL, executemany in one transaction on SQLite.

Rows are tuples in the order of ``columns``; JSON columns take already-serialised text. Only for tables whose
rows need no per-row ORM behaviour (no auto_now, no signals): callers fill every column themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    n = 0
    cols = ", ".join(f'"{c}"' for c in columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur, cur.connection.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        return n
    marks = ", ".join(["%s"] * len(columns))
    batch: list[tuple] = []
    with connection.cursor() as cur:
        for row in rows:
            batch.append(row)
            if len(batch) >= 5000:
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)  # noqa: S608 - names are ours
                n += len(batch)
                batch.clear()
        if batch:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)  # noqa: S608
            n += len(batch)
    return n


def next_ids(table: str, count: int) -> int:
    """Reserve ``count`` ids for rows inserted with explicit ids; returns the first. PostgreSQL sequences are
    advanced past them so later ORM inserts never collide."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        first = cur.fetchone()[0] + 1
        if connection.vendor == "postgresql":
            cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, first + count])
    return first
