"""Decimal numbers, stored as canonical strings quantised to the field's decimal places (never a float)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from .base import CleanContext, FieldError, FieldSpec, FieldType, OptionInput

MAX_DIGITS = 28


def parse_decimal(value: Any, places: int) -> Decimal:
    """Input -> a Decimal with exactly ``places`` decimals; more precision than that is an error, not rounding."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise FieldError("must be a number")
    try:
        # A float from a JSON body is read through its shortest repr, so 0.1 stays 0.1.
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise FieldError("must be a number") from exc
    if not number.is_finite():
        raise FieldError("must be a finite number")
    quantum = Decimal(1).scaleb(-places)
    try:
        quantised = number.quantize(quantum)
    except InvalidOperation as exc:
        raise FieldError("the number is too large") from exc
    if quantised != number:
        raise FieldError(f"at most {places} decimal places")
    if len(quantised.as_tuple().digits) > MAX_DIGITS:
        raise FieldError("the number is too large")
    # One canonical text per value ("-0.00" would not equal "0.00" in an equality filter).
    return quantised.copy_abs() if quantised == 0 else quantised


class DecimalType(FieldType):
    key = "decimal"
    label = _("Decimal")
    operators = ("eq", "ne", "lt", "gt", "lte", "gte", "in", "is_empty")
    numeric = True
    # The stored text depends on it: changing it would make equality filters miss existing values.
    immutable_options = frozenset({"decimal_places"})

    def option_inputs(self) -> list[OptionInput]:
        return [OptionInput("decimal_places", "int", _("Decimal places"))]

    def clean_options(self, options: dict[str, Any], *, ctx: CleanContext) -> dict[str, Any]:
        options = super().clean_options(options, ctx=ctx)
        places = options.get("decimal_places", 2)
        if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 10:
            raise FieldError("decimal_places must be a whole number from 0 to 10")
        return {**options, "decimal_places": places}

    def coerce(self, value: Any, spec: FieldSpec) -> str:
        return str(parse_decimal(value, spec.options.get("decimal_places", 2)))

    def to_python(self, stored: Any) -> Decimal:
        return Decimal(stored)
