"""Console pages of the CDP: the customer list with search and filters, the 360° page and its htmx sections,
the audited reveal, merge reviews, the merge log and the lifecycle stage settings."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.audit.models import AuditLogEntry
from siyu.cdp import profiles
from siyu.cdp.identifiers import normalise
from siyu.cdp.models import (
    LifecycleStageDefinition,
    MergeLog,
    MergeReview,
    Profile,
    ProfileStatus,
    ProfileTag,
)
from siyu.cdp.resolution import resolve_profile
from siyu.kernel.actor import DataScope
from siyu.platform import services as platform

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def admin(login_client, admin_membership):
    c = login_client(admin_membership)
    c.cookies["django_language"] = "en"
    return c


@pytest.fixture
def customer(admin_actor):
    platform.create_field(actor=admin_actor, object_key="cdp.profile", key="level", label="Level", type="text")
    return profiles.create_profile(actor=admin_actor, data={"name": "王小明", "city": "上海"}, custom={"level": "金卡"},
                                   identifiers=[{"type": "phone", "value": "13812345678"},
                                                {"type": "email", "value": "xm@example.cn"}]).profile


def test_pages_need_a_login(client, customer):
    for url in ("/customers/", f"/customers/profiles/{customer.pk}/", "/customers/merge-reviews/"):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/"), url


def test_list_shows_custom_columns_search_and_filters(admin, customer, admin_actor):
    other = profiles.create_profile(actor=admin_actor, data={"name": "李雷"}).profile
    r = admin.get("/customers/")
    html = r.content.decode()
    assert r.status_code == 200
    assert html.count('data-testid="cdp-row"') == 2
    assert "Level" in html and "金卡" in html and "王小明" in html
    r = admin.get("/customers/", {"q": "小明"})
    assert r.content.decode().count('data-testid="cdp-row"') == 1
    r = admin.get("/customers/", {"q": "138-1234-5678"})
    assert "Exact match on an identifier." in r.content.decode() and "王小明" in r.content.decode()
    r = admin.get("/customers/", {"f_field": "level", "f_op": "eq", "f_value": "金卡"})
    assert r.content.decode().count('data-testid="cdp-row"') == 1
    r = admin.get("/customers/", {"filter[level][is_empty]": "true"})
    assert f"/customers/profiles/{other.pk}/" in r.content.decode()
    assert f"/customers/profiles/{customer.pk}/" not in r.content.decode()
    r = admin.get("/customers/", {"f_field": "level", "f_op": "gt", "f_value": "x"})
    assert "check the filters" in r.content.decode()


def test_list_pages_with_keyset_more(admin, admin_actor):
    for n in range(55):
        profiles.create_profile(actor=admin_actor, data={"name": f"客户{n:02d}"})
    html = admin.get("/customers/").content.decode()
    assert html.count('data-testid="cdp-row"') == 50 and 'data-testid="cdp-more"' in html
    cursor = html.split("cursor=")[1].split('"')[0].replace("&amp;", "&")
    more = admin.get(f"/customers/?cursor={cursor}", **HTMX).content.decode()
    assert more.count('data-testid="cdp-row"') == 5 and "客户00" in more and "<html" not in more


def test_360_page_shows_masked_identities_and_reveals_with_an_audited_reason(admin, customer, org):
    html = admin.get(f"/customers/profiles/{customer.pk}/").content.decode()
    assert "138****5678" in html and "13812345678" not in html and "x***@example.cn" in html
    assert 'data-testid="cdp-reveal"' in html
    identity = customer.identities.get(type="phone")
    url = f"/customers/profiles/{customer.pk}/identities/{identity.pk}/reveal/"
    r = admin.post(url, {"reason": ""}, **HTMX)
    assert r.status_code == 422
    assert not AuditLogEntry.objects.filter(org_id=org.pk, action="unmask").exists()
    r = admin.post(url, {"reason": "回访客户"}, **HTMX)
    assert r.status_code == 200 and "+8613812345678" in r.content.decode()
    entry = AuditLogEntry.objects.get(org_id=org.pk, action="unmask")
    assert (entry.meta["reason"], entry.object_id) == ("回访客户", str(identity.pk))


def test_without_unmask_no_reveal_button_and_a_refused_reveal(customer, member_with, org):
    member, _ = member_with("reader@acme.example", permissions=("cdp.profile.read",))
    c = Client()
    c.post("/login/", {"email": "reader@acme.example", "password": "correct horse battery staple"})
    html = c.get(f"/customers/profiles/{customer.pk}/").content.decode()
    assert "138****5678" in html and 'data-testid="cdp-reveal"' not in html
    identity = customer.identities.get(type="phone")
    r = c.post(f"/customers/profiles/{customer.pk}/identities/{identity.pk}/reveal/", {"reason": "x"})
    assert r.status_code == 403
    assert "+8613812345678" not in r.content.decode()
    assert not AuditLogEntry.objects.filter(org_id=org.pk, action="unmask").exists()
    assert AuditLogEntry.objects.filter(org_id=org.pk, action="denied").exists()


def test_sections_tags_consent_lifecycle_owner_by_htmx(admin, customer, admin_membership):
    base = f"/customers/profiles/{customer.pk}"
    r = admin.post(f"{base}/tags/", {"group": "价值", "name": "VIP"}, **HTMX)
    assert r.status_code == 200 and "VIP" in r.content.decode() and "<html" not in r.content.decode()
    link = ProfileTag.objects.get(profile=customer)
    r = admin.post(f"{base}/tags/{link.tag_id}/remove/", **HTMX)
    assert r.status_code == 200 and not ProfileTag.objects.filter(profile=customer).exists()
    r = admin.post(f"{base}/consent/", {"purpose": "marketing", "channel": "wecom", "granted": "true"}, **HTMX)
    assert r.status_code == 200 and 'data-testid="cdp-consent-withdraw"' in r.content.decode()
    ledger = admin.get(f"{base}/consent/", **HTMX).content.decode()
    assert "wecom" in ledger and "console" in ledger
    r = admin.post(f"{base}/consent/", {"purpose": "nope", "granted": "true"}, **HTMX)
    assert r.status_code == 422
    r = admin.post(f"{base}/lifecycle/", {"stage": "opportunity"}, **HTMX)
    assert r.status_code == 200 and Profile.objects.get(pk=customer.pk).lifecycle_stage == "opportunity"
    chart = admin.get(f"{base}/lifecycle.json").json()
    assert chart["title"] == "Days in stage" and [i["name"] for i in chart["items"]] == ["Opportunity"]
    r = admin.post(f"{base}/owner/", {"owner_id": ""}, **HTMX)
    assert r.status_code == 200 and Profile.objects.get(pk=customer.pk).owner_id is None
    r = admin.post(f"{base}/owner/", {"owner_id": str(admin_membership.user_id)})
    assert r.status_code == 302 and Profile.objects.get(pk=customer.pk).owner_id == admin_membership.user_id
    html = admin.get(f"{base}/").content.decode()
    for label in ("Tag added", "Tag removed", "Consent granted", "Lifecycle stage changed", "Owner changed"):
        assert label in html, label


def test_timeline_more_pages(admin, customer):
    from siyu.cdp.timeline import add_entry

    for n in range(30):
        add_entry(profile=customer, kind="event", data={"name": f"事件{n}"})
    html = admin.get(f"/customers/profiles/{customer.pk}/").content.decode()
    assert html.count('data-testid="cdp-timeline-item"') == 20
    cursor = html.split("timeline/?cursor=")[1].split('"')[0]
    more = admin.get(f"/customers/profiles/{customer.pk}/timeline/?cursor={cursor}", **HTMX).content.decode()
    assert more.count('data-testid="cdp-timeline-item"') == 11 and "cdp-timeline-more" not in more


def test_outsiders_get_404_on_every_record_page_and_nothing_changes(customer, make_org, member_with, cdp_state):
    bravo = make_org("Bravo")
    other = Client()
    other.post("/login/", {"email": bravo.user.email, "password": "correct horse battery staple"})
    member_with("own@acme.example", scope=DataScope.OWN, permissions=("*",))
    scoped = Client()
    scoped.post("/login/", {"email": "own@acme.example", "password": "correct horse battery staple"})
    identity = customer.identities.first()
    before = cdp_state()
    for c in (other, scoped):
        for url in (f"/customers/profiles/{customer.pk}/", f"/customers/profiles/{customer.pk}/timeline/",
                    f"/customers/profiles/{customer.pk}/lifecycle.json", f"/customers/profiles/{customer.pk}/consent/"):
            assert c.get(url).status_code == 404, url
        for url, data in ((f"/customers/profiles/{customer.pk}/tags/", {"group": "g", "name": "n"}),
                          (f"/customers/profiles/{customer.pk}/consent/", {"purpose": "marketing", "granted": "true"}),
                          (f"/customers/profiles/{customer.pk}/lifecycle/", {"stage": "order"}),
                          (f"/customers/profiles/{customer.pk}/owner/", {"owner_id": ""}),
                          (f"/customers/profiles/{customer.pk}/identities/{identity.pk}/reveal/", {"reason": "r"})):
            assert c.post(url, data).status_code == 404, url
    assert cdp_state() == before
    for c in (other, scoped):
        assert 'data-testid="cdp-row"' not in c.get("/customers/", {"q": "王小明"}).content.decode()


def test_merge_review_page_approve_and_merge_log_undo(admin, admin_actor):
    a = resolve_profile(actor=admin_actor, identifiers=[normalise("phone", "13800001111"),
                                                        normalise("unionid", "uA")]).profile
    b = resolve_profile(actor=admin_actor, identifiers=[normalise("phone", "13800002222"),
                                                        normalise("unionid", "uB")]).profile
    review = resolve_profile(actor=admin_actor, identifiers=[normalise("phone", "13800001111"),
                                                             normalise("phone", "13800002222")]).review
    html = admin.get("/customers/merge-reviews/").content.decode()
    assert html.count('data-testid="cdp-review"') == 1 and "138****1111" in html
    r = admin.post(f"/customers/merge-reviews/{review.pk}/approve/")
    assert r.status_code == 302
    assert MergeReview.objects.get(pk=review.pk).status == "approved"
    assert Profile.objects.get(pk=b.pk).status == ProfileStatus.MERGED
    log = MergeLog.objects.get(survivor=a)
    assert 'data-testid="cdp-unmerge"' in admin.get("/customers/merges/").content.decode()
    assert admin.post(f"/customers/merges/{log.pk}/unmerge/").status_code == 302
    assert Profile.objects.get(pk=b.pk).status == ProfileStatus.ACTIVE
    assert 'data-testid="cdp-unmerge"' not in admin.get("/customers/merges/").content.decode()


def test_stage_settings_rename_reorder_add(admin, admin_actor, org):
    r = admin.get("/customers/lifecycle-stages/")
    assert r.status_code == 200 and r.content.decode().count('data-testid="cdp-stage-row"') == 6
    keys = ["acquisition", "nurturing", "opportunity", "order", "service", "repurchase", "vip"]
    data = {"key": keys, "label": ["获客", "培育", "商机", "成交", "服务", "复购", "大客户"],
            "position": ["2", "1", "3", "4", "5", "6", "7"], "remove": ["repurchase"]}
    r = admin.post("/customers/lifecycle-stages/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    stages = list(LifecycleStageDefinition.objects.filter(org=org).order_by("order").values_list("key", "label"))
    assert stages == [("nurturing", "培育"), ("acquisition", "获客"), ("opportunity", "商机"), ("order", "成交"),
                      ("service", "服务"), ("vip", "大客户")]
    r = admin.post("/customers/lifecycle-stages/", {"key": ["Bad"], "label": ["x"], "position": ["1"]})
    assert r.status_code == 422


def test_create_form_matches_a_duplicate(admin, customer):
    r = admin.post("/customers/new/", {"name": "新客户", "kind": "person", "phone": "+86 138 1234 5678"})
    assert r.status_code == 302 and r["Location"] == f"/customers/profiles/{customer.pk}/"
    r = admin.post("/customers/new/", {"name": "另一个", "kind": "person", "phone": "12"})
    assert r.status_code == 422
    r = admin.post("/customers/new/", {"name": "张三", "kind": "person"})
    assert r.status_code == 302 and Profile.objects.filter(name="张三").exists()


def test_pages_render_in_chinese(login_client, admin_membership, customer):
    c = login_client(admin_membership)
    c.cookies["django_language"] = "zh-hans"
    html = c.get(f"/customers/profiles/{customer.pk}/").content.decode()
    assert "身份标识" in html and "时间线" in html and "同意" in html
    assert "客户" in c.get("/customers/").content.decode()
