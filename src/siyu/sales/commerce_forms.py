"""Console create/edit forms of the commerce objects, described as data: which inputs each object has, how the
posted text becomes the service's input (with a reason per field when it cannot), and which service writes it.

The pages (``commerce_object_pages.py``) render every object from these descriptions; the services stay the
only writers, so the console checks exactly what the API checks (permissions, frozen documents, totals)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.kernel.actor import Actor

from .models import commerce as m
from .services.commerce import contracts, forecasts, orders, quotes


@dataclass(frozen=True)
class Input:
    name: str
    label: Any
    kind: str = "text"  # text, textarea, decimal, date, int, bool, select, lines, prices
    required: bool = False
    choices: Callable[[Actor], list[tuple[str, str]]] | None = None
    on_create: bool = True
    on_edit: bool = True
    help: Any = ""


@dataclass(frozen=True)
class Kind:
    slug: str
    object_key: str
    model: Any
    label: Any
    plural: Any
    icon: str
    read: str
    create: str
    update: str
    inputs: tuple[Input, ...]
    create_fn: Callable[[Actor, dict[str, Any]], Any]
    # None: the standard fields are facts once recorded (orders, plans, receipts); only custom fields are edited
    update_fn: Callable[[Actor, Any, dict[str, Any]], Any] | None = None
    initial: Callable[[Any], dict[str, str]] = field(default=lambda row: {})
    detail_url_name: str = ""  # a page of its own instead of the generic detail
    related: tuple[str, ...] = ()  # select_related of the list

    def shown(self, *, new: bool) -> list[Input]:
        if not new and self.update_fn is None:
            return []
        return [i for i in self.inputs if (i.on_create if new else i.on_edit)]


class InputError(Exception):
    pass


# --- parsing the posted text ------------------------------------------------------------------------------------

def _date(raw: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError(_("a date (YYYY-MM-DD)")) from None


def _int(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InputError(_("a whole number"))
    return int(raw)


def _product_ids(actor: Actor, codes: set[str]) -> dict[str, int]:
    return dict(m.Product.objects.in_org(actor).filter(code__in=codes).values_list("code", "pk"))


def _lines(actor: Actor, raw: str) -> list[dict[str, Any]]:
    """One quote line a row: ``product code or name | quantity | unit price | discount %`` (price left empty: the
    price book's, else the product's list price)."""
    rows = [[c.strip() for c in line.split("|")] for line in raw.splitlines() if line.strip()]
    if any(len(r) > 4 for r in rows):
        raise InputError(_("at most four parts a line: product or name | quantity | unit price | discount %"))
    codes = _product_ids(actor, {r[0] for r in rows})
    out = []
    for r in rows:
        r = r + [""] * (4 - len(r))
        line: dict[str, Any] = {"quantity": r[1] or "1", "unit_price": r[2] or None, "discount_percent": r[3] or "0"}
        line.update({"product_id": codes[r[0]]} if r[0] in codes else {"name": r[0]})
        out.append(line)
    return out


def _prices(actor: Actor, raw: str) -> dict[int, str]:
    """One price a row: ``product code | unit price``."""
    rows = [[c.strip() for c in line.split("|")] for line in raw.splitlines() if line.strip()]
    if any(len(r) != 2 for r in rows):
        raise InputError(_("one product code and one price a line, separated by |"))
    codes = _product_ids(actor, {r[0] for r in rows})
    unknown = sorted({r[0] for r in rows} - set(codes))
    if unknown:
        raise InputError(_("unknown product code: %(codes)s") % {"codes": ", ".join(unknown)})
    return {codes[code]: price for code, price in rows}


def parse(actor: Actor, inputs: list[Input], post) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Posted text -> the service's data, and a reason per input that could not be read."""
    data: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for i in inputs:
        raw = (post.get(i.name) or "").strip()
        try:
            if i.kind == "bool":
                data[i.name] = post.get(i.name) in {"on", "true", "1"}
                continue
            if i.required and not raw:
                raise InputError(_("required"))
            if i.kind == "date":
                data[i.name] = _date(raw)
            elif i.kind in {"int", "select"}:
                data[i.name] = _int(raw)
            elif i.kind == "decimal":
                if raw:
                    try:
                        Decimal(raw)
                    except InvalidOperation:
                        raise InputError(_("a number")) from None
                data[i.name] = raw
            elif i.kind == "lines":
                data[i.name] = _lines(actor, raw)
            elif i.kind == "prices":
                data[i.name] = _prices(actor, raw)
            else:
                data[i.name] = raw
        except InputError as exc:
            errors[i.name] = [str(exc)]
    return data, errors


# --- choices ------------------------------------------------------------------------------------------------------

def members(actor: Actor) -> list[tuple[str, str]]:
    from siyu.iam.models import Membership

    rows = Membership.objects.in_org(actor).filter(is_active=True).select_related("user").order_by("user__name")
    return [(str(r.user_id), r.user.name or r.user.email) for r in rows]


