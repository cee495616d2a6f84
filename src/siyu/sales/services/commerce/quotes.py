"""Products, price books and numbered, versioned quotes.

A quote is edited only as a draft (or after rejection/recall); submitting it goes through the platform's
approval engine (object key ``sales.quote``), which marks it pending and, when approved, freezes its snapshot.
A revision of a submitted quote is a new draft row with the same number and the next version.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import diff, record_write
from siyu.kernel.errors import Conflict, ValidationFailed
from siyu.platform.approvals import services as approvals

from ...models.commerce import DocStatus, PriceBook, PriceBookEntry, Product, Quote, QuoteLine
from ...models.opportunities import Opportunity
from ..common import as_int, money, require, text
from .base import create_numbered, ensure_editable, owner_department, q2, visible

PRODUCT_FIELDS = ("code", "name", "unit", "list_price", "is_active")


def _product_state(p: Product) -> dict[str, Any]:
    return {f: getattr(p, f) for f in PRODUCT_FIELDS}


def save_product(*, actor: Actor, data: dict[str, Any], product_id: int | None = None) -> Product:
    """Create a product, or update one when ``product_id`` is given."""
    require(actor, "sales.quote.manage")
    p = Product(org_id=actor.org_id) if product_id is None else visible(Product, actor, product_id)
    before = {} if product_id is None else _product_state(p)
    if product_id is None or "code" in data:
        p.code = text(data.get("code"), "code", 60, required=True)
    if product_id is None or "name" in data:
        p.name = text(data.get("name"), "name", 200, required=True)
    if "unit" in data:
        p.unit = text(data.get("unit"), "unit", 20)
    if "list_price" in data or product_id is None:
        p.list_price = money(data.get("list_price"), "list_price")
    if "is_active" in data:
        p.is_active = bool(data["is_active"])
    if Product.objects.in_org(actor).filter(code=p.code).exclude(pk=p.pk).exists():
        raise ValidationFailed("duplicate code", fields={"code": ["already used"]})
    p.save()
    record_write(actor, "create" if product_id is None else "update", "sales.product", p.pk,
                 diff(before, _product_state(p)))
    return p


def save_price_book(*, actor: Actor, name: str, max_discount_percent: Any = 0, currency: str = "CNY",
                    prices: dict[int, Any] | None = None) -> PriceBook:
    """A price book with per-product prices (``{product_id: unit_price}``); discounts above
    ``max_discount_percent`` on any line are what approval processes usually test for."""
    require(actor, "sales.quote.manage")
    pct = _percent(max_discount_percent, "max_discount_percent")
    book = PriceBook.objects.create(org_id=actor.org_id, name=text(name, "name", 120, required=True),
                                    currency=text(currency, "currency", 3) or "CNY", max_discount_percent=pct)
    for pid, price in (prices or {}).items():
        product = visible(Product, actor, pid)
        PriceBookEntry.objects.create(org_id=actor.org_id, price_book=book, product=product,
                                      unit_price=money(price, "prices"))
    record_write(actor, "create", "sales.price_book", book.pk,
                 {"name": [None, book.name], "prices": [None, {str(k): str(v) for k, v in (prices or {}).items()}]})
    return book


def update_price_book(*, actor: Actor, price_book_id: int, data: dict[str, Any]) -> PriceBook:
    """Edit a price book's name, currency, discount limit, active flag and (when ``prices`` is given) replace its
    per-product prices. Quotes already priced keep their line prices."""
    require(actor, "sales.quote.manage")
    book = visible(PriceBook, actor, price_book_id, for_update=True)
    before = {"name": book.name, "currency": book.currency, "max_discount_percent": book.max_discount_percent,
              "is_active": book.is_active}
    if "name" in data:
        book.name = text(data.get("name"), "name", 120, required=True)
    if "currency" in data:
        book.currency = text(data.get("currency"), "currency", 3) or "CNY"
    if "max_discount_percent" in data:
        book.max_discount_percent = _percent(data.get("max_discount_percent"), "max_discount_percent")
    if "is_active" in data:
        book.is_active = bool(data["is_active"])
    changes = diff(before, {"name": book.name, "currency": book.currency,
                            "max_discount_percent": book.max_discount_percent, "is_active": book.is_active})
    book.save()
    if data.get("prices") is not None:
        entries = [PriceBookEntry(org_id=actor.org_id, price_book=book, product=visible(Product, actor, pid),
                                  unit_price=money(price, "prices")) for pid, price in data["prices"].items()]
        old = {str(k): str(v) for k, v in PriceBookEntry.objects.in_org(actor).filter(price_book=book)
               .values_list("product_id", "unit_price")}
        PriceBookEntry.objects.in_org(actor).filter(price_book=book).delete()
        PriceBookEntry.objects.bulk_create(entries)
        new = {str(e.product_id): str(e.unit_price) for e in entries}
        if old != new:
            changes["prices"] = [old, new]
    record_write(actor, "update", "sales.price_book", book.pk, changes)
    return book


def _percent(value: Any, name: str) -> Decimal:
    pct = money(value, name)
    if pct > 100:
        raise ValidationFailed("bad percent", fields={name: ["between 0 and 100"]})
    return pct


def _quantity(value: Any) -> Decimal:
    try:
        qty = Decimal(str(value if value is not None else 1))
    except Exception:
        raise ValidationFailed("bad quantity", fields={"lines": ["quantity must be a number"]}) from None
    if not qty.is_finite() or qty <= 0 or qty >= 10**10 or qty != qty.quantize(Decimal("0.001")):
        raise ValidationFailed("bad quantity", fields={"lines": ["quantity above 0, at most 3 decimals"]})
    return qty


def _build_lines(actor: Actor, quote: Quote, lines: list[dict[str, Any]]) -> list[QuoteLine]:
    if not lines:
        raise ValidationFailed("a quote needs lines", fields={"lines": ["at least one line"]})
    book_prices: dict[int, Decimal] = {}
    if quote.price_book_id:
        book_prices = dict(PriceBookEntry.objects.in_org(actor).filter(price_book_id=quote.price_book_id)
                           .values_list("product_id", "unit_price"))
    out = []
    for i, line in enumerate(lines):
        product = visible(Product, actor, line["product_id"]) if line.get("product_id") is not None else None
        name = text(line.get("name") or (product.name if product else ""), "lines", 200, required=True)
        if line.get("unit_price") not in (None, ""):
            price = money(line["unit_price"], "lines")
        elif product is not None:
            price = book_prices.get(product.pk, product.list_price)
        else:
            raise ValidationFailed("price needed", fields={"lines": [f"line {i + 1}: unit_price or product_id"]})
        qty, pct = _quantity(line.get("quantity")), _percent(line.get("discount_percent"), "lines")
        amount = q2(qty * price * (100 - pct) / 100)
        out.append(QuoteLine(org_id=actor.org_id, quote=quote, product=product, name=name, quantity=qty,
                             unit_price=price, discount_percent=pct, amount=amount, order=i))
    return out


def _apply_totals(quote: Quote, lines: list[QuoteLine]) -> None:
    quote.subtotal = q2(sum((ln.quantity * ln.unit_price for ln in lines), Decimal(0)))
    quote.total = q2(sum((ln.amount for ln in lines), Decimal(0)))
    quote.discount_amount = quote.subtotal - quote.total
    quote.max_line_discount = max((ln.discount_percent for ln in lines), default=Decimal(0))


QUOTE_FIELDS = ("title", "customer_name", "valid_until", "note", "total", "status")


def _state(q: Quote) -> dict[str, Any]:
    return {f: getattr(q, f) for f in QUOTE_FIELDS}


def _header(actor: Actor, quote: Quote, data: dict[str, Any], *, new: bool) -> None:
    if new or "title" in data:
        quote.title = text(data.get("title"), "title", 200, required=True)
    for name, limit in (("customer_name", 200), ("note", 4000)):
        if name in data:
            setattr(quote, name, text(data.get(name), name, limit))
    if "valid_until" in data:
        quote.valid_until = data["valid_until"]
    if data.get("opportunity_id") is not None:
        opp = visible(Opportunity, actor, data["opportunity_id"])
        quote.opportunity, quote.account_id = opp, opp.account_id
        quote.currency = opp.currency
    if data.get("price_book_id") is not None:
        quote.price_book = visible(PriceBook, actor, data["price_book_id"])


def create_quote(*, actor: Actor, data: dict[str, Any]) -> Quote:
    """A new draft quote numbered ``Q-000001`` onwards, version 1, priced from its price book."""
    require(actor, "sales.quote.create")
    quote = Quote(org_id=actor.org_id, **owner_department(actor))
    _header(actor, quote, data, new=True)
    lines = _build_lines(actor, quote, data.get("lines") or [])
    _apply_totals(quote, lines)
    fields = {f.attname: getattr(quote, f.attname) for f in Quote._meta.concrete_fields
              if f.attname not in {"id", "org_id", "number", "created_at", "updated_at"}}
    quote = create_numbered(Quote, actor, "Q", **fields)
    for ln in lines:
        ln.quote = quote
    QuoteLine.objects.bulk_create(lines)
    record_write(actor, "create", "sales.quote", quote.pk, diff({}, _state(quote)), number=quote.number)
    return quote


def update_quote(*, actor: Actor, quote_id: int, data: dict[str, Any]) -> Quote:
    """Edit a draft (or rejected) quote; a pending or approved one answers 409 and is left as it is."""
    require(actor, "sales.quote.update")
    quote = visible(Quote, actor, quote_id, for_update=True)
    ensure_editable(quote)
    before = _state(quote)
    _header(actor, quote, data, new=False)
    if "lines" in data:
        lines = _build_lines(actor, quote, data["lines"] or [])
        QuoteLine.objects.filter(quote=quote).delete()
        QuoteLine.objects.bulk_create(lines)
        _apply_totals(quote, lines)
    quote.save()
    record_write(actor, "update", "sales.quote", quote.pk, diff(before, _state(quote)))
    return quote


def revise_quote(*, actor: Actor, quote_id: int) -> Quote:
    """A new draft version of a submitted quote (same number, version + 1), lines copied; the latest version
    only. The earlier version keeps its approval and snapshot; it is marked superseded when the new one is
    approved."""
    require(actor, "sales.quote.create")
    old = visible(Quote, actor, quote_id, for_update=True)
    if Quote.objects.in_org(actor).filter(number=old.number, version__gt=old.version).exists():
        raise Conflict("only the latest version can be revised", code="not_latest_version")
    if old.status == DocStatus.PENDING:
        raise Conflict("recall the pending version first", code="document_pending")
    fields = {f.attname: getattr(old, f.attname) for f in Quote._meta.concrete_fields
              if f.attname not in {"id", "created_at", "updated_at", "version", "status"}}
    new = Quote.objects.create(**fields, version=old.version + 1, status=DocStatus.DRAFT)
    QuoteLine.objects.bulk_create([QuoteLine(org_id=ln.org_id, quote=new, product_id=ln.product_id, name=ln.name,
                                             quantity=ln.quantity, unit_price=ln.unit_price,
                                             discount_percent=ln.discount_percent, amount=ln.amount,
                                             order=ln.order) for ln in old.lines.order_by("order")])
    record_write(actor, "create", "sales.quote", new.pk, {"version": [old.version, new.version]},
                 revises=old.pk, number=new.number)
    return new


def submit_quote(*, actor: Actor, quote_id: int, comment: str = ""):
    """Submit through the approval engine (which checks and locks everything)."""
    require(actor, "sales.quote.update")
    return approvals.submit(actor=actor, object_key="sales.quote", object_id=as_int(quote_id), comment=comment)


def quote_snapshot(q: Quote) -> dict[str, Any]:
    """What an approval freezes (and what approval conditions test: ``total``, ``max_line_discount``, …)."""
    return {
        "id": q.pk, "number": q.number, "version": q.version, "title": q.title, "customer_name": q.customer_name,
        "opportunity_id": q.opportunity_id, "account_id": q.account_id, "currency": q.currency,
        "subtotal": str(q.subtotal), "discount_amount": str(q.discount_amount), "total": str(q.total),
        "max_line_discount": str(q.max_line_discount), "owner_id": q.owner_id, "department_id": q.department_id,
        "valid_until": q.valid_until.isoformat() if q.valid_until else None, "note": q.note,
        "lines": [{"product_id": ln.product_id, "name": ln.name, "quantity": str(ln.quantity),
                   "unit_price": str(ln.unit_price), "discount_percent": str(ln.discount_percent),
                   "amount": str(ln.amount)} for ln in q.lines.order_by("order", "id")],
    }


def set_quote_state(actor: Actor, quote: Quote, state: str) -> None:
    """The approval engine's callback: pending / approved / rejected / recalled (recalled → draft)."""
    status = {"recalled": DocStatus.DRAFT}.get(state, state)
    before = quote.status
    quote.status = status
    quote.save(update_fields=["status", "updated_at"])
    if status == DocStatus.APPROVED:
        (Quote.objects.in_org(actor).filter(number=quote.number, version__lt=quote.version,
                                            status=DocStatus.APPROVED).update(status=DocStatus.SUPERSEDED))
    record_write(actor, "update", "sales.quote", quote.pk, {"status": [before, status]}, via="approval")
