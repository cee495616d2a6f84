"""The commerce API under ``/api/v1/sales/commerce``: products and price books, quotes (PDF, submit for
approval, revise), contracts (submit, amend), orders (from a contract; from external systems, idempotent by
``external_id``), payment plans, receipts, receivables, forecasts, snapshots, accuracy and targets.

Each operation parses, authorises (``require``), calls one service or selector and returns a schema. Records of
another organisation or outside the caller's data scope answer 404 and nothing changes; pending and approved
quotes and contracts answer 409 to any edit."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status

from siyu.kernel.api import ERRORS, require
from siyu.kernel.pagination import paginate

from .commerce_schemas import (
    AccuracyOut,
    CommerceCountOut,
    CommerceSubmitIn,
    ContractIn,
    ContractOut,
    ContractPage,
    ExternalOrderIn,
    ForecastOut,
    OrderFromContractIn,
    OrderOut,
    OrderPage,
    PlanIn,
    PlanOut,
    PriceBookIn,
    PriceBookOut,
    ProductIn,
    ProductOut,
    QuoteIn,
    QuoteOut,
    QuotePage,
    ReceiptIn,
    ReceiptOut,
    ReceivableOut,
    SnapshotIn,
    SubmittedOut,
    TargetIn,
    TargetProgressOut,
)
from .models.commerce import Contract, Order, PaymentPlan, Product, Quote
from .services.commerce import contracts, forecasts, orders, pdf, quotes
from .services.commerce.base import visible

router = Router(tags=["sales commerce"])


class PageParams(Schema):
    cursor: str | None = None
    limit: int = 50
    status: str | None = None


def _page(qs, params: PageParams):
    if params.status:
        qs = qs.filter(status=params.status)
    page = paginate(qs, order=["-id"], cursor=params.cursor, limit=params.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


def _data(payload) -> dict:
    return payload.model_dump(exclude_unset=True)


def _quote_out(q: Quote) -> dict:
    return {**{f: getattr(q, f) for f in QuoteOut.model_fields if f != "lines"},
            "lines": list(q.lines.order_by("order", "id"))}


# --- products and price books ---------------------------------------------------------------------------------

@router.get("/products", response={200: list[ProductOut], **ERRORS}, summary="Products")
def list_products(request: HttpRequest):
    actor = require(request, "sales.quote.read")
    return list(Product.objects.in_org(actor).order_by("code")[:1000])


@router.post("/products", response={201: ProductOut, **ERRORS}, summary="Create a product")
def create_product(request: HttpRequest, payload: ProductIn):
    actor = require(request, "sales.quote.manage")
    return Status(201, quotes.save_product(actor=actor, data=_data(payload)))


@router.patch("/products/{product_id}", response={200: ProductOut, **ERRORS}, summary="Update a product")
def update_product(request: HttpRequest, product_id: int, payload: ProductIn):
    actor = require(request, "sales.quote.manage")
    return quotes.save_product(actor=actor, data=_data(payload), product_id=product_id)


@router.post("/price-books", response={201: PriceBookOut, **ERRORS}, summary="Create a price book")
def create_price_book(request: HttpRequest, payload: PriceBookIn):
    actor = require(request, "sales.quote.manage")
    return Status(201, quotes.save_price_book(actor=actor, **payload.model_dump()))


# --- quotes -------------------------------------------------------------------------------------------------

@router.get("/quotes", response={200: QuotePage, **ERRORS}, summary="Quotes")
def list_quotes(request: HttpRequest, params: Query[PageParams]):
    actor = require(request, "sales.quote.read")
    page = _page(Quote.objects.visible_to(actor).prefetch_related("lines"), params)
    return {"items": [_quote_out(q) for q in page["items"]], "next_cursor": page["next_cursor"]}


@router.post("/quotes", response={201: QuoteOut, **ERRORS}, summary="Create a draft quote")
def create_quote(request: HttpRequest, payload: QuoteIn):
    actor = require(request, "sales.quote.create")
    return Status(201, _quote_out(quotes.create_quote(actor=actor, data=_data(payload))))


@router.get("/quotes/{quote_id}", response={200: QuoteOut, **ERRORS}, summary="A quote")
def get_quote(request: HttpRequest, quote_id: int):
    actor = require(request, "sales.quote.read")
    return _quote_out(visible(Quote, actor, quote_id))


@router.patch("/quotes/{quote_id}", response={200: QuoteOut, **ERRORS}, summary="Edit a draft quote")
def update_quote(request: HttpRequest, quote_id: int, payload: QuoteIn):
    actor = require(request, "sales.quote.update")
    return _quote_out(quotes.update_quote(actor=actor, quote_id=quote_id, data=_data(payload)))


@router.post("/quotes/{quote_id}/submit", response={200: SubmittedOut, **ERRORS}, summary="Submit for approval")
def submit_quote(request: HttpRequest, quote_id: int, payload: CommerceSubmitIn):
    actor = require(request, "sales.quote.update")
    req = quotes.submit_quote(actor=actor, quote_id=quote_id, comment=payload.comment)
    return {"request_id": req.pk, "status": req.status}


@router.post("/quotes/{quote_id}/revise", response={201: QuoteOut, **ERRORS}, summary="New version")
def revise_quote(request: HttpRequest, quote_id: int):
    actor = require(request, "sales.quote.create")
    return Status(201, _quote_out(quotes.revise_quote(actor=actor, quote_id=quote_id)))


@router.get("/quotes/{quote_id}/pdf", response={200: bytes, **ERRORS}, summary="The quote as PDF")
def quote_pdf(request: HttpRequest, quote_id: int):
    actor = require(request, "sales.quote.read")
    q = visible(Quote, actor, quote_id)
    resp = HttpResponse(pdf.render_quote_pdf(q), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="{q.number}-v{q.version}.pdf"'
    return resp


# --- contracts ----------------------------------------------------------------------------------------------

@router.get("/contracts", response={200: ContractPage, **ERRORS}, summary="Contracts")
def list_contracts(request: HttpRequest, params: Query[PageParams]):
    actor = require(request, "sales.contract.read")
    return _page(Contract.objects.visible_to(actor), params)


@router.post("/contracts", response={201: ContractOut, **ERRORS}, summary="Create a draft contract")
def create_contract(request: HttpRequest, payload: ContractIn):
    actor = require(request, "sales.contract.create")
    return Status(201, contracts.create_contract(actor=actor, data=_data(payload)))


@router.get("/contracts/{contract_id}", response={200: ContractOut, **ERRORS}, summary="A contract")
def get_contract(request: HttpRequest, contract_id: int):
    return visible(Contract, require(request, "sales.contract.read"), contract_id)


@router.patch("/contracts/{contract_id}", response={200: ContractOut, **ERRORS}, summary="Edit a draft contract")
def update_contract(request: HttpRequest, contract_id: int, payload: ContractIn):
    actor = require(request, "sales.contract.update")
    return contracts.update_contract(actor=actor, contract_id=contract_id, data=_data(payload))


@router.post("/contracts/{contract_id}/submit", response={200: SubmittedOut, **ERRORS},
             summary="Submit for approval")
def submit_contract(request: HttpRequest, contract_id: int, payload: CommerceSubmitIn):
    actor = require(request, "sales.contract.update")
    req = contracts.submit_contract(actor=actor, contract_id=contract_id, comment=payload.comment)
    return {"request_id": req.pk, "status": req.status}


@router.post("/contracts/{contract_id}/amend", response={201: ContractOut, **ERRORS},
             summary="Amend an approved contract (a new draft version)")
def amend_contract(request: HttpRequest, contract_id: int, payload: ContractIn):
    actor = require(request, "sales.contract.update")
    return Status(201, contracts.amend_contract(actor=actor, contract_id=contract_id, data=_data(payload)))


# --- orders, payments -----------------------------------------------------------------------------------------

@router.get("/orders", response={200: OrderPage, **ERRORS}, summary="Orders")
def list_orders(request: HttpRequest, params: Query[PageParams]):
    actor = require(request, "sales.order.read")
    return _page(Order.objects.visible_to(actor), params)


@router.post("/orders", response={201: OrderOut, **ERRORS}, summary="Order from an approved contract")
def create_order(request: HttpRequest, payload: OrderFromContractIn):
    actor = require(request, "sales.order.create")
    return Status(201, orders.create_order_from_contract(actor=actor, **payload.model_dump()))


@router.put("/orders/external", response={201: OrderOut, 200: OrderOut, **ERRORS},
            summary="Order from an external system (idempotent by external_id)")
def put_external_order(request: HttpRequest, payload: ExternalOrderIn):
    actor = require(request, "sales.order.create")
    data = payload.model_dump()
    order, created = orders.upsert_external_order(actor=actor, external_id=data.pop("external_id"), data=data)
    return Status(201 if created else 200, order)


@router.get("/payment-plans", response={200: list[PlanOut], **ERRORS}, summary="Payment plans")
def list_plans(request: HttpRequest, contract_id: int | None = None, order_id: int | None = None):
    actor = require(request, "sales.payment.read")
    qs = PaymentPlan.objects.visible_to(actor).order_by("due_on", "id")
    if contract_id is not None:
        qs = qs.filter(contract_id=contract_id)
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    return list(qs[:1000])


@router.post("/payment-plans", response={201: PlanOut, **ERRORS}, summary="Add an instalment")
def add_plan(request: HttpRequest, payload: PlanIn):
    actor = require(request, "sales.payment.create")
    return Status(201, orders.add_payment_plan(actor=actor, **payload.model_dump()))


@router.post("/receipts", response={201: ReceiptOut, **ERRORS}, summary="Record money received")
def add_receipt(request: HttpRequest, payload: ReceiptIn):
    actor = require(request, "sales.payment.create")
    return Status(201, orders.record_receipt(actor=actor, **payload.model_dump()))


@router.get("/receivables", response={200: list[ReceivableOut], **ERRORS},
            summary="Outstanding receivables by customer, owner or period")
def receivables(request: HttpRequest, by: str = "customer", as_of: dt.date | None = None):
    actor = require(request, "sales.payment.read")
    return orders.receivables(actor, by=by, as_of=as_of)


# --- forecasts and targets ------------------------------------------------------------------------------------

@router.get("/forecast", response={200: list[ForecastOut], **ERRORS}, summary="Weighted forecast of a period")
def forecast(request: HttpRequest, period: str | None = None, by: str = "owner"):
    actor = require(request, "sales.target.read")
    return forecasts.forecast(actor, period=period or forecasts.current_period(), by=by)


@router.post("/forecast/snapshots", response={201: CommerceCountOut, **ERRORS}, summary="Snapshot a period's forecast now")
def snapshot(request: HttpRequest, payload: SnapshotIn):
    actor = require(request, "sales.target.manage")
    return Status(201, {"count": forecasts.take_snapshot(actor=actor, period=payload.period)})


@router.get("/forecast/accuracy", response={200: list[AccuracyOut], **ERRORS},
            summary="Actual won against a snapshot")
def accuracy(request: HttpRequest, period: str | None = None, taken_on: dt.date | None = None):
    actor = require(request, "sales.target.read")
    return forecasts.accuracy(actor, period=period or forecasts.current_period(),
                              taken_on=taken_on or forecasts.today())


@router.put("/targets", response={200: TargetProgressOut, **ERRORS}, summary="Set a salesperson's or team's target")
def set_target(request: HttpRequest, payload: TargetIn):
    actor = require(request, "sales.target.manage")
    t = forecasts.set_target(actor=actor, **payload.model_dump())
    return next(p for p in forecasts.target_progress(actor, period=t.period) if p["id"] == t.pk)


@router.get("/targets", response={200: list[TargetProgressOut], **ERRORS}, summary="Targets with progress")
def targets(request: HttpRequest, period: str | None = None):
    actor = require(request, "sales.target.read")
    return forecasts.target_progress(actor, period=period or forecasts.current_period())
