"""Fixtures of the iam tests: audit entries as plain tuples, and a second organisation."""

from __future__ import annotations

import pytest


@pytest.fixture
def audit_rows(db):
    """The audit log as ``(action, object_type, changes)``, optionally from a given action on."""
    from siyu.audit.models import AuditLogEntry

    def rows(*actions):
        qs = AuditLogEntry.objects.order_by("pk")
        if actions:
            qs = qs.filter(action__in=actions)
        return list(qs.values_list("action", "object_type", "changes"))

    return rows


@pytest.fixture
def other_org(make_org):
    return make_org("Globex").org
