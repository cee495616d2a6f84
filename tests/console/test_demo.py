"""``siyu demo``: the demo organisation, idempotent, with credentials kept under var/."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from siyu.audit.models import AuditLogEntry
from siyu.iam.models import Department, Membership, Organization, Role, User
from siyu.kernel.actor import Actor


def run_demo(*args) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def credentials():
    path = Path(settings.VAR_DIR) / "demo_credentials.txt"
    path.unlink(missing_ok=True)
    yield path
    path.unlink(missing_ok=True)


def stored_password(path: Path) -> str:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)["password"]


def test_demo_creates_the_organisation_once_and_reuses_it(db, credentials):
    first = run_demo("--url", "http://127.0.0.1:9000/")
    password = stored_password(credentials)
    assert "Demo organisation created / 示例组织已创建: 示例科技有限公司 / Demo Co." in first
    assert "http://127.0.0.1:9000/" in first and "admin@demo.siyu.local" in first and password in first
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"

    org = Organization.objects.get(name="示例科技有限公司 / Demo Co.")
    system = Actor.system(org.pk)
    parents = {d.name: (d.parent.name if d.parent else None) for d in Department.objects.in_org(system)}
    assert parents == {"总部": None, "销售部": "总部", "华东": "销售部", "华南": "销售部", "市场部": "总部", "客服部": "总部"}
    members = Membership.objects.in_org(system).select_related("user", "department")
    assert members.count() == 11
    wang = members.get(user__email="wang.wei@demo.siyu.local")
    assert (wang.user.name, wang.title, wang.department.name) == ("王伟", "销售总监", "销售部")
    assert [r.name for r in wang.roles.all()] == ["Sales manager"]
    assert wang.mobile and "13800138001" not in wang.mobile and wang.mobile_index  # encrypted at rest
    assert {"Administrator", "Sales manager", "Sales rep", "Marketing", "Service agent"} == set(
        Role.objects.in_org(system).values_list("name", flat=True)
    )
    admin = User.objects.get(email="admin@demo.siyu.local")
    assert admin.check_password(password)
    assert members.get(user=admin).roles.get().is_admin
    audited = AuditLogEntry.objects.count()
    assert audited >= 1 + 5 + 2 + 10  # organisation, departments (4 new + root renamed), roles, members

    second = run_demo()
    assert "Demo organisation reused / 示例组织已存在，沿用" in second and password in second
    assert "member(s) added" not in second
    assert Organization.objects.filter(name="示例科技有限公司 / Demo Co.").count() == 1
    assert Membership.objects.in_org(system).count() == 11
    assert Department.objects.in_org(system).count() == 6
    assert stored_password(credentials) == password
    assert AuditLogEntry.objects.count() == audited  # the second run wrote nothing


def test_demo_gives_a_new_password_when_the_credentials_file_is_lost(db, credentials):
    run_demo()
    old = stored_password(credentials)
    credentials.unlink()
    out = run_demo()
    new = stored_password(credentials)
    assert new != old and new in out
    assert "was reset / 管理员密码与保存的不一致，已重置" in out
    assert User.objects.get(email="admin@demo.siyu.local").check_password(new)
