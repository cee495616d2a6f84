"""Yes / no, stored as JSON true / false."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.db.models.lookups import In, IsNull
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .base import FieldError, FieldSpec, FieldType, parse_bool

# What the JSON text of true / false is: 'true' on PostgreSQL (->>), 1 on SQLite (json_extract): accept both.
TEXTS = {True: ["true", "1"], False: ["false", "0"]}


class BooleanType(FieldType):
    key = "boolean"
    label = _("Yes / no")
    operators = ("eq", "ne", "is_empty")
    indexable = False

    def coerce(self, value: Any, spec: FieldSpec) -> bool:
        if isinstance(value, int) and not isinstance(value, bool) and value not in (0, 1):
            raise FieldError("must be true or false")
        return parse_bool(value)

    def condition(self, column: str, spec: FieldSpec, op: str, value: Any) -> Q:
        text = self.text_expression(column, spec)
        if op == "eq":
            return Q(In(text, TEXTS[value]))
        if op == "ne":
            return Q(In(text, TEXTS[not value])) | Q(IsNull(text, True))
        return super().condition(column, spec, op, value)

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        if stored is None:
            return ""
        return gettext("Yes") if stored else gettext("No")

    def export(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        return "" if stored is None else ("true" if stored else "false")
