"""Schemas of the commerce API (products, quotes, contracts, orders, payments, forecasts, targets)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Schema


class ProductIn(Schema):
    code: str | None = None
    name: str | None = None
    unit: str | None = None
    list_price: Decimal | None = None
    is_active: bool | None = None


class ProductOut(Schema):
    id: int
    code: str
    name: str
    unit: str
    list_price: Decimal
    is_active: bool


class PriceBookIn(Schema):
    name: str
    currency: str = "CNY"
    max_discount_percent: Decimal = Decimal(0)
    prices: dict[int, Decimal] = {}


class PriceBookOut(Schema):
    id: int
    name: str
    currency: str
    max_discount_percent: Decimal


class LineIn(Schema):
    product_id: int | None = None
    name: str | None = None
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None
    discount_percent: Decimal = Decimal(0)


class QuoteIn(Schema):
    title: str | None = None
    customer_name: str | None = None
    opportunity_id: int | None = None
    price_book_id: int | None = None
    valid_until: dt.date | None = None
    note: str | None = None
    lines: list[LineIn] | None = None


class LineOut(Schema):
    product_id: int | None
    name: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    amount: Decimal


class QuoteOut(Schema):
    id: int
    number: str
    version: int
    title: str
    status: str
    customer_name: str
    opportunity_id: int | None
    price_book_id: int | None
    currency: str
    subtotal: Decimal
    discount_amount: Decimal
    total: Decimal
    valid_until: dt.date | None
    note: str
    owner_id: int | None
    lines: list[LineOut]


class QuotePage(Schema):
    items: list[QuoteOut]
    next_cursor: str | None


class CommerceSubmitIn(Schema):
    comment: str = ""


class SubmittedOut(Schema):
    request_id: int
    status: str


class ContractIn(Schema):
    title: str | None = None
    customer_name: str | None = None
    quote_id: int | None = None
    opportunity_id: int | None = None
    amount: Decimal | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    signed_on: dt.date | None = None
    terms: str | None = None


class ContractOut(Schema):
    id: int
    number: str
    version: int
    title: str
    status: str
    customer_name: str
    quote_id: int | None
    opportunity_id: int | None
    amount: Decimal
    currency: str
    starts_on: dt.date | None
    ends_on: dt.date | None
    signed_on: dt.date | None
    terms: str
    snapshot: dict[str, Any] | None
    snapshot_hash: str
    owner_id: int | None


class ContractPage(Schema):
    items: list[ContractOut]
    next_cursor: str | None


class OrderFromContractIn(Schema):
    contract_id: int
    amount: Decimal | None = None
    ordered_on: dt.date | None = None


class ExternalOrderIn(Schema):
    external_id: str
    amount: Decimal
    currency: str = "CNY"
    customer_name: str = ""
    source: str = "api"
    ordered_on: dt.date | None = None
    owner_id: int | None = None


class OrderOut(Schema):
    id: int
    number: str
    contract_id: int | None
    external_id: str | None
    source: str
    customer_name: str
    amount: Decimal
    currency: str
    ordered_on: dt.date
    status: str
    owner_id: int | None


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None


class PlanIn(Schema):
    contract_id: int | None = None
    order_id: int | None = None
    due_on: dt.date
    amount: Decimal


class PlanOut(Schema):
    id: int
    contract_id: int | None
    order_id: int | None
    due_on: dt.date
    amount: Decimal
    received: Decimal
    customer_name: str
    owner_id: int | None


class ReceiptIn(Schema):
    plan_id: int
    amount: Decimal
    received_on: dt.date
    method: str = ""
    reference: str = ""


class ReceiptOut(Schema):
    id: int
    plan_id: int
    amount: Decimal
    received_on: dt.date
    method: str
    reference: str


class ReceivableOut(Schema):
    key: Any
    outstanding: Decimal
    overdue: Decimal
    plans: int


class ForecastOut(Schema):
    key: int | None
    pipeline: Decimal
    weighted: Decimal
    won: Decimal
    forecast: Decimal
    open_count: int
    won_count: int


class AccuracyOut(Schema):
    owner_id: int | None
    forecast: Decimal
    actual: Decimal
    accuracy: Decimal


class SnapshotIn(Schema):
    period: str


class CommerceCountOut(Schema):
    count: int


class TargetIn(Schema):
    period: str
    amount: Decimal
    count: int = 0
    user_id: int | None = None
    department_id: int | None = None


class TargetProgressOut(Schema):
    id: int
    period: str
    user_id: int | None
    department_id: int | None
    target_amount: Decimal
    target_count: int
    won_amount: Decimal
    won_count: int
    amount_progress: Decimal | None
    count_progress: Decimal | None
