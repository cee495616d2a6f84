"""Covering indexes for segment evaluation on PostgreSQL (cdp.segments): the rollup predicates segments use
("did X since <midnight>", "at least N times in W days") become index-only range scans instead of a heap
visit per rollup row, and the "did not" side of "viewed but did not buy" can be hashed from the index alone.

* ``cdp_rollup_seg``: ``cdp_eventrollup (org_id, name, last_at) INCLUDE (profile_id, count)``
* ``cdp_daily_seg``: ``cdp_eventdailyrollup (org_id, name, day) INCLUDE (profile_id, count)``

Built ``CONCURRENTLY`` (the migration is not atomic): no lock that blocks ingestion's writes while they build
(at M, a few tens of seconds each). Their key columns equal ``cdp_rollup_name`` / ``cdp_daily_name_day``, which
they make redundant (dropping those is left to the models' owner). SQLite keeps its tables as they are: at the
embedded sizes the existing indexes serve.
"""

from django.db import migrations

INDEXES = [
    ("cdp_rollup_seg", "cdp_eventrollup", "(org_id, name, last_at) INCLUDE (profile_id, count)"),
    ("cdp_daily_seg", "cdp_eventdailyrollup", "(org_id, name, day) INCLUDE (profile_id, count)"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, columns in INDEXES:
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {columns}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _columns in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("cdp", "0003_profile_search")]
    operations = [migrations.RunPython(forwards, backwards)]
