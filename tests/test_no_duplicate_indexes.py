"""No table carries two identical indexes: every index is maintained on every write it covers, so a duplicate
costs inserts and updates and serves no read (three slipped in, an explicit ``Meta.indexes`` entry repeating the
index Django already gives each foreign key: sales_lead.profile, sales_opportunity.account and .contact).

Identical means the same columns, expressions, predicate, operator classes and uniqueness. Checked on the
migrated test database: PostgreSQL's catalogue, or SQLite's ``PRAGMA index_list`` / ``index_xinfo``.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.db import connection


def _postgres() -> list[tuple[str, str, str]]:
    with connection.cursor() as cur:
        cur.execute("""
            SELECT a.indrelid::regclass::text, a.indexrelid::regclass::text, b.indexrelid::regclass::text
            FROM pg_index a
            JOIN pg_index b ON a.indrelid = b.indrelid AND a.indexrelid < b.indexrelid
             AND a.indkey::text = b.indkey::text AND a.indclass::text = b.indclass::text
             AND a.indisunique = b.indisunique
             AND coalesce(pg_get_expr(a.indexprs, a.indrelid), '') = coalesce(pg_get_expr(b.indexprs, b.indrelid), '')
             AND coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
            JOIN pg_class c ON c.oid = a.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        """)
        return cur.fetchall()


def _sqlite() -> list[tuple[str, str, str]]:
    found = []
    with connection.cursor() as cur:
        tables = [t.name for t in connection.introspection.get_table_list(cur) if t.type == "t"]
        for table in tables:
            shapes = defaultdict(list)
            cur.execute(f'PRAGMA index_list("{table}")')
            for _seq, name, unique, _origin, partial in cur.fetchall():
                cur.execute(f'PRAGMA index_xinfo("{name}")')
                columns = tuple((r[2], r[3], r[4], r[5]) for r in cur.fetchall() if r[5])  # key columns
                cur.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [name])
                row = cur.fetchone()
                where = (row[0] or "").partition(" WHERE ")[2] if row else ""
                shapes[(columns, unique, partial, where)].append(name)
            found += [(table, *names[:2]) for names in shapes.values() if len(names) > 1]
    return found


@pytest.mark.django_db
def test_no_table_has_two_identical_indexes():
    duplicates = _postgres() if connection.vendor == "postgresql" else _sqlite()
    assert duplicates == []
