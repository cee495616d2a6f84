"""Audit fixtures: chains of synthetic organisations (the log has no foreign key, so any id is a chain) and
an attacker who can lift the triggers."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection

from siyu.audit.models import AuditLogEntry
from siyu.audit.testing import triggers_lifted
from siyu.kernel.auditing import AuditEntry, record

CHAIN = 900_001  # an organisation id nothing else in a test writes to


def append_n(org_id: int | None, n: int, *, action: str = "update", start: int = 0) -> None:
    for i in range(start, start + n):
        record(AuditEntry(org_id=org_id, action=action, object_type="test.thing", object_id=str(i),
                          actor_user_id=7, changes={"name": [f"old{i}", f"new{i}"]}, ip="10.0.0.1"))


def rows(org_id: int | None) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.chain(org_id).order_by("seq"))


def tamper(sql: str, params: list | None = None) -> None:
    """An attacker with database access: lift the triggers, run raw SQL, put them back."""
    with triggers_lifted(connection), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def raw(sql: str, params: list | None = None) -> None:
    """Raw SQL as the application could issue it: the triggers are in place."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


@pytest.fixture
def chain(db):
    append_n(CHAIN, 6)
    return CHAIN


@pytest.fixture
def old_chain(db):
    """Entries 1-4 written 200 days ago, 5-6 today."""
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=200), tick=True):
        append_n(CHAIN, 4)
    append_n(CHAIN, 2, start=4)
    return CHAIN
