# ruff: noqa: S608  (the SQL is built from constants of this file only, never from input)
"""Open leads per salesperson, kept by triggers on sales_lead (see models.leads.OpenLeadCount).

PostgreSQL: statement-level AFTER triggers with transition tables, one grouped upsert per statement (a bulk
UPDATE of 100K leads is one upsert of a few rows, ordered by (org, user) so concurrent statements lock counters
in the same order). SQLite: row-level triggers (writes are serialised there anyway). The backfill runs after
taking a SHARE ROW EXCLUSIVE lock on sales_lead on PostgreSQL, so no lead write falls between the count and the
triggers (writes wait for the migration's transaction; reads go on).
"""

import django.db.models.deletion
from django.db import migrations, models

OPEN = "('new', 'working', 'nurturing', 'qualified')"
IS_OPEN = "{r}.owner_id IS NOT NULL AND {r}.status IN " + OPEN

PG_FORWARD = f"""
LOCK TABLE sales_lead IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO sales_openleadcount (org_id, user_id, open_count, created_at, updated_at)
SELECT org_id, owner_id, count(*), now(), now() FROM sales_lead WHERE {IS_OPEN.format(r="sales_lead")}
GROUP BY org_id, owner_id;
CREATE FUNCTION sales_lead_open_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sales_openleadcount AS c (org_id, user_id, open_count, created_at, updated_at)
  SELECT d.org_id, d.user_id, sum(d.n), now(), now() FROM (
    SELECT n.org_id, n.owner_id AS user_id, 1 AS n FROM new_rows n
     WHERE TG_OP IN ('INSERT', 'UPDATE') AND {IS_OPEN.format(r="n")}
    UNION ALL
    SELECT o.org_id, o.owner_id, -1 FROM old_rows o
     WHERE TG_OP IN ('UPDATE', 'DELETE') AND {IS_OPEN.format(r="o")}
  ) d GROUP BY d.org_id, d.user_id HAVING sum(d.n) <> 0 ORDER BY d.org_id, d.user_id
  ON CONFLICT (org_id, user_id) DO UPDATE SET open_count = c.open_count + EXCLUDED.open_count,
                                              updated_at = EXCLUDED.updated_at;
  RETURN NULL;
END $$;
"""
# plpgsql plans each statement when it first runs: a trigger without OLD TABLE must not reach old_rows, so the
# INSERT and DELETE triggers get their own copies of the function body with the missing side left out.
PG_FORWARD_TRIGGERS = """
CREATE TRIGGER sales_lead_open_count_upd AFTER UPDATE ON sales_lead
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_lead_open_count();
CREATE TRIGGER sales_lead_open_count_ins AFTER INSERT ON sales_lead
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_lead_open_count_ins();
CREATE TRIGGER sales_lead_open_count_del AFTER DELETE ON sales_lead
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sales_lead_open_count_del();
"""
PG_SIDE = """
CREATE FUNCTION sales_lead_open_count_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sales_openleadcount AS c (org_id, user_id, open_count, created_at, updated_at)
  SELECT r.org_id, r.owner_id, {sign}count(*), now(), now() FROM {table} r WHERE {cond}
  GROUP BY r.org_id, r.owner_id ORDER BY r.org_id, r.owner_id
  ON CONFLICT (org_id, user_id) DO UPDATE SET open_count = c.open_count + EXCLUDED.open_count,
                                              updated_at = EXCLUDED.updated_at;
  RETURN NULL;
END $$;
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS sales_lead_open_count_upd ON sales_lead;
DROP TRIGGER IF EXISTS sales_lead_open_count_ins ON sales_lead;
DROP TRIGGER IF EXISTS sales_lead_open_count_del ON sales_lead;
DROP FUNCTION IF EXISTS sales_lead_open_count();
DROP FUNCTION IF EXISTS sales_lead_open_count_ins();
DROP FUNCTION IF EXISTS sales_lead_open_count_del();
"""

NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
SQLITE_UP = f"""INSERT INTO sales_openleadcount (org_id, user_id, open_count, created_at, updated_at)
  VALUES ({{r}}.org_id, {{r}}.owner_id, 1, {NOW}, {NOW})
  ON CONFLICT (org_id, user_id) DO UPDATE SET open_count = open_count + 1, updated_at = excluded.updated_at;"""
SQLITE_DOWN = ("UPDATE sales_openleadcount SET open_count = open_count - 1, updated_at = " + NOW +
               " WHERE org_id = {r}.org_id AND user_id = {r}.owner_id;")
SQLITE_FORWARD = [
    f"""INSERT INTO sales_openleadcount (org_id, user_id, open_count, created_at, updated_at)
        SELECT org_id, owner_id, count(*), {NOW}, {NOW} FROM sales_lead WHERE {IS_OPEN.format(r="sales_lead")}
        GROUP BY org_id, owner_id""",
    f"""CREATE TRIGGER sales_lead_open_count_ins AFTER INSERT ON sales_lead WHEN {IS_OPEN.format(r="NEW")}
        BEGIN {SQLITE_UP.format(r="NEW")} END""",
    f"""CREATE TRIGGER sales_lead_open_count_del AFTER DELETE ON sales_lead WHEN {IS_OPEN.format(r="OLD")}
        BEGIN {SQLITE_DOWN.format(r="OLD")} END""",
    f"""CREATE TRIGGER sales_lead_open_count_upd_old AFTER UPDATE OF org_id, owner_id, status ON sales_lead
        WHEN {IS_OPEN.format(r="OLD")} BEGIN {SQLITE_DOWN.format(r="OLD")} END""",
    f"""CREATE TRIGGER sales_lead_open_count_upd_new AFTER UPDATE OF org_id, owner_id, status ON sales_lead
        WHEN {IS_OPEN.format(r="NEW")} BEGIN {SQLITE_UP.format(r="NEW")} END""",
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS sales_lead_open_count_{t}" for t in ("ins", "del", "upd_old", "upd_new")]


def forward(apps, schema_editor):
    conn = schema_editor.connection
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(PG_FORWARD)
            cur.execute(PG_SIDE.format(name="ins", sign="", table="new_rows", cond=IS_OPEN.format(r="r")))
            cur.execute(PG_SIDE.format(name="del", sign="-", table="old_rows", cond=IS_OPEN.format(r="r")))
            cur.execute(PG_FORWARD_TRIGGERS)
        elif conn.vendor == "sqlite":
            for sql in SQLITE_FORWARD:
                cur.execute(sql)
        else:
            raise NotImplementedError(f"open lead counters need triggers on {conn.vendor}")


def backward(apps, schema_editor):
    conn = schema_editor.connection
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(PG_BACKWARD)
        else:
            for sql in SQLITE_BACKWARD:
                cur.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ('iam', '0003_session_membership_totp_step'),
        ('sales', '0003_commerce_custom_saved_filters'),
    ]

    operations = [
        migrations.CreateModel(
            name='OpenLeadCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('user_id', models.BigIntegerField()),
                ('open_count', models.IntegerField(default=0)),
                ('org', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='iam.organization')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('org', 'user_id'), name='sales_openleadcount_user')],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