def departments(actor: Actor) -> list[tuple[str, str]]:
    from siyu.iam.models import Department

    return [(str(d.pk), d.name) for d in Department.objects.in_org(actor).order_by("name")]


def _approved(model, label: Callable[[Any], str]):
    def choices(actor: Actor) -> list[tuple[str, str]]:
        rows = model.objects.visible_to(actor).filter(status=m.DocStatus.APPROVED).order_by("-id")[:200]
        return [(str(r.pk), label(r)) for r in rows]

    return choices


def _price_books(actor: Actor) -> list[tuple[str, str]]:
    return [(str(b.pk), b.name) for b in m.PriceBook.objects.in_org(actor).filter(is_active=True).order_by("name")]


def _orders(actor: Actor) -> list[tuple[str, str]]:
    rows = m.Order.objects.visible_to(actor).exclude(status="cancelled").order_by("-id")[:200]
    return [(str(o.pk), f"{o.number} {o.customer_name} {o.currency} {o.amount}") for o in rows]


def _open_plans(actor: Actor) -> list[tuple[str, str]]:
    from django.db.models import F

    rows = m.PaymentPlan.objects.visible_to(actor).filter(received__lt=F("amount")).order_by("due_on", "id")[:200]
    return [(str(p.pk), f"#{p.pk} {p.customer_name} {p.due_on} {p.amount - p.received}") for p in rows]


# --- writers ------------------------------------------------------------------------------------------------------

def _some(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: data[n] for n in names if n in data}


def _target(actor: Actor, data: dict[str, Any], row=None):
    key = ({"user_id": row.user_id, "department_id": row.department_id if row.user_id is None else None,
            "period": row.period} if row is not None else
           {"user_id": data.get("user_id"), "department_id": data.get("department_id"), "period": data["period"]})
    return forecasts.set_target(actor=actor, amount=data.get("amount"), count=data.get("count") or 0, **key)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


