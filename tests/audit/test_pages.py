"""The console's audit page: search with htmx partials, cursor "more", the diff view, verify; refusals audited."""

from __future__ import annotations

import pytest

from siyu.audit import selectors
from siyu.audit.models import AuditLogEntry
from siyu.kernel.auditing import AuditEntry, record

from .conftest import tamper


def put(org_id, n=1, *, object_id="1", changes=None, action="update"):
    for _ in range(n):
        record(AuditEntry(org_id=org_id, action=action, object_type="test.thing", object_id=object_id,
                          actor_user_id=5, changes=changes or {}))


@pytest.fixture
def admin(admin_membership, login_client):
    return login_client(admin_membership)


def test_page_renders_the_search_form_and_latest_entries(org, admin):
    put(org.pk, object_id="visible")
    r = admin.get("/audit/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'data-testid="audit-search"' in html and 'hx-get="/audit/"' in html
    assert "visible" in html and 'data-testid="audit-verify"' in html and 'data-testid="audit-export"' in html


def test_htmx_search_returns_only_the_results_partial(org, admin):
    put(org.pk, object_id="alpha")
    put(org.pk, object_id="beta")
    r = admin.get("/audit/", {"object_type": "test.thing", "object_id": "beta"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200
    assert html.lstrip().startswith('<div id="audit-results">') and "<html" not in html
    assert "beta" in html and "alpha" not in html


def test_more_button_pages_by_cursor(org, admin, monkeypatch):
    from siyu.audit import pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for i in range(5):
        put(org.pk, object_id=f"obj-{i}")  # a hyphen: never part of the page's random CSRF token
    first = admin.get("/audit/", {"object_type": "test.thing"}).content.decode()
    assert "obj-4" in first and "obj-3" in first and "obj-2" not in first
    cursor = selectors.page_entries(actor=_actor(org), filters=selectors.EntryFilters(object_type="test.thing"),
                                    cursor=None, limit=2).next_cursor
    assert 'data-testid="audit-more"' in first
    more = admin.get("/audit/", {"object_type": "test.thing", "cursor": cursor}, HTTP_HX_REQUEST="true").content.decode()
    assert "<table" not in more and "obj-2" in more and "obj-1" in more and "obj-4" not in more
    assert 'id="audit-more-row"' in more


def _actor(org):
    from siyu.kernel.actor import Actor

    return Actor.system(org.pk)


def test_detail_shows_the_before_after_diff(org, admin):
    put(org.pk, changes={"name": ["Old name", "New name"], "mobile": ["138****5678", None]})
    entry = AuditLogEntry.objects.chain(org.pk).filter(object_type="test.thing").get()
    html = admin.get(f"/audit/{entry.pk}/").content.decode()
    assert 'data-testid="audit-diff"' in html
    assert '<del class="text-danger">Old name</del>' in html and '<ins class="text-success">New name</ins>' in html
    assert '<ins class="text-success">∅</ins>' in html and entry.hash in html


def test_verify_button_shows_the_result(org, admin):
    put(org.pk, 3)
    total = AuditLogEntry.objects.chain(org.pk).count()
    r = admin.post("/audit/verify/", HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 200
    assert f"{total} entries, chain intact." in r.content.decode()
    victim = AuditLogEntry.objects.chain(org.pk).order_by("seq")[1]
    tamper("UPDATE audit_auditlogentry SET action = 'x' WHERE id = %s", [victim.pk])
    html = admin.post("/audit/verify/", HTTP_HX_REQUEST="true").content.decode()
    assert "alert-danger" in html and f"/audit/{victim.pk}/" in html


def test_chinese_is_the_default_language(org, admin):
    html = admin.get("/audit/").content.decode()
    assert "审计日志" in html and "校验哈希链" in html and "搜索" in html


def test_invalid_filters_show_a_message_not_an_error(org, admin):
    r = admin.get("/audit/", {"actor_user_id": "abc", "since": "2026-13-45"})
    assert r.status_code == 200 and "alert-warning" in r.content.decode()
    r = admin.get("/audit/", {"cursor": "garbage"})
    assert r.status_code == 200 and "alert-warning" in r.content.decode()


def test_member_without_permission_is_refused_and_the_refusal_recorded(org, make_member, login_client):
    member = make_member(org, "rep@acme.example", permissions=("iam.user.read",))
    client = login_client(member)
    before = AuditLogEntry.objects.chain(org.pk).filter(action="denied").count()
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/verify/").status_code == 403
    denied = list(AuditLogEntry.objects.chain(org.pk).filter(action="denied").order_by("seq"))[before:]
    assert [(d.actor_user_id, d.meta["status"], d.meta["path"]) for d in denied] == [
        (member.user_id, 403, "/audit/"), (member.user_id, 403, "/audit/verify/")]


def test_another_organisations_entry_is_not_found(org, admin, make_org):
    other = make_org("Other").org
    put(other.pk, object_id="secret")
    theirs = AuditLogEntry.objects.chain(other.pk).filter(object_id="secret").get()
    r = admin.get(f"/audit/{theirs.pk}/")
    assert r.status_code == 404 and "secret" not in r.content.decode()
    assert AuditLogEntry.objects.chain(org.pk).filter(action="denied", meta__status=404).count() == 1
    assert "secret" not in admin.get("/audit/", {"limit": 200}).content.decode()


def test_anonymous_visitors_are_sent_to_login(db, client):
    r = client.get("/audit/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")
