"""The console shell: layout, navigation per permission, empty states, the dashboard chart data, languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from siyu.console import navigation
from siyu.console.middleware import CSP
from siyu.iam import services as iam
from siyu.iam.models import Department
from siyu.kernel.actor import Actor, DataScope


def nav_keys(html: str) -> set[str]:
    return set(re.findall(r'data-nav-key="([^"]+)"', html))


def test_anonymous_visitor_is_sent_to_login(db):
    r = Client().get("/")
    assert r.status_code == 302
    assert r["Location"] == "/login/?next=/"


def test_home_is_chinese_by_default_and_english_after_switching(admin_membership, console_client):
    c = console_client(admin_membership)
    html = c.get("/").content.decode()
    assert '<html lang="zh-hans"' in html
    assert "<title>工作台 · Siyu</title>" in html
    assert ">客户画像<" in html and ">审计日志<" in html
    assert "欢迎，" in html

    r = c.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert r.status_code == 302 and r["Location"] == "/"
    html = c.get("/").content.decode()
    assert '<html lang="en"' in html
    assert "<title>Dashboard · Siyu</title>" in html
    assert ">Customer profiles<" in html and ">Audit log<" in html
    assert "Welcome, " in html


def test_layout_has_csrf_for_htmx_no_inline_script_and_a_strict_csp(admin_membership, console_client):
    r = console_client(admin_membership).get("/")
    html = r.content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([A-Za-z0-9]+)"\}\'', html)
    assert token and len(token.group(1)) == 64
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert [src for src, _ in scripts] == [
        ' src="/static/vendor/bootstrap/js/bootstrap.bundle.min.js"',
        ' src="/static/vendor/htmx/htmx.min.js"',
        ' src="/static/console/console.js"',
        ' src="/static/vendor/echarts/echarts.min.js"',
        ' src="/static/console/charts.js"',
    ]
    assert all(body.strip() == "" for _, body in scripts)
    assert r["Content-Security-Policy"] == CSP
    assert "script-src 'self';" in CSP


def test_administrator_sees_a_place_for_every_context(admin_membership, console_client):
    html = console_client(admin_membership).get("/").content.decode()
    sections = set(re.findall(r'data-section="([^"]+)"', html))
    assert sections == {"home", "cdp", "channels", "marketing", "sales", "servicedesk", "platform", "analytics",
                        "intelligence", "compliance", "integrations", "settings"}
    assert {"settings.users", "settings.departments", "settings.roles", "settings.data_scopes",
            "settings.field_security", "settings.fields", "settings.api_keys", "settings.audit"} <= nav_keys(html)
    assert 'aria-current="page" data-nav-key="home.dashboard"' in html


def test_navigation_shows_only_what_the_roles_allow(org, make_member, console_client):
    member = make_member(org, "rep@acme.example", permissions=["iam.user.read"])
    html = console_client(member).get("/").content.decode()
    assert nav_keys(html) == {"home.dashboard", "settings.users"}


def test_empty_state_page_says_what_the_context_will_do(admin_membership, console_client):
    # The service desk is not built yet: its page is an honest empty state in both languages.
    c = console_client(admin_membership)
    html = c.get("/planned/servicedesk.tickets/").content.decode()
    assert "尚未构建" in html
    assert "来自各渠道的服务请求，按技能、区域和负载派单，并按 SLA 跟踪。" in html
    assert "基于工作日历的 SLA 计时" in html
    assert 'aria-current="page" data-nav-key="servicedesk.tickets"' in html
    c.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = c.get("/planned/servicedesk.tickets/").content.decode()
    assert "Not built yet" in html and "dispatched by skill, area and load, tracked against SLAs." in html


def test_empty_state_of_a_context_the_actor_may_not_see_is_not_found(org, make_member, console_client):
    member = make_member(org, "rep@acme.example", permissions=["iam.user.read"])
    c = console_client(member)
    assert c.get("/planned/sales.opportunities/").status_code == 404
    assert c.get("/planned/no.such.page/").status_code == 404


def test_unknown_pages_answer_404_inside_the_layout(admin_membership, console_client):
    r = console_client(admin_membership).get("/no/such/page/")
    html = r.content.decode()
    assert r.status_code == 404
    assert "这里什么也没有" in html and 'id="siyu-nav"' in html


def test_an_entry_whose_page_exists_links_there_and_its_empty_state_redirects(
    admin_membership, console_client, monkeypatch
):
    monkeypatch.setitem(navigation._entries, "sales.opportunities",
                        navigation.Entry("sales.opportunities", "sales", "Opps", "sales.opportunity.read",
                                         url_name="console_members_by_department"))
    c = console_client(admin_membership)
    html = c.get("/").content.decode()
    assert 'href="/dashboard/members-by-department.json"' in html
    r = c.get("/planned/sales.opportunities/")
    assert r.status_code == 302 and r["Location"] == "/dashboard/members-by-department.json"


def test_a_context_replaces_a_default_entry_by_key(monkeypatch):
    monkeypatch.setattr(navigation, "_entries", dict(navigation._entries))
    navigation.register({"key": "cdp.profiles", "section": "cdp", "label": "Profiles v2",
                         "permission": "cdp.profile.read", "url_name": "home", "planned": ["a", "b"]})
    entry = navigation.entry("cdp.profiles")
    assert entry.label == "Profiles v2" and entry.planned == ("a", "b")
    assert navigation.resolve(entry) == ("/", True)
    with pytest.raises(ValueError, match="unknown section"):
        navigation.register({"key": "x.y", "section": "nowhere", "label": "X", "permission": ""})


def test_menu_marks_only_the_longest_matching_link_active(admin_actor):
    groups = navigation.menu(admin_actor, "/planned/marketing.journeys/")
    active = [link.entry.key for g in groups for link in g.links if link.active]
    assert active == ["marketing.journeys"]
    assert [g.section.key for g in groups if g.active] == ["marketing"]


def test_members_per_department_counts_what_the_actor_may_see(org, admin_membership, make_member, console_client):
    admin = Actor.system(org.pk)
    east = iam.add_department(actor=admin, name="East", parent=None)
    make_member(org, "a@acme.example", department=east, permissions=["iam.user.read"])
    own = make_member(org, "b@acme.example", department=east, permissions=["iam.user.read"], scope=DataScope.OWN)
    other = iam.create_organization(name="Other", admin_email="boss@other.example",
                                    admin_password="correct horse battery staple")
    make_member(other.org, "x@other.example", department=None)

    data = console_client(admin_membership).get("/dashboard/members-by-department.json").json()
    assert data == {"title": "各部门成员数", "items": [{"name": "East", "count": 2}, {"name": "Acme", "count": 1}]}
    # A member who sees only their own row counts only themselves.
    data = console_client(own).get("/dashboard/members-by-department.json").json()
    assert data["items"] == [{"name": "East", "count": 1}]
    assert Department.objects.in_org(admin).count() == 2


def test_members_per_department_needs_permission_to_view_users(org, make_member, console_client):
    member = make_member(org, "c@acme.example", permissions=["sales.lead.read"])
    c = console_client(member)
    assert c.get("/dashboard/members-by-department.json").status_code == 403
    html = c.get("/").content.decode()
    assert "data-chart-url" not in html and "您的角色不包含查看用户的权限。" in html


def test_every_console_string_is_translated():
    """Every label, summary and bullet of the navigation reads differently in Chinese than in English."""
    texts = [s.label for s in navigation._sections.values()]
    for entry in navigation.all_entries():
        texts += [t for t in (entry.label, entry.summary, *entry.planned) if t]
    untranslated = []
    for text in texts:
        with translation.override("en"):
            en = str(text)
        with translation.override("zh-hans"):
            zh = str(text)
        if en == zh:
            untranslated.append(en)
    assert len(texts) > 80
    assert untranslated == []


def test_catalogue_has_no_empty_or_fuzzy_entries():
    from babel.messages.pofile import read_po

    po = Path(__file__).resolve().parents[2] / "src/siyu/console/locale/zh_Hans/LC_MESSAGES/django.po"
    with po.open("rb") as f:
        catalog = read_po(f)
    ids = [m.id for m in catalog if m.id]
    assert len(ids) > 100
    assert [m.id for m in catalog if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))] == []
    templates = Path(__file__).resolve().parents[2] / "src/siyu/console/templates"
    used = set()
    for path in templates.rglob("*.html"):
        used |= {a or b for a, b in re.findall(r"""{% translate (?:"([^"]+)"|'([^']+)')""", path.read_text())}
    assert len(used) > 30
    assert sorted(used - set(ids)) == []
