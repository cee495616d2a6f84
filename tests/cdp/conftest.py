"""Fixtures of the CDP profile, search and page tests: API clients and a snapshot of the CDP tables."""

from __future__ import annotations

import pytest

from siyu.iam.models import Role
from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import DataScope


@pytest.fixture
def api(api_client, org):
    """Organisation A's API client with every permission."""
    return api_client(org)


@pytest.fixture
def send():
    """``send(client, "post", url, body)``: a JSON request."""

    def call(client, method, url, body=None):
        return getattr(client, method)(url, data=body if body is not None else {}, content_type="application/json")

    return call


@pytest.fixture
def cdp_state():
    """Every CDP row as values, to prove a refused request changed nothing."""
    from django.apps import apps

    def state() -> dict[str, list]:
        return {m._meta.db_table: sorted(map(repr, m._default_manager.all().values_list()))
                for m in apps.get_app_config("cdp").get_models()}

    return state


@pytest.fixture
def member_with(make_member, org):
    """A member of organisation A with the given permissions, scope and field rules, and their actor."""

    def make(email, permissions=("cdp.*",), scope=DataScope.ORGANIZATION, field_rules=(), department=None):
        m = make_member(org, email, permissions=permissions, scope=scope, department=department)
        role = Role.objects.get(name=f"role-{email}")
        for field_name, access in field_rules:
            role.field_rules.create(object_key="cdp.profile", field_name=field_name, access=access)
        return m, actor_for_membership(m)

    return make