KINDS: dict[str, Kind] = {k.slug: k for k in (
    Kind("products", "sales.product", m.Product, _("Product"), _("Products"), "box-seam",
         "sales.quote.read", "sales.quote.manage", "sales.quote.manage",
         (Input("code", _("Code"), required=True), Input("name", _("Name"), required=True),
          Input("unit", _("Unit")), Input("list_price", _("List price"), "decimal"),
          Input("is_active", _("Active"), "bool")),
         create_fn=lambda a, d: quotes.save_product(actor=a, data=d),
         update_fn=lambda a, row, d: quotes.save_product(actor=a, data=d, product_id=row.pk),
         initial=lambda p: {"code": p.code, "name": p.name, "unit": p.unit, "list_price": str(p.list_price),
                            "is_active": p.is_active}),
    Kind("price-books", "sales.price_book", m.PriceBook, _("Price book"), _("Price books"), "journal-text",
         "sales.quote.read", "sales.quote.manage", "sales.quote.manage",
         (Input("name", _("Name"), required=True), Input("currency", _("Currency")),
          Input("max_discount_percent", _("Max discount %"), "decimal",
                help=_("Quotes with a larger line discount usually need approval.")),
          Input("is_active", _("Active"), "bool", on_create=False),
          Input("prices", _("Prices"), "prices", help=_("One a line: product code | unit price"))),
         create_fn=lambda a, d: quotes.save_price_book(actor=a, **_some(d, "name", "currency",
                                                                       "max_discount_percent", "prices")),
         update_fn=lambda a, row, d: quotes.update_price_book(actor=a, price_book_id=row.pk, data=d),
         initial=lambda b: {"name": b.name, "currency": b.currency, "max_discount_percent": str(b.max_discount_percent),
                            "is_active": b.is_active, "prices": "\n".join(
                                f"{e.product.code} | {e.unit_price}"
                                for e in b.entries.select_related("product").order_by("product__code"))}),
    Kind("quotes", "sales.quote", m.Quote, _("Quote"), _("Quotes"), "file-earmark-text",
         "sales.quote.read", "sales.quote.create", "sales.quote.update",
         (Input("title", _("Title"), required=True), Input("customer_name", _("Customer")),
          Input("opportunity_id", _("Opportunity ID"), "int"),
          Input("price_book_id", _("Price book"), "select", choices=_price_books),
          Input("valid_until", _("Valid until"), "date"), Input("note", _("Note"), "textarea"),
          Input("lines", _("Lines"), "lines", required=True,
                help=_("One a line: product code or name | quantity | unit price | discount %"))),
         create_fn=lambda a, d: quotes.create_quote(actor=a, data=d),
         update_fn=lambda a, row, d: quotes.update_quote(actor=a, quote_id=row.pk, data=d),
         initial=lambda q: {"title": q.title, "customer_name": q.customer_name,
                            "opportunity_id": _text(q.opportunity_id), "price_book_id": _text(q.price_book_id),
                            "valid_until": _text(q.valid_until), "note": q.note, "lines": "\n".join(
                                f"{ln.product.code if ln.product else ln.name} | {ln.quantity.normalize()} | "
                                f"{ln.unit_price} | {ln.discount_percent}"
                                for ln in q.lines.select_related("product").order_by("order", "id"))},
         detail_url_name="sales_quote", related=("owner",)),
    Kind("contracts", "sales.contract", m.Contract, _("Contract"), _("Contracts"), "file-earmark-check",
         "sales.contract.read", "sales.contract.create", "sales.contract.update",
         (Input("title", _("Title"), required=True),
          Input("quote_id", _("From approved quote"), "select", on_edit=False,
                choices=_approved(m.Quote, lambda q: f"{q.number} v{q.version} {q.title} {q.total}")),
          Input("customer_name", _("Customer")), Input("amount", _("Amount"), "decimal",
                                                       help=_("Empty: the quote's total")),
          Input("starts_on", _("Starts"), "date"), Input("ends_on", _("Ends"), "date"),
          Input("signed_on", _("Signed"), "date"), Input("terms", _("Terms"), "textarea")),
         create_fn=lambda a, d: contracts.create_contract(
             actor=a, data={k: v for k, v in d.items() if not (k == "amount" and v == "")}),
         update_fn=lambda a, row, d: contracts.update_contract(actor=a, contract_id=row.pk, data=d),
         initial=lambda c: {"title": c.title, "customer_name": c.customer_name, "amount": str(c.amount),
                            "starts_on": _text(c.starts_on), "ends_on": _text(c.ends_on),
                            "signed_on": _text(c.signed_on), "terms": c.terms},
         related=("owner",)),
    Kind("orders", "sales.order", m.Order, _("Order"), _("Orders"), "cart-check",
         "sales.order.read", "sales.order.create", "sales.order.create",
         (Input("contract_id", _("Approved contract"), "select", required=True,
                choices=_approved(m.Contract, lambda c: f"{c.number} v{c.version} {c.title} {c.amount}")),
          Input("amount", _("Amount"), "decimal", help=_("Empty: what is left of the contract")),
          Input("ordered_on", _("Ordered on"), "date")),
         create_fn=lambda a, d: orders.create_order_from_contract(
             actor=a, contract_id=d["contract_id"], amount=d.get("amount") or None, ordered_on=d.get("ordered_on")),
         related=("owner",)),
    Kind("payment-plans", "sales.payment_plan", m.PaymentPlan, _("Payment plan"), _("Payment plans"),
         "calendar-check", "sales.payment.read", "sales.payment.create", "sales.payment.create",
         (Input("contract_id", _("Approved contract"), "select",
                choices=_approved(m.Contract, lambda c: f"{c.number} v{c.version} {c.title} {c.amount}")),
          Input("order_id", _("Or order"), "select", choices=_orders),
          Input("due_on", _("Due on"), "date", required=True), Input("amount", _("Amount"), "decimal", required=True)),
         create_fn=lambda a, d: orders.add_payment_plan(actor=a, due_on=d["due_on"], amount=d["amount"],
                                                        contract_id=d.get("contract_id"), order_id=d.get("order_id")),
         related=("owner",)),
    Kind("receipts", "sales.receipt", m.Receipt, _("Receipt"), _("Receipts"), "cash-coin",
         "sales.payment.read", "sales.payment.create", "sales.payment.create",
         (Input("plan_id", _("Payment plan"), "select", required=True, choices=_open_plans),
          Input("amount", _("Amount"), "decimal", required=True),
          Input("received_on", _("Received on"), "date", required=True),
          Input("method", _("Method")), Input("reference", _("Reference"))),
         create_fn=lambda a, d: orders.record_receipt(actor=a, plan_id=d["plan_id"], amount=d["amount"],
                                                      received_on=d["received_on"], method=d.get("method", ""),
                                                      reference=d.get("reference", "")),
         related=("owner",)),
    Kind("targets", "sales.target", m.SalesTarget, _("Sales target"), _("Sales targets"), "bullseye",
         "sales.target.read", "sales.target.manage", "sales.target.manage",
         (Input("period", _("Period"), required=True, on_edit=False, help=_("2026-11, 2026-Q4 or 2026")),
          Input("user_id", _("Salesperson"), "select", choices=members, on_edit=False),
          Input("department_id", _("Or team"), "select", choices=departments, on_edit=False),
          Input("amount", _("Amount"), "decimal", required=True), Input("count", _("Count (won deals)"), "int")),
         create_fn=lambda a, d: _target(a, d),
         update_fn=lambda a, row, d: _target(a, d, row),
         initial=lambda t: {"amount": str(t.amount), "count": str(t.count)},
         related=("user", "department")),
)}
