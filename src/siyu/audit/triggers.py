"""Database triggers that make the audit tables append-only below the ORM.

UPDATE of an entry or a checkpoint always raises. DELETE of an entry raises unless all of these hold:

* the entry is older than :data:`MIN_RETENTION_DAYS` by the database's own clock (the legal floor: 180 days);
* a checkpoint of its chain covers its position (the purge writes it first, in the same transaction);
* on PostgreSQL, the transaction has said ``SET LOCAL siyu.audit_purge = 'on'`` (only ``purge.py`` does).

SQLite has no session settings, so there the first two conditions are the gate. TRUNCATE is not trapped on
PostgreSQL (test databases are flushed with it); production should not grant TRUNCATE to the app role.

The SQL is literal (no string building) and versioned: a later change adds ``*_V2`` and a migration, so migration 0002 keeps meaning what it did.
"""

from __future__ import annotations

MIN_RETENTION_DAYS = 180  # written literally into the SQL below (a test checks they agree)

SQLITE_V1 = [
    """CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_auditlogentry
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_auditlogentry
        WHEN NOT (
            OLD.at < datetime('now', '-180 days')
            AND EXISTS (SELECT 1 FROM audit_auditcheckpoint c WHERE c.org_id IS OLD.org_id AND c.seq >= OLD.seq)
        )
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused (younger than retention or no checkpoint)'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_update BEFORE UPDATE ON audit_auditcheckpoint
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: checkpoints cannot change'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_delete BEFORE DELETE ON audit_auditcheckpoint
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: checkpoints cannot be deleted'); END""",
]
SQLITE_V1_DROP = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_update",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete",
]

POSTGRES_V1 = [
    """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_auditlogentry'
           AND current_setting('siyu.audit_purge', true) = 'on'
           AND OLD.at < now() - interval '180 days'
           AND EXISTS (SELECT 1 FROM audit_auditcheckpoint c
                       WHERE c.org_id IS NOT DISTINCT FROM OLD.org_id AND c.seq >= OLD.seq) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
    END $$""",
    """CREATE OR REPLACE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_auditlogentry
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
    """CREATE OR REPLACE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
]
POSTGRES_V1_DROP = [
    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditlogentry",
    "DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_auditcheckpoint",
    "DROP FUNCTION IF EXISTS audit_append_only()",
]


def _statements(vendor: str, *, drop: bool) -> list[str]:
    if vendor == "postgresql":
        return POSTGRES_V1_DROP if drop else POSTGRES_V1
    if vendor == "sqlite":
        return SQLITE_V1_DROP if drop else SQLITE_V1
    raise NotImplementedError(f"no append-only triggers for {vendor}")


def install(connection) -> None:
    # cursor.execute without params: SQLite's wrapper would otherwise treat '%' as a placeholder
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, drop=False):
            cursor.execute(sql)


def drop(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, drop=True):
            cursor.execute(sql)


def install_forwards(apps, schema_editor) -> None:
    install(schema_editor.connection)


def drop_backwards(apps, schema_editor) -> None:
    drop(schema_editor.connection)
