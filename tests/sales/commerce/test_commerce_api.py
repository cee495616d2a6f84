"""The commerce and approvals API: the happy path end to end, and bypass attempts (edit while pending or
approved, decide as a non-approver, another organisation) answer with an error and change nothing."""

from __future__ import annotations

import json

from siyu.platform.approvals.models import ApprovalRequest
from siyu.sales.models.commerce import Contract, Order, Quote

BASE = "/api/v1/sales/commerce"
APPR = "/api/v1/platform/approvals"


def _post(c, url, body, method="post"):
    return getattr(c, method)(url, data=json.dumps(body), content_type="application/json")


def test_quote_to_cash_through_the_api(team, login_client, api_client, make_org):
    admin = api_client(team.org)
    rep = login_client(team.reps[0])
    manager = login_client(team.manager)
    r = _post(admin, f"{APPR}/processes", {"object_key": "sales.quote", "name": "报价审批",
                                          "steps": [{"mode": "any", "approvers": [{"kind": "manager"}]}]})
    assert r.status_code == 201, r.content
    r = _post(rep, f"{BASE}/quotes", {"title": "年度方案", "customer_name": "宁波乙公司",
                                      "lines": [{"name": "实施", "quantity": "2", "unit_price": "5000.00",
                                                 "discount_percent": "10"}]})
    assert r.status_code == 201, r.content
    quote = r.json()
    assert (quote["number"], quote["total"], quote["status"]) == ("Q-000001", "9000.00", "draft")
    r = _post(rep, f"{BASE}/quotes/{quote['id']}/submit", {"comment": "请批"})
    assert r.json()["status"] == "pending"
    request_id = r.json()["request_id"]
    # bypasses: edit while pending, decide as the submitter, approve via an unrelated org's key
    assert _post(rep, f"{BASE}/quotes/{quote['id']}", {"title": "x"}, "patch").status_code == 409
    assert _post(rep, f"{APPR}/requests/{request_id}/decision", {"approve": True}).status_code == 403
    stranger = api_client(make_org("Other").org)
    assert _post(stranger, f"{APPR}/requests/{request_id}/decision", {"approve": True}).status_code == 404
    assert _post(stranger, f"{BASE}/quotes/{quote['id']}", {"title": "x"}, "patch").status_code == 404
    assert ApprovalRequest.objects.get(pk=request_id).status == "pending"
    r = manager.get(f"{APPR}/requests?box=todo")
    assert r.status_code == 200, r.content
    todo = r.json()["items"]
    assert [x["id"] for x in todo] == [request_id]
    assert manager.get(f"{APPR}/inbox?unread=true").json()[0]["kind"] == "task"
    r = _post(manager, f"{APPR}/requests/{request_id}/decision", {"approve": True, "comment": "好"})
    assert r.status_code == 200 and r.json()["status"] == "approved" and len(r.json()["snapshot_hash"]) == 64
    assert _post(rep, f"{BASE}/quotes/{quote['id']}", {"title": "x"}, "patch").status_code == 409
    assert Quote.objects.get(pk=quote["id"]).title == "年度方案"
    pdf = rep.get(f"{BASE}/quotes/{quote['id']}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content[:4] == b"%PDF"

    r = _post(rep, f"{BASE}/contracts", {"title": "合同", "quote_id": quote["id"]})
    assert r.status_code == 201 and r.json()["amount"] == "9000.00"
    contract_id = r.json()["id"]
    r = _post(rep, f"{BASE}/contracts/{contract_id}/submit", {})
    assert r.json()["status"] == "approved"  # no contract process: approved at once, and frozen
    c = Contract.objects.get(pk=contract_id)
    assert c.snapshot["amount"] == "9000.00" and len(c.snapshot_hash) == 64
    assert _post(rep, f"{BASE}/contracts/{contract_id}", {"amount": "1"}, "patch").status_code == 409
    r = _post(rep, f"{BASE}/orders", {"contract_id": contract_id})
    assert r.status_code == 201 and r.json()["amount"] == "9000.00"
    r = _post(rep, f"{BASE}/payment-plans", {"contract_id": contract_id, "due_on": "2026-12-31",
                                             "amount": "9000.00"})
    plan_id = r.json()["id"]
    assert _post(rep, f"{BASE}/receipts", {"plan_id": plan_id, "amount": "3000.00",
                                           "received_on": "2026-11-20"}).status_code == 201
    assert rep.get(f"{BASE}/receivables?by=customer").json() == [
        {"key": "宁波乙公司", "outstanding": "6000.00", "overdue": "0.00", "plans": 1}]


def test_external_orders_are_idempotent_over_the_api(team, api_client):
    c = api_client(team.org)
    body = {"external_id": "shop-9001", "amount": "88.80", "customer_name": "会员"}
    r1 = _post(c, f"{BASE}/orders/external", body, "put")
    r2 = _post(c, f"{BASE}/orders/external", {**body, "amount": "1.00"}, "put")
    assert (r1.status_code, r2.status_code, r1.json()["id"] == r2.json()["id"], r2.json()["amount"]) == (
        201, 200, True, "88.80")
    assert Order.objects.count() == 1


def test_permissions_are_checked(team, api_client):
    c = api_client(team.org, scopes=["sales.quote.read"])
    r = _post(c, f"{BASE}/quotes", {"title": "t", "lines": [{"name": "a", "unit_price": "1"}]})
    assert r.status_code == 403 and Quote.objects.count() == 0
    assert _post(c, f"{APPR}/processes", {"object_key": "sales.quote", "name": "p", "steps": []}).status_code == 403
