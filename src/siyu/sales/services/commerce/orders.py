"""Orders (from an approved contract, or from an external system through the API, idempotent by external id),
payment plans and receipts (回款), and the receivables they leave outstanding."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import diff, record_write
from siyu.kernel.errors import Conflict, ValidationFailed

from ...models.commerce import Contract, DocStatus, Order, PaymentPlan, Receipt
from ..common import member, money, require, text
from .base import create_numbered, owner_department, visible


def create_order_from_contract(*, actor: Actor, contract_id: int, amount: Any = None,
                               ordered_on: dt.date | None = None) -> Order:
    """An order against an approved contract (its whole amount unless ``amount`` is given, never above what is
    left of it)."""
    require(actor, "sales.order.create")
    c = visible(Contract, actor, contract_id, for_update=True)
    if c.status != DocStatus.APPROVED:
        raise Conflict("the contract is not approved", code="contract_not_approved")
    ordered = Order.objects.in_org(actor).filter(contract=c).exclude(status="cancelled").aggregate(
        s=Sum("amount"))["s"] or Decimal(0)
    value = c.amount - ordered if amount is None else money(amount)
    if value <= 0 or ordered + value > c.amount:
        raise ValidationFailed("over the contract", fields={"amount": [f"at most {c.amount - ordered}"]})
    order = create_numbered(Order, actor, "SO", contract=c, source="contract", account_id=c.account_id,
                            customer_name=c.customer_name, amount=value, currency=c.currency,
                            ordered_on=ordered_on or timezone.localdate(clock.now()), owner_id=c.owner_id,
                            department_id=c.department_id)
    record_write(actor, "create", "sales.order", order.pk, {"amount": [None, str(value)]}, contract=c.pk)
    return order


def upsert_external_order(*, actor: Actor, external_id: str, data: dict[str, Any]) -> tuple[Order, bool]:
    """An order pushed by an external system (ERP, shop). The same ``external_id`` again returns the order it
    created (``created`` False) and changes nothing, so retries are safe."""
    require(actor, "sales.order.create")
    external_id = text(external_id, "external_id", 120, required=True)
    existing = Order.objects.in_org(actor).filter(external_id=external_id).first()
    if existing is not None:
        if not Order.objects.visible_to(actor).filter(pk=existing.pk).exists():
            raise Conflict("external id already used", code="external_id_taken")
        return existing, False
    owner = member(actor, data["owner_id"]) if data.get("owner_id") is not None else None
    fields = dict(external_id=external_id, source=text(data.get("source") or "api", "source", 40),
                  customer_name=text(data.get("customer_name"), "customer_name", 200),
                  amount=money(data.get("amount")), currency=text(data.get("currency") or "CNY", "currency", 3),
                  ordered_on=data.get("ordered_on") or timezone.localdate(clock.now()),
                  **({"owner_id": owner.user_id, "department_id": owner.department_id} if owner
                     else owner_department(actor)))
    try:
        with transaction.atomic():
            order = create_numbered(Order, actor, "SO", **fields)
    except IntegrityError:  # a concurrent push of the same external id won
        return Order.objects.in_org(actor).get(external_id=external_id), False
    record_write(actor, "create", "sales.order", order.pk, {"amount": [None, str(order.amount)]},
                 external_id=external_id)
    return order, True


def add_payment_plan(*, actor: Actor, due_on: dt.date, amount: Any, contract_id: int | None = None,
                     order_id: int | None = None) -> PaymentPlan:
    """An instalment due on ``due_on``; the plans of a contract or order never add up to more than it."""
    require(actor, "sales.payment.create")
    if (contract_id is None) == (order_id is None):
        raise ValidationFailed("one of contract_id, order_id", fields={"contract_id": ["or order_id"]})
    parent = (visible(Contract, actor, contract_id, for_update=True) if contract_id is not None
              else visible(Order, actor, order_id, for_update=True))
    if isinstance(parent, Contract) and parent.status != DocStatus.APPROVED:
        raise Conflict("the contract is not approved", code="contract_not_approved")
    value = money(amount)
    key = {"contract": parent} if isinstance(parent, Contract) else {"order": parent}
    planned = PaymentPlan.objects.in_org(actor).filter(**key).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    if value <= 0 or planned + value > parent.amount:
        raise ValidationFailed("over the total", fields={"amount": [f"at most {parent.amount - planned}"]})
    plan = PaymentPlan.objects.create(org_id=actor.org_id, due_on=due_on, amount=value, account_id=parent.account_id,
                                      customer_name=parent.customer_name, owner_id=parent.owner_id,
                                      department_id=parent.department_id, **key)
    record_write(actor, "create", "sales.payment_plan", plan.pk, {"amount": [None, str(value)],
                                                                  "due_on": [None, due_on.isoformat()]})
    return plan


def record_receipt(*, actor: Actor, plan_id: int, amount: Any, received_on: dt.date, method: str = "",
                   reference: str = "") -> Receipt:
    """Money received against a plan; never more than the plan still has outstanding."""
    require(actor, "sales.payment.create")
    plan = visible(PaymentPlan, actor, plan_id, for_update=True)
    value = money(amount)
    if value <= 0 or plan.received + value > plan.amount:
        raise ValidationFailed("over the plan", fields={"amount": [f"at most {plan.amount - plan.received}"]})
    receipt = Receipt.objects.create(org_id=actor.org_id, plan=plan, amount=value, received_on=received_on,
                                     method=text(method, "method", 30), reference=text(reference, "reference", 120),
                                     owner_id=plan.owner_id, department_id=plan.department_id)
    before = {"received": plan.received}
    PaymentPlan.objects.filter(pk=plan.pk).update(received=F("received") + value)
    plan.refresh_from_db(fields=["received"])
    record_write(actor, "create", "sales.receipt", receipt.pk, {"amount": [None, str(value)]}, plan=plan.pk)
    record_write(actor, "update", "sales.payment_plan", plan.pk, diff(before, {"received": plan.received}))
    return receipt


def receivables(actor: Actor, *, by: str, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Outstanding receivables (planned − received) grouped by ``customer``, ``owner`` or ``period`` (month of
    the due date), with the overdue part as of ``as_of``; only plans the actor may see."""
    require(actor, "sales.payment.read")
    if by not in {"customer", "owner", "period"}:
        raise ValidationFailed("bad grouping", fields={"by": ["customer, owner or period"]})
    as_of = as_of or timezone.localdate(clock.now())
    groups: dict[Any, dict[str, Any]] = {}
    rows = PaymentPlan.objects.visible_to(actor).values("customer_name", "account_id", "owner_id", "due_on",
                                                         "amount", "received")
    for r in rows:
        out = r["amount"] - r["received"]
        if out <= 0:
            continue
        key = {"customer": r["customer_name"] or f"#{r['account_id']}", "owner": r["owner_id"],
               "period": r["due_on"].strftime("%Y-%m")}.get(by)
        g = groups.setdefault(key, {"key": key, "outstanding": Decimal("0.00"), "overdue": Decimal("0.00"),
                                    "plans": 0})
        g["outstanding"] += out
        g["plans"] += 1
        if r["due_on"] < as_of:
            g["overdue"] += out
    return sorted(groups.values(), key=lambda g: (-g["outstanding"], str(g["key"])))
