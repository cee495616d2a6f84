"""A covering index for attribute rules of segments on PostgreSQL (cdp.segments):
``cdp_profile_seg_stage``: ``cdp_profile (org_id, lifecycle_stage) INCLUDE (status, gender, province, source)``.

A rule that names lifecycle stages and filters on the usual demographics ("women in Guangdong at the order or
repurchase stage") is answered by an index-only scan instead of a heap visit per profile of those stages:
measured at M (1M profiles), 110 ms → 25–41 ms for the P6 attribute rule. Its key equals
``cdp_profile_org_stage``, which it makes redundant (dropping that is left to the model's owner, and would
take back the extra write cost of this one). Built ``CONCURRENTLY`` (the migration is not atomic), so profile
writes are not blocked while it builds (about 2 s at M).
"""

from django.db import migrations

NAME, TABLE, COLUMNS = "cdp_profile_seg_stage", "cdp_profile", "(org_id, lifecycle_stage) INCLUDE (status, gender, province, source)"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON {TABLE} {COLUMNS}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("cdp", "0004_segment_rollup_indexes")]
    operations = [migrations.RunPython(forwards, backwards)]
