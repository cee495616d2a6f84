"""Indexes for the console/API reads of P12 (measured at M, 1M profiles; see cdp/README.md "Performance (P12)"):

* ``cdp_profile_stage_list`` ``(org_id, lifecycle_stage, status, id DESC)``, PostgreSQL and SQLite: the
  customer list filtered by a lifecycle stage, newest first (the console's stage quick filter), reads its page
  in order. Without it the list walks ``cdp_profile_org_status`` newest first and drops every profile of other
  stages: stage "opportunity" plus a province filtered out about 2,700 rows per page of 50 (80–100 ms cold).
* PostgreSQL only, for name search (cdp/search.py): ``cdp_profile_name_prefix`` ``(org_id, name
  varchar_pattern_ops)`` answers "names starting with" (``LIKE '子轩%'``) as a b-tree range; the database
  collation (C.UTF-8) is not "C", so the plain ``(org_id, name)`` b-tree cannot, and the trigram index took
  ~20 ms for a two-character prefix with no match. ``cdp_profile_name_suffix`` ``(org_id, reverse(name)
  text_pattern_ops)`` does the same for "names ending with" (a given name such as 子轩), which search.py asks as
  ``reverse(name) LIKE '轩子%'`` (the trigram index: ~23 ms). The prefix index also serves exact names, so it
  makes ``cdp_profile_org_name`` redundant on PostgreSQL (dropping that is left to the model's owner).

Built ``CONCURRENTLY`` on PostgreSQL (the migration is not atomic), so profile writes are not blocked while they
build (a few seconds each at M).
"""

from django.db import migrations

BOTH = [("cdp_profile_stage_list", "(org_id, lifecycle_stage, status, id DESC)")]
POSTGRES = [("cdp_profile_name_prefix", "(org_id, name varchar_pattern_ops)"),
            ("cdp_profile_name_suffix", "(org_id, reverse(name) text_pattern_ops)")]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    concurrently = "CONCURRENTLY " if vendor == "postgresql" else ""
    for name, columns in BOTH + (POSTGRES if vendor == "postgresql" else []):
        schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON cdp_profile {columns}")


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    concurrently = "CONCURRENTLY " if vendor == "postgresql" else ""
    for name, _columns in BOTH + (POSTGRES if vendor == "postgresql" else []):
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("cdp", "0006_identity_group_id")]
    operations = [migrations.RunPython(forwards, backwards)]
