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


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Argon2id costs ~50 ms a hash by design; these tests hash hundreds of times and test no hashing strength
    (``test_passwords_are_argon2id`` restores the real hasher)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
