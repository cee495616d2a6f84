"""Name search: a pg_trgm GIN index on cdp_profile.name on PostgreSQL; an FTS5 table of jieba tokens on SQLite.

PostgreSQL: ``CREATE EXTENSION pg_trgm`` needs a role allowed to create it (a superuser, or the database owner
on PostgreSQL 13+ since pg_trgm is a trusted extension). When it cannot be created the migration stops with a
message saying what to run. The index is built with a plain CREATE INDEX, which blocks writes to cdp_profile
while it runs (about 2 s per million profiles); on a large live table create it CONCURRENTLY by hand first
(the IF NOT EXISTS below then skips it).

SQLite: ``cdp_profile_fts`` (rowid = profile id, columns ``words`` and ``chars``; see cdp/search.py), filled here
for existing profiles and kept in step by the profile services.
"""

from django.db import migrations

PG_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"
PG_INDEX = "CREATE INDEX IF NOT EXISTS cdp_profile_name_trgm ON cdp_profile USING gin (name gin_trgm_ops)"
SQLITE_TABLE = "CREATE VIRTUAL TABLE IF NOT EXISTS cdp_profile_fts USING fts5(words, chars, tokenize = 'unicode61')"


def forwards(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor == "postgresql":
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            if cur.fetchone() is None:
                try:
                    cur.execute(PG_EXTENSION)
                except Exception as exc:
                    raise RuntimeError(
                        "Siyu needs the pg_trgm extension for customer name search and could not create it "
                        f"({exc}). Ask a superuser to run `CREATE EXTENSION pg_trgm;` in this database, then run "
                        "the migration again."
                    ) from exc
            cur.execute(PG_INDEX)
    elif conn.vendor == "sqlite":
        from siyu.cdp.search import name_tokens

        Profile = apps.get_model("cdp", "Profile")
        with conn.cursor() as cur:
            cur.execute(SQLITE_TABLE)
            rows = ((pk, *name_tokens(name)) for pk, name in Profile.objects.exclude(name="").values_list("pk", "name"))
            cur.executemany("INSERT INTO cdp_profile_fts (rowid, words, chars) VALUES (%s, %s, %s)", list(rows))


def backwards(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS cdp_profile_name_trgm")
    elif conn.vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS cdp_profile_fts")


class Migration(migrations.Migration):
    dependencies = [("cdp", "0002_partition_events")]
    operations = [migrations.RunPython(forwards, backwards)]
