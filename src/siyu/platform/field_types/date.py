"""Calendar dates, stored as ISO text (``2025-03-01``): text order is date order."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext_lazy as _

from .base import FieldError, FieldSpec, FieldType


class DateType(FieldType):
    key = "date"
    label = _("Date")
    operators = ("eq", "ne", "lt", "gt", "lte", "gte", "is_empty")

    def coerce(self, value: Any, spec: FieldSpec) -> str:
        if isinstance(value, dt.datetime):
            raise FieldError("must be a date (YYYY-MM-DD)")
        if isinstance(value, dt.date):
            return value.isoformat()
        if not isinstance(value, str):
            raise FieldError("must be a date (YYYY-MM-DD)")
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError as exc:
            raise FieldError("must be a date (YYYY-MM-DD)") from exc

    def to_python(self, stored: Any) -> dt.date:
        return dt.date.fromisoformat(stored)
