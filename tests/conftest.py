"""Shared fixtures: organisations, members with roles, actors and API clients.

The suite runs twice in `make test`: on SQLite, and on PostgreSQL through scripts/with_postgres.py.
"""

from __future__ import annotations

import os

import pytest
from django.test import Client

from siyu.audit.testing import audit_log_flushable  # noqa: F401  (append-only audit log vs. the test flush)
from siyu.iam import services as iam
from siyu.iam.models import Role
from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import DataScope

PASSWORD = "correct horse battery staple"


def pytest_report_header(config):
    from django.conf import settings

    return f"siyu database: {settings.DATABASES['default']['ENGINE']} (CI={os.environ.get('CI', '')})"


@pytest.fixture(autouse=True)
def _fresh_metadata_memo():
    """Object metadata is memoised per process under a token kept in the cache; a rolled-back test's database
    cache goes with it but the memo would stay, and SQLite reuses ids after a rollback."""
    from siyu.platform import meta_cache

    meta_cache.clear()


@pytest.fixture
def make_org(db):
    def make(name="Acme", email=None):
        email = email or f"admin@{name.lower().replace(' ', '')}.example"
        return iam.create_organization(name=name, admin_email=email, admin_password=PASSWORD)

    return make


@pytest.fixture
def admin_membership(make_org):
    return make_org("Acme")


@pytest.fixture
def org(admin_membership):
    return admin_membership.org


@pytest.fixture
def admin_actor(admin_membership):
    return actor_for_membership(admin_membership)


@pytest.fixture
def make_member(db):
    def make(org, email, *, permissions=("*",), scope=DataScope.OWN, department=None, role_name=None):
        admin = actor_for_membership(org_admin(org))
        role = Role.objects.create(org=org, name=role_name or f"role-{email}", permissions=list(permissions),
                                   default_scope=scope)
        return iam.add_member(actor=admin, email=email, password=PASSWORD, department=department, roles=[role])

    return make


def org_admin(org):
    from siyu.iam.models import Membership
    from siyu.kernel.actor import Actor

    return Membership.objects.visible_to(Actor.system(org.pk)).filter(roles__is_admin=True).first()


@pytest.fixture
def api_client(db):
    """A client for an actor's organisation with an API key holding the given scopes."""

    def make(org, scopes=("*",)):
        from siyu.kernel.actor import Actor

        _, raw = iam.issue_api_key(actor=Actor.system(org.pk), name="test", scopes=list(scopes))
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


@pytest.fixture
def login_client(db):
    def make(membership):
        c = Client()
        r = c.post("/login/", {"email": membership.user.email, "password": PASSWORD})
        assert r.status_code in (302, 303), r.content[:500]
        return c

    return make
