"""Several choices out of the definition's list, stored as a JSON array of choice values in choice order.

``contains`` matches records holding a value: choice values are slugs, so the quoted value is a safe substring of
the array's JSON text on both databases (no JSON containment operator needed, which SQLite lacks).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.db.models.lookups import Contains
from django.utils.translation import gettext_lazy as _

from .base import FieldError, FieldSpec
from .single_select import SingleSelectType, labels


class MultiSelectType(SingleSelectType):
    key = "multi_select"
    label = _("Multiple select")
    operators = ("contains", "is_empty")
    sortable = False
    indexable = False
    empty_texts = ("[]",)

    def coerce(self, value: Any, spec: FieldSpec) -> list[str]:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise FieldError("must be a list of the field's choices")
        known = labels(spec)
        chosen = set()
        for v in value:
            if not isinstance(v, str) or v.strip() not in known:
                raise FieldError("must be a list of the field's choices")
            chosen.add(v.strip())
        return [c for c in known if c in chosen]

    def filter_value(self, op: str, raw: Any, spec: FieldSpec) -> Any:
        if op == "contains":
            value = str(raw).strip()
            if value not in labels(spec):
                raise FieldError("must be one of the field's choices")
            return value
        return super().filter_value(op, raw, spec)

    def condition(self, column: str, spec: FieldSpec, op: str, value: Any) -> Q:
        if op == "contains":
            return Q(Contains(self.text_expression(column, spec), f'"{value}"'))
        return super().condition(column, spec, op, value)

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        names = labels(spec)
        return ", ".join(names.get(v, v) for v in stored or [])
