"""Console create/edit/list/detail pages of the commerce objects: field errors shown per field with nothing
written, custom fields as form inputs and list columns, frozen documents refused, saved filters per person,
another organisation's records a 404 with nothing changed; the lead list shows owners by name."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from siyu.audit.models import AuditLogEntry
from siyu.platform import services as platform
from siyu.sales.models.commerce import (
    Contract,
    Order,
    PaymentPlan,
    PriceBook,
    Product,
    Quote,
    Receipt,
    SalesTarget,
)
from siyu.sales.models.views import SavedFilter
from siyu.sales.services import leads


def _errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-field="([^"]+)">([^<]*)<', html))


def test_product_form_shows_a_reason_per_field_and_writes_nothing(team, login_client):
    rep = login_client(team.reps[0])
    assert rep.get("/sales/commerce/products/new/").status_code == 200
    r = rep.post("/sales/commerce/products/new/", {"code": "", "name": "年度服务", "list_price": "abc"})
    assert r.status_code == 200
    assert set(_errors(r.content.decode())) == {"code", "list_price"}
    assert Product.objects.count() == 0
    r = rep.post("/sales/commerce/products/new/", {"code": "P-1", "name": "年度服务", "list_price": "1.005",
                                                   "is_active": "on"})
    assert _errors(r.content.decode()) == {"list_price": "at most 2 decimal places"}  # from the service
    assert Product.objects.count() == 0
    r = rep.post("/sales/commerce/products/new/", {"code": "P-1", "name": "年度服务", "list_price": "1200.00",
                                                   "unit": "年", "is_active": "on"})
    p = Product.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/sales/commerce/products/{p.pk}/"
    assert (p.code, p.list_price, p.unit, p.is_active) == ("P-1", Decimal("1200.00"), "年", True)
    r = rep.post("/sales/commerce/products/new/", {"code": "P-1", "name": "重复"})
    assert _errors(r.content.decode()) == {"code": "already used"} and Product.objects.count() == 1
    r = rep.post(f"/sales/commerce/products/{p.pk}/edit/", {"code": "P-1", "name": "年度服务（高级）",
                                                            "list_price": "1500"})
    p.refresh_from_db()
    assert r.status_code == 302 and (p.name, p.list_price, p.is_active) == ("年度服务（高级）", Decimal("1500.00"), False)
    assert "年度服务（高级）" in rep.get(f"/sales/commerce/products/{p.pk}/").content.decode()
    listing = rep.get("/sales/commerce/products/?filter[code][contains]=P-").content.decode()
    assert "年度服务（高级）" in listing
    assert "年度服务" not in rep.get("/sales/commerce/products/?filter[code][contains]=X").content.decode()
    assert AuditLogEntry.objects.unscoped_all_orgs().filter(object_type="sales.product").count() == 2


def test_custom_fields_are_inputs_and_columns_and_are_validated_with_the_rest(team, login_client):
    platform.create_field(actor=team.admin, object_key="sales.product", key="warranty_months", label="保修月数",
                          type="integer", required=True)
    rep = login_client(team.reps[0])
    form = rep.get("/sales/commerce/products/new/").content.decode()
    assert 'name="custom.warranty_months"' in form and "保修月数" in form
    r = rep.post("/sales/commerce/products/new/", {"code": "P-2", "name": "硬件", "custom.warranty_months": "abc"})
    assert "custom.warranty_months" in _errors(r.content.decode())
    r = rep.post("/sales/commerce/products/new/", {"code": "P-2", "name": "硬件"})
    assert set(_errors(r.content.decode())) == {"custom.warranty_months"}
    assert Product.objects.count() == 0
    rep.post("/sales/commerce/products/new/", {"code": "P-2", "name": "硬件", "custom.warranty_months": "24"})
    p = Product.objects.get()
    assert p.custom == {"warranty_months": 24}
    listing = rep.get("/sales/commerce/products/").content.decode()
    assert "保修月数" in listing and ">24<" in listing
    assert "硬件" in rep.get("/sales/commerce/products/?filter[warranty_months][eq]=24").content.decode()
    assert "硬件" not in rep.get("/sales/commerce/products/?filter[warranty_months][eq]=12").content.decode()
    # a bad custom value on edit refuses the standard change too
    rep.post(f"/sales/commerce/products/{p.pk}/edit/", {"code": "P-2", "name": "改名",
                                                        "custom.warranty_months": "x"})
    p.refresh_from_db()
    assert (p.name, p.custom) == ("硬件", {"warranty_months": 24})


def test_price_book_and_quote_forms(team, login_client):
    rep = login_client(team.reps[0])
    rep.post("/sales/commerce/products/new/", {"code": "P-1", "name": "服务", "list_price": "100"})
    r = rep.post("/sales/commerce/price-books/new/", {"name": "渠道价", "max_discount_percent": "10",
                                                      "prices": "P-9 | 90"})
    assert "P-9" in _errors(r.content.decode())["prices"] and PriceBook.objects.count() == 0
    rep.post("/sales/commerce/price-books/new/", {"name": "渠道价", "max_discount_percent": "10",
                                                  "prices": "P-1 | 90"})
    book = PriceBook.objects.get()
    assert [(e.product.code, e.unit_price) for e in book.entries.all()] == [("P-1", Decimal("90.00"))]
    rep.post(f"/sales/commerce/price-books/{book.pk}/edit/", {"name": "渠道价", "currency": "CNY",
                                                              "max_discount_percent": "15", "is_active": "on",
                                                              "prices": "P-1 | 80"})
    book.refresh_from_db()
    assert book.max_discount_percent == Decimal("15.00") and book.entries.get().unit_price == Decimal("80.00")
    r = rep.post("/sales/commerce/quotes/new/", {"title": "报价", "price_book_id": str(book.pk), "lines": ""})
    assert set(_errors(r.content.decode())) == {"lines"} and Quote.objects.count() == 0
    r = rep.post("/sales/commerce/quotes/new/", {"title": "报价", "price_book_id": str(book.pk),
                                                 "valid_until": "2026-13-01", "lines": "P-1 | 2 | | 5\n培训 | 1 | 300"})
    assert set(_errors(r.content.decode())) == {"valid_until"}
    r = rep.post("/sales/commerce/quotes/new/", {"title": "报价", "price_book_id": str(book.pk),
                                                 "valid_until": "2026-12-31", "lines": "P-1 | 2 | | 5\n培训 | 1 | 300"})
    q = Quote.objects.get()
    assert r["Location"] == f"/sales/commerce/quotes/{q.pk}/"
    assert (q.subtotal, q.total, q.valid_until) == (Decimal("460.00"), Decimal("452.00"), dt.date(2026, 12, 31))
    edit = rep.get(f"/sales/commerce/quotes/{q.pk}/edit/").content.decode()
    assert "P-1 | 2 | 80.00 | 5.00" in edit


def test_contract_to_receipt_in_the_console_and_frozen_documents(team, login_client):
    rep = login_client(team.reps[0])
    r = rep.post("/sales/commerce/contracts/new/", {"title": "", "amount": "-1", "ends_on": "2026-01-01",
                                                    "starts_on": "2026-02-01"})
    errs = _errors(r.content.decode())
    assert set(errs) == {"title"} and Contract.objects.count() == 0
    r = rep.post("/sales/commerce/contracts/new/", {"title": "年度合同", "amount": "-1"})
    assert _errors(r.content.decode()) == {"amount": "between 0 and 10^16"} and Contract.objects.count() == 0
    rep.post("/sales/commerce/contracts/new/", {"title": "年度合同", "customer_name": "甲公司", "amount": "10000",
                                                "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
    c = Contract.objects.get()
    page = rep.get(f"/sales/commerce/contracts/{c.pk}/").content.decode()
    assert "年度合同" in page and 'data-testid="contract-submit"' in page
    rep.post(f"/sales/commerce/contracts/{c.pk}/", {"action": "submit"})  # no process: approved at once
    c.refresh_from_db()
    assert c.status == "approved" and c.snapshot_hash
    before = (c.amount, c.title, c.custom)
    r = rep.post(f"/sales/commerce/contracts/{c.pk}/edit/", {"title": "改了", "amount": "1"})
    assert r.status_code == 200 and "approved document cannot be edited" in r.content.decode()
    c.refresh_from_db()
    assert (c.amount, c.title, c.custom) == before
    r = rep.post("/sales/commerce/orders/new/", {"contract_id": str(c.pk), "amount": "20000"})
    assert _errors(r.content.decode()) == {"amount": "at most 10000.00"} and Order.objects.count() == 0
    rep.post("/sales/commerce/orders/new/", {"contract_id": str(c.pk), "amount": "6000", "ordered_on": "2026-03-01"})
    o = Order.objects.get()
    assert (o.amount, o.ordered_on, o.contract_id) == (Decimal("6000.00"), dt.date(2026, 3, 1), c.pk)
    rep.post("/sales/commerce/payment-plans/new/", {"order_id": str(o.pk), "due_on": "2026-04-01", "amount": "6000"})
    plan = PaymentPlan.objects.get()
    r = rep.post("/sales/commerce/receipts/new/", {"plan_id": str(plan.pk), "amount": "7000",
                                                   "received_on": "2026-04-02"})
    assert _errors(r.content.decode()) == {"amount": "at most 6000.00"} and Receipt.objects.count() == 0
    rep.post("/sales/commerce/receipts/new/", {"plan_id": str(plan.pk), "amount": "2500", "received_on": "2026-04-02",
                                               "method": "银行转账"})
    plan.refresh_from_db()
    assert plan.received == Decimal("2500.00") and Receipt.objects.get().method == "银行转账"
    for url in ("orders", "payment-plans", "receipts", "contracts"):
        assert rep.get(f"/sales/commerce/{url}/").status_code == 200, url
    assert "6000.00" in rep.get("/sales/commerce/orders/").content.decode()


def test_targets_form(team, login_client):
    manager = login_client(team.manager)
    r = manager.post("/sales/commerce/targets/new/", {"period": "2026-13", "user_id": str(team.reps[0].user_id),
                                                      "amount": "100000"})
    assert _errors(r.content.decode()) == {"period": "month 01..12"} and SalesTarget.objects.count() == 0
    manager.post("/sales/commerce/targets/new/", {"period": "2026-Q4", "user_id": str(team.reps[0].user_id),
                                                  "amount": "100000", "count": "5"})
    t = SalesTarget.objects.get()
    manager.post(f"/sales/commerce/targets/{t.pk}/edit/", {"amount": "120000", "count": "6"})
    t.refresh_from_db()
    assert (t.period, t.user_id, t.amount, t.count) == ("2026-Q4", team.reps[0].user_id, Decimal("120000.00"), 6)
    assert "张敏" in manager.get("/sales/commerce/targets/").content.decode()


def test_saved_filters_are_per_person(team, login_client):
    rep, other = login_client(team.reps[0]), login_client(team.reps[1])
    r = rep.post("/sales/commerce/saved-filters/", {"object_key": "sales.product", "name": "服务类",
                                                    "query": "filter[code][contains]=S&cursor=abc&x=1",
                                                    "back": "/sales/commerce/products/"})
    f = SavedFilter.objects.get()
    assert (f.query, f.user_id) == ("filter%5Bcode%5D%5Bcontains%5D=S", team.reps[0].user_id)
    assert r["Location"] == f"/sales/commerce/products/?{f.query}"
    assert "服务类" in rep.get("/sales/commerce/products/").content.decode()
    assert "服务类" not in other.get("/sales/commerce/products/").content.decode()
    rep.post("/sales/commerce/saved-filters/", {"object_key": "sales.product", "name": "空", "query": "cursor=1"})
    assert SavedFilter.objects.count() == 1  # nothing to save: refused
    r = other.post(f"/sales/commerce/saved-filters/{f.pk}/delete/", {"object_key": "sales.product"})
    assert r.status_code == 404 and SavedFilter.objects.count() == 1
    rep.post(f"/sales/commerce/saved-filters/{f.pk}/delete/",
             {"object_key": "sales.product"})
    assert SavedFilter.objects.count() == 0
    rep.post("/sales/commerce/saved-filters/", {"object_key": "sales.lead", "name": "我的新线索",
                                                "query": "mine=1&filter[status][eq]=new"})
    assert "我的新线索" in rep.get("/sales/leads/").content.decode()


def test_other_organisations_records_are_404_and_unchanged(team, login_client, make_org):
    rep = login_client(team.reps[0])
    rep.post("/sales/commerce/products/new/", {"code": "P-1", "name": "星辰套餐", "list_price": "100"})
    p = Product.objects.get()
    stranger = login_client(make_org("Other"))
    assert stranger.get(f"/sales/commerce/products/{p.pk}/").status_code == 404
    assert stranger.post(f"/sales/commerce/products/{p.pk}/edit/", {"code": "X", "name": "X"}).status_code == 404
    assert "星辰套餐" not in stranger.get("/sales/commerce/products/").content.decode()
    p.refresh_from_db()
    assert (p.code, p.name) == ("P-1", "星辰套餐")
    assert rep.get("/sales/commerce/no-such-list/").status_code == 404


def test_lead_list_shows_owner_names(team, login_client):
    rep = team.actor(team.reps[0])
    leads.create_lead(actor=rep, name="王先生", phone="13800138000")
    page = login_client(team.manager).get("/sales/leads/").content.decode()
    assert "王先生" in page and "张敏" in page


def test_approval_process_page(team, login_client, make_org):
    from siyu.iam.models import Membership
    from siyu.platform.approvals.models import ApprovalProcess

    admin = login_client(Membership.objects.get(user_id=team.admin.user_id, org=team.org))
    assert login_client(team.manager).get("/sales/commerce/approval-processes/").status_code == 403
    r = admin.post("/sales/commerce/approval-processes/", {"name": "", "object_key": "sales.quote",
                                                            "s0_kind": "manager"})
    assert set(_errors(r.content.decode())) == {"name"} and ApprovalProcess.objects.count() == 0
    r = admin.post("/sales/commerce/approval-processes/", {"name": "大额报价", "object_key": "sales.quote",
                                                            "s0_kind": "user", "s0_value": "abc"})
    assert set(_errors(r.content.decode())) == {"steps"} and ApprovalProcess.objects.count() == 0
    r = admin.post("/sales/commerce/approval-processes/", {
        "name": "大额报价", "object_key": "sales.quote", "priority": "1", "c0_field": "total", "c0_op": "gte",
        "c0_value": "100000", "s0_name": "经理", "s0_mode": "any", "s0_kind": "manager",
        "s1_name": "财务", "s1_mode": "all", "s1_kind": "user", "s1_value": f"{team.manager.user_id}"})
    assert r.status_code == 302
    p = ApprovalProcess.objects.get()
    assert p.conditions == [{"field": "total", "op": "gte", "value": "100000"}] and [s["mode"] for s in p.steps] == [
        "any", "all"] and p.steps[1]["approvers"] == [{"kind": "user", "value": [team.manager.user_id]}]
    assert "大额报价" in admin.get("/sales/commerce/approval-processes/").content.decode()
    stranger = login_client(make_org("Other"))
    assert stranger.post(f"/sales/commerce/approval-processes/{p.pk}/active/", {"active": "0"}).status_code == 404
    assert ApprovalProcess.objects.get().is_active
    admin.post(f"/sales/commerce/approval-processes/{p.pk}/active/", {"active": "0"})
    assert not ApprovalProcess.objects.get().is_active
