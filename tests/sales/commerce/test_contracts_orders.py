"""Contracts (approval, frozen snapshot, amendments), orders (from contract, external idempotent), payment plans,
receipts and receivables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed
from siyu.platform.approvals import services as approvals
from siyu.sales.models.commerce import Contract, Order, PaymentPlan
from siyu.sales.services.commerce import contracts, orders


@pytest.fixture
def contract_process(team):
    return approvals.create_process(actor=team.admin, object_key="sales.contract", name="合同审批",
                                    steps=[{"name": "部门负责人", "mode": "any",
                                            "approvers": [{"kind": "department_head"}]}])


def _approved_contract(team, amount="10000.00"):
    rep = team.actor(team.reps[0])
    c = contracts.create_contract(actor=rep, data={"title": "年度服务合同", "customer_name": "苏州甲公司",
                                                   "amount": amount, "terms": "一年"})
    req = contracts.submit_contract(actor=rep, contract_id=c.pk)
    approvals.decide(actor=team.actor(team.manager), request_id=req.pk, approve=True)
    c.refresh_from_db()
    return rep, c, req


def test_contract_approval_freezes_and_amendment_is_a_new_version(team, contract_process):
    rep, c, req = _approved_contract(team)
    assert (c.number, c.version, c.status) == ("C-000001", 1, "approved")
    assert c.snapshot["amount"] == "10000.00" and c.snapshot_hash == approvals.canonical_hash(c.snapshot)
    req.refresh_from_db()
    assert req.snapshot == c.snapshot and req.snapshot_hash == c.snapshot_hash
    with pytest.raises(Conflict):
        contracts.update_contract(actor=rep, contract_id=c.pk, data={"amount": "1"})
    with pytest.raises(Conflict):
        contracts.update_contract(actor=team.admin, contract_id=c.pk, data={"terms": "改"})
    c.refresh_from_db()
    assert (c.amount, c.terms) == (Decimal("10000.00"), "一年")
    v2 = contracts.amend_contract(actor=rep, contract_id=c.pk, data={"amount": "12000.00"})
    assert (v2.number, v2.version, v2.status, v2.amount) == ("C-000001", 2, "draft", Decimal("12000.00"))
    with pytest.raises(Conflict):
        contracts.amend_contract(actor=rep, contract_id=c.pk)
    req2 = contracts.submit_contract(actor=rep, contract_id=v2.pk)
    approvals.decide(actor=team.actor(team.manager), request_id=req2.pk, approve=True)
    c.refresh_from_db()
    v2.refresh_from_db()
    assert (c.status, v2.status, c.snapshot["amount"], v2.snapshot["amount"]) == (
        "superseded", "approved", "10000.00", "12000.00")
    assert AuditLogEntry.objects.unscoped_all_orgs().filter(object_type="sales.contract", object_id=str(v2.pk)).count() >= 3


def test_orders_payments_and_receivables(team, contract_process):
    rep, c, _ = _approved_contract(team)
    order = orders.create_order_from_contract(actor=rep, contract_id=c.pk, amount="6000.00")
    assert (order.number, order.amount) == ("SO-000001", Decimal("6000.00"))
    with pytest.raises(ValidationFailed):
        orders.create_order_from_contract(actor=rep, contract_id=c.pk, amount="4000.01")
    p1 = orders.add_payment_plan(actor=rep, contract_id=c.pk, due_on=dt.date(2026, 10, 31), amount="4000.00")
    p2 = orders.add_payment_plan(actor=rep, contract_id=c.pk, due_on=dt.date(2026, 12, 31), amount="6000.00")
    with pytest.raises(ValidationFailed):
        orders.add_payment_plan(actor=rep, contract_id=c.pk, due_on=dt.date(2027, 1, 31), amount="0.01")
    orders.record_receipt(actor=rep, plan_id=p1.pk, amount="1500.50", received_on=dt.date(2026, 10, 20))
    with pytest.raises(ValidationFailed):
        orders.record_receipt(actor=rep, plan_id=p1.pk, amount="2499.51", received_on=dt.date(2026, 10, 21))
    p1.refresh_from_db()
    assert p1.received == Decimal("1500.50")
    by_period = orders.receivables(rep, by="period", as_of=dt.date(2026, 11, 22))
    assert by_period == [
        {"key": "2026-12", "outstanding": Decimal("6000.00"), "overdue": Decimal("0.00"), "plans": 1},
        {"key": "2026-10", "outstanding": Decimal("2499.50"), "overdue": Decimal("2499.50"), "plans": 1}]
    assert orders.receivables(rep, by="customer", as_of=dt.date(2026, 11, 22)) == [
        {"key": "苏州甲公司", "outstanding": Decimal("8499.50"), "overdue": Decimal("2499.50"), "plans": 2}]
    assert orders.receivables(team.actor(team.manager), by="owner")[0]["key"] == rep.user_id
    assert orders.receivables(team.actor(team.south_rep), by="owner") == []  # not in scope
    with pytest.raises(NotFound):
        orders.record_receipt(actor=team.actor(team.south_rep), plan_id=p2.pk, amount="1",
                              received_on=dt.date(2026, 11, 1))
    p2.refresh_from_db()
    assert p2.received == Decimal("0.00")


def test_draft_contract_cannot_be_ordered(team, contract_process):
    rep = team.actor(team.reps[0])
    c = contracts.create_contract(actor=rep, data={"title": "草稿", "amount": "100"})
    with pytest.raises(Conflict):
        orders.create_order_from_contract(actor=rep, contract_id=c.pk)
    contracts.submit_contract(actor=rep, contract_id=c.pk)
    with pytest.raises(Conflict):
        orders.add_payment_plan(actor=rep, contract_id=c.pk, due_on=dt.date(2026, 12, 1), amount="1")
    assert Order.objects.count() == PaymentPlan.objects.count() == 0
    assert Contract.objects.get(pk=c.pk).status == "pending"


def test_external_order_is_idempotent(team):
    api = team.admin
    o1, created1 = orders.upsert_external_order(actor=api, external_id="ERP-42", data={
        "amount": "199.90", "customer_name": "网店客户", "owner_id": team.reps[1].user_id, "source": "erp"})
    o2, created2 = orders.upsert_external_order(actor=api, external_id="ERP-42", data={"amount": "1"})
    assert (created1, created2, o1.pk == o2.pk, o2.amount, o1.owner_id, o1.department_id) == (
        True, False, True, Decimal("199.90"), team.reps[1].user_id, team.east.pk)
    assert Order.objects.filter(external_id="ERP-42").count() == 1
