"""Expression indexes for custom fields marked ``indexed`` (PostgreSQL only): the one sanctioned DDL at run time.

For a field ``k`` the index is built on exactly the expression equality filters use (``JsonText``), then ``id``:

* on a standard object's table: ``CREATE INDEX CONCURRENTLY IF NOT EXISTS siyu_cf_<id> ON iam_membership
  (((custom ->> 'k')), id) WHERE org_id = <org>`` (partial: only that organisation's rows, whose definitions
  these are);
* on ``platform_customrecord``: ``… (((data ->> 'k')), id) WHERE object_id = <object definition id>``;
* personal types index their blind index (``data -> 'k' ->> 'bi'``), money its amount.

Why ``id`` second: lists page by ``id DESC`` (keyset). With the value alone, PostgreSQL has to fetch every row
with that value and sort them, and because it keeps no statistics on a partial index's expression it guesses
0.5 % of the table and often walks the primary key backwards instead, filtering (measured on 1M leads, a value
held by 1,000 of them: 55 ms reading 60K rows). With ``(value, id)`` an equality filter reads the page's 51
index entries in order (0.5 ms). An index of the older, value-only shape is rebuilt by :func:`sync_indexes`,
which runs after every ``migrate``.

Why this is safe at run time: ``CONCURRENTLY`` builds the index without blocking reads or writes (it takes a
SHARE UPDATE EXCLUSIVE lock, which conflicts only with other schema changes and vacuum), it never rewrites the
table, and ``IF NOT EXISTS`` / ``IF EXISTS`` make it idempotent. It cannot run inside a transaction, so it runs
from ``transaction.on_commit`` after the request's transaction committed (a rolled-back definition never gets an
index). A build that fails leaves an INVALID index: :func:`create_index` drops it and :func:`sync_indexes`
(re)creates whatever is missing or invalid, so running it again always converges. On SQLite nothing is done:
embedded installations are small and SQLite cannot index into per-organisation JSON keys this way.

Identifiers and literals in the DDL come from validated keys (``[a-z][a-z0-9_]*``) and integer ids only.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction

from .field_types import registry
from .field_types.base import KEY_RE
from .models import CustomRecord, FieldDefinition, ObjectDefinition
from .objects import standard_object

log = logging.getLogger(__name__)


def index_name(fd: FieldDefinition) -> str:
    return f"siyu_cf_{int(fd.pk)}"


def _target(fd: FieldDefinition, obj: ObjectDefinition) -> tuple[str, str, str] | None:
    """(table, JSON column, WHERE clause) for the field's index, or None when the object has no table."""
    std = standard_object(obj.key)
    if std is not None:
        return std.model._meta.db_table, std.custom_column, f"org_id = {int(obj.org_id)}"
    return CustomRecord._meta.db_table, "data", f"object_id = {int(obj.pk)}"


def create_sql(fd: FieldDefinition, obj: ObjectDefinition) -> str | None:
    ft = registry.get(fd.type)
    target = _target(fd, obj)
    if ft is None or target is None or not KEY_RE.match(fd.key):
        return None
    table, column, where = target
    qn = connection.ops.quote_name
    path = [fd.key, *ft.index_path]
    expr = qn(column) + "".join(f" -> '{p}'" for p in path[:-1]) + f" ->> '{path[-1]}'"
    return (f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {qn(index_name(fd))} ON {qn(table)} (({expr}), id) "
            f"WHERE {where}")


def drop_sql(fd: FieldDefinition) -> str:
    return f"DROP INDEX CONCURRENTLY IF EXISTS {connection.ops.quote_name(index_name(fd))}"


def _execute(sql: str) -> None:
    # Runs after commit, in autocommit mode: CONCURRENTLY refuses to run inside a transaction block.
    with connection.cursor() as cursor:
        cursor.execute(sql)


def is_valid(fd: FieldDefinition) -> bool | None:
    """True for a valid index of the current shape; False for an invalid one or one of the older value-only
    shape (both are rebuilt); None when there is none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT i.indisvalid, i.indnatts FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = %s", [index_name(fd)])
        row = cursor.fetchone()
    if row is None:
        return None
    valid, columns = row
    return bool(valid) and columns == 2


def create_index(fd: FieldDefinition, obj: ObjectDefinition) -> None:
    sql = create_sql(fd, obj)
    if connection.vendor != "postgresql" or sql is None:
        return
    try:
        if is_valid(fd) is False:  # invalid, or of the older shape: IF NOT EXISTS would keep it
            _execute(drop_sql(fd))
        _execute(sql)
    except Exception:  # noqa: BLE001 - the definition is committed; a later sync_indexes retries
        log.exception("creating index %s failed", index_name(fd))
        try:
            _execute(drop_sql(fd))
        except Exception:  # noqa: BLE001
            log.exception("dropping invalid index %s failed", index_name(fd))


def drop_index(fd: FieldDefinition) -> None:
    if connection.vendor != "postgresql":
        return
    try:
        _execute(drop_sql(fd))
    except Exception:  # noqa: BLE001 - an index left behind costs writes, not correctness; sync_indexes retries
        log.exception("dropping index %s failed", index_name(fd))


def create_on_commit(fd: FieldDefinition, obj: ObjectDefinition) -> None:
    if connection.vendor == "postgresql":
        transaction.on_commit(lambda: create_index(fd, obj))


def drop_on_commit(fd: FieldDefinition, obj: ObjectDefinition) -> None:
    if connection.vendor == "postgresql":
        transaction.on_commit(lambda: drop_index(fd))


def sync_indexes() -> dict[str, int]:
    """Converge every organisation's indexes on the definitions (run after every ``migrate``, see ``apps``):
    create missing, invalid or older-shaped ones for indexed fields, drop those of unindexed or archived fields."""
    done = {"created": 0, "dropped": 0}
    if connection.vendor != "postgresql":
        return done
    fields = FieldDefinition.objects.unscoped_all_orgs().select_related("object")
    for fd in fields.iterator():
        state = is_valid(fd)
        if fd.indexed and fd.archived_at is None and state is not True:
            create_index(fd, fd.object)
            done["created"] += 1
        elif (not fd.indexed or fd.archived_at is not None) and state is not None:
            drop_index(fd)
            done["dropped"] += 1
    return done
