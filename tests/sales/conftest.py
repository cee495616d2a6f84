"""Fixtures of the sales tests: an organisation with a department tree, salespeople, and helpers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from siyu.iam import services as iam
from siyu.iam.models import Department, Role
from siyu.iam.selectors import actor_for_membership
from siyu.kernel.actor import Actor, DataScope

PASSWORD = "correct horse battery staple"


@dataclass
class Team:
    org: object
    admin: Actor
    root: Department
    east: Department
    south: Department
    manager: object  # membership (east's manager)
    reps: list  # memberships in east
    south_rep: object

    def actor(self, membership) -> Actor:
        return actor_for_membership(membership)


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    """Members are created with passwords: a fast hasher keeps the suite quick (iam tests check Argon2id)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(org, admin_actor) -> Team:
    system = Actor.system(org.pk)
    root = Department.objects.in_org(system).get(parent__isnull=True)
    sales = iam.add_department(actor=admin_actor, name="销售部", parent=root)
    east = iam.add_department(actor=admin_actor, name="华东", parent=sales)
    south = iam.add_department(actor=admin_actor, name="华南", parent=sales)
    rep_role = Role.objects.get(org=org, name="Sales rep")
    mgr_role = Role.objects.get(org=org, name="Sales manager")
    manager = iam.add_member(actor=admin_actor, email="li.na@acme.example", name="李娜", password=PASSWORD,
                             department=east, roles=[mgr_role])
    reps = [iam.add_member(actor=admin_actor, email=f"rep{i}@acme.example", name=name, password=PASSWORD,
                           department=east, roles=[rep_role])
            for i, name in enumerate(["张敏", "刘洋", "王芳"])]
    south_rep = iam.add_member(actor=admin_actor, email="yang.lei@acme.example", name="杨磊", password=PASSWORD,
                               department=south, roles=[rep_role])
    iam.update_department(actor=admin_actor, department_id=east.pk, changes={"manager_id": manager.user_id})
    return Team(org, admin_actor, root, east, south, manager, reps, south_rep)


@pytest.fixture
def system(org) -> Actor:
    return Actor.system(org.pk, label="test")


@pytest.fixture
def sales_state():
    """Every sales row as values, to prove a refused request changed nothing."""
    from django.apps import apps

    def state() -> dict[str, list]:
        return {m._meta.db_table: sorted(map(repr, m._default_manager.all().values_list()))
                for m in apps.get_app_config("sales").get_models()}

    return state


@pytest.fixture
def send():
    def call(client, method, url, body=None):
        return getattr(client, method)(url, data=body if body is not None else {}, content_type="application/json")

    return call


def scoped_role(org, name, permissions, scope=DataScope.OWN):
    return Role.objects.create(org=org, name=name, permissions=list(permissions), default_scope=scope)
