"""``column = ANY(array)`` for the thousands of ids or blind indexes a query looks up at once (a CDP import
chunk, the leads of a sales bulk job).

Django renders ``__in`` as one placeholder per value; with psycopg's client-side binding every such query
then parses and sends thousands of literals (a third of an import's run time at 5,000-row chunks). On
PostgreSQL one array parameter does the same through the same index; SQLite keeps ``IN``, batched by the
caller under its variable limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import F, Lookup, Q


class _AnyOf(Lookup):
    lookup_name = "siyu_any_of"
    prepare_rhs = False

    def as_sql(self, compiler, conn):
        lhs, lhs_params = self.process_lhs(compiler, conn)
        # Typed explicitly: psycopg would dump small integers as smallint[], which no bigint index serves.
        cast = "bigint[]" if all(isinstance(v, int) for v in self.rhs) else "text[]"
        return f"{lhs} = ANY(%s::{cast})", [*lhs_params, list(self.rhs)]


def among(column: str, values: Iterable) -> Q:
    """``column`` is one of ``values`` (an array parameter on PostgreSQL, ``IN`` elsewhere)."""
    values = list(values)
    if connection.vendor == "postgresql":
        return Q(_AnyOf(F(column), values))
    return Q(**{f"{column}__in": values})
