"""Products, price books, quotes, contracts, orders, payment plans, receipts and targets as standard objects of
the platform (keys ``sales.product`` …): their lists get custom-field columns and the platform's filters, and
administrators can add custom fields to them. Registered at start-up from ``registration.py``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def _status_choices():
    return {"choices": [{"value": v, "label": label} for v, label in (
        ("draft", _("Draft")), ("pending", _("Pending approval")), ("approved", _("Approved")),
        ("rejected", _("Rejected")), ("superseded", _("Superseded")))]}


def register_standard_objects() -> None:
    from siyu.platform import objects
    from siyu.platform.objects import StandardField as F

    from .models import commerce as m

    owner = [F("owner_id", _("Owner ID"), "integer"), F("owner_name", _("Owner"), "text", lookup="owner__name")]
    created = F("created_at", _("Created"), "datetime")
    money = {"decimal_places": 2}
    specs = [
        ("sales.product", _("Product"), m.Product, [
            F("id", _("ID"), "integer"), F("code", _("Code"), "text"), F("name", _("Name"), "text"),
            F("unit", _("Unit"), "text"), F("list_price", _("List price"), "decimal", options=money),
            F("is_active", _("Active"), "boolean"), created]),
        ("sales.price_book", _("Price book"), m.PriceBook, [
            F("id", _("ID"), "integer"), F("name", _("Name"), "text"), F("currency", _("Currency"), "text"),
            F("max_discount_percent", _("Max discount %"), "decimal", options=money),
            F("is_default", _("Default"), "boolean"), F("is_active", _("Active"), "boolean"), created]),
        ("sales.quote", _("Quote"), m.Quote, [
            F("id", _("ID"), "integer"), F("number", _("Number"), "text"), F("version", _("Version"), "integer"),
            F("title", _("Title"), "text"), F("status", _("Status"), "single_select", options=_status_choices()),
            F("customer_name", _("Customer"), "text"), F("total", _("Total"), "decimal", options=money),
            F("max_line_discount", _("Max line discount %"), "decimal", options=money),
            F("valid_until", _("Valid until"), "date"), *owner, created]),
        ("sales.contract", _("Contract"), m.Contract, [
            F("id", _("ID"), "integer"), F("number", _("Number"), "text"), F("version", _("Version"), "integer"),
            F("title", _("Title"), "text"), F("status", _("Status"), "single_select", options=_status_choices()),
            F("customer_name", _("Customer"), "text"), F("amount", _("Amount"), "decimal", options=money),
            F("starts_on", _("Starts"), "date"), F("ends_on", _("Ends"), "date"),
            F("signed_on", _("Signed"), "date"), *owner, created]),
        ("sales.order", _("Order"), m.Order, [
            F("id", _("ID"), "integer"), F("number", _("Number"), "text"), F("source", _("Source"), "text"),
            F("external_id", _("External ID"), "text"), F("customer_name", _("Customer"), "text"),
            F("amount", _("Amount"), "decimal", options=money), F("ordered_on", _("Ordered on"), "date"),
            F("status", _("Status"), "text"), F("contract_id", _("Contract ID"), "integer"), *owner, created]),
        ("sales.payment_plan", _("Payment plan"), m.PaymentPlan, [
            F("id", _("ID"), "integer"), F("customer_name", _("Customer"), "text"),
            F("due_on", _("Due on"), "date"), F("amount", _("Amount"), "decimal", options=money),
            F("received", _("Received"), "decimal", options=money),
            F("contract_id", _("Contract ID"), "integer"), F("order_id", _("Order ID"), "integer"), *owner,
            created]),
        ("sales.receipt", _("Receipt"), m.Receipt, [
            F("id", _("ID"), "integer"), F("plan_id", _("Payment plan ID"), "integer"),
            F("amount", _("Amount"), "decimal", options=money), F("received_on", _("Received on"), "date"),
            F("method", _("Method"), "text"), F("reference", _("Reference"), "text"), *owner, created]),
        ("sales.target", _("Sales target"), m.SalesTarget, [
            F("id", _("ID"), "integer"), F("period", _("Period"), "text"),
            F("user_id", _("Salesperson ID"), "integer"), F("user_name", _("Salesperson"), "text",
                                                            lookup="user__name"),
            F("department_id", _("Department ID"), "integer"),
            F("department_name", _("Department"), "text", lookup="department__name"),
            F("amount", _("Amount"), "decimal", options=money), F("count", _("Count"), "integer"), created]),
    ]
    for key, label, model, fields in specs:
        objects.register_standard_object(key=key, label=label, model=model, standard_fields=fields)
