"""Money: a Decimal amount quantised to the currency's minor unit, plus an ISO 4217 currency.

Stored as ``{"amount": "12.50", "currency": "CNY"}`` (the amount a string, never a float). Filters and sorting
compare the amount; a list mixing currencies sorts by amount only (documented in the README).
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_currency, get_currency_precision, is_currency
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext_lazy as _

from .base import CleanContext, FieldError, FieldSpec, FieldType, OptionInput, check_unknown_keys
from .decimal import parse_decimal

DEFAULT_CURRENCY = "CNY"


def _currency(code: Any) -> str:
    if not isinstance(code, str) or not is_currency(code.strip().upper()):
        raise FieldError("currency must be an ISO 4217 code such as CNY")
    return code.strip().upper()


class MoneyType(FieldType):
    key = "money"
    label = _("Money")
    operators = ("eq", "ne", "lt", "gt", "lte", "gte", "is_empty")
    numeric = True
    index_path = ("amount",)

    def option_inputs(self) -> list[OptionInput]:
        return [OptionInput("currency", "currency", _("Default currency"))]

    def clean_options(self, options: dict[str, Any], *, ctx: CleanContext) -> dict[str, Any]:
        options = super().clean_options(options, ctx=ctx)
        return {**options, "currency": _currency(options.get("currency", DEFAULT_CURRENCY))}

    def coerce(self, value: Any, spec: FieldSpec) -> dict[str, str]:
        if isinstance(value, dict):
            check_unknown_keys(value, {"amount", "currency"})
            currency = _currency(value.get("currency") or spec.options.get("currency", DEFAULT_CURRENCY))
            amount = value.get("amount")
            if amount is None or amount == "":
                raise FieldError("amount is required")
        else:
            currency, amount = spec.options.get("currency", DEFAULT_CURRENCY), value
        number = parse_decimal(amount, get_currency_precision(currency))
        return {"amount": str(number), "currency": currency}

    def text_form(self, stored: Any) -> str:
        return stored["amount"]

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        if not stored:
            return ""
        return format_currency(stored["amount"], stored["currency"], locale=to_locale(get_language() or "zh-hans"))

    def export(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        return f"{stored['amount']} {stored['currency']}" if stored else ""
