"""pytest support for suites that use the audit log (imported by ``tests/conftest.py``).

Django empties the database after a transactional test with ``DELETE FROM`` on SQLite, which the append-only
triggers refuse. Before that flush, this fixture lifts the triggers, empties the audit tables itself and
puts the triggers back, so they guard every test. PostgreSQL flushes with TRUNCATE, which is not trapped.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest


def _transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    names = set(request.fixturenames)
    return bool(names & {"transactional_db", "live_server", "django_db_reset_sequences"})


@contextmanager
def triggers_lifted(connection):
    """Dangerous, for tests only: run raw SQL against the audit tables as someone who can drop triggers."""
    from siyu.audit import triggers

    triggers.drop(connection)
    try:
        yield
    finally:
        triggers.install(connection)


@pytest.fixture(autouse=True)
def audit_log_flushable(request):
    if not _transactional(request):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so its flush runs after our teardown
    yield
    from django.db import connection

    if connection.vendor == "sqlite":
        with triggers_lifted(connection), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditlogentry")
            cursor.execute("DELETE FROM audit_auditcheckpoint")
