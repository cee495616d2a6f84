"""Whole numbers, stored as JSON numbers within the range JSON readers keep exact (±2**53)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from .base import CleanContext, FieldError, FieldSpec, FieldType, OptionInput

SAFE = 2**53 - 1


def _bound(options: dict[str, Any], name: str) -> None:
    value = options.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or abs(value) > SAFE):
        raise FieldError(f"{name} must be a whole number")


class IntegerType(FieldType):
    key = "integer"
    label = _("Integer")
    operators = ("eq", "ne", "lt", "gt", "lte", "gte", "in", "is_empty")
    numeric = True

    def option_inputs(self) -> list[OptionInput]:
        return [OptionInput("min", "int", _("Minimum")), OptionInput("max", "int", _("Maximum"))]

    def clean_options(self, options: dict[str, Any], *, ctx: CleanContext) -> dict[str, Any]:
        options = super().clean_options(options, ctx=ctx)
        _bound(options, "min")
        _bound(options, "max")
        if options.get("min") is not None and options.get("max") is not None and options["min"] > options["max"]:
            raise FieldError("min must not exceed max")
        return options

    def coerce(self, value: Any, spec: FieldSpec) -> int:
        if isinstance(value, bool):
            raise FieldError("must be a whole number")
        if isinstance(value, float):
            if not value.is_integer():
                raise FieldError("must be a whole number")
            value = int(value)
        if isinstance(value, str):
            text = value.strip()
            if not text.lstrip("-").isdigit() or len(text) > 17:
                raise FieldError("must be a whole number")
            value = int(text)
        if not isinstance(value, int):
            raise FieldError("must be a whole number")
        if abs(value) > SAFE:
            raise FieldError(f"must be between {-SAFE} and {SAFE}")
        lo, hi = spec.options.get("min"), spec.options.get("max")
        if lo is not None and value < lo:
            raise FieldError(f"must be at least {lo}")
        if hi is not None and value > hi:
            raise FieldError(f"must be at most {hi}")
        return value
