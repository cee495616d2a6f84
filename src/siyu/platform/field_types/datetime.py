"""Points in time. Input must carry a UTC offset; stored as fixed-width UTC ISO text, so text order is time order
on both databases and no naive datetime ever enters the system."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from .base import FieldError, FieldSpec, FieldType

MESSAGE = "must be an ISO 8601 date and time with a UTC offset, e.g. 2025-03-01T09:30:00+08:00"


class DateTimeType(FieldType):
    key = "datetime"
    label = _("Date and time")
    operators = ("eq", "ne", "lt", "gt", "lte", "gte", "is_empty")

    def coerce(self, value: Any, spec: FieldSpec) -> str:
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError as exc:
                raise FieldError(MESSAGE) from exc
        if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise FieldError(MESSAGE)
        if not dt.datetime(1900, 1, 2, tzinfo=dt.UTC) <= value <= dt.datetime(9999, 12, 30, tzinfo=dt.UTC):
            raise FieldError("out of range")
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")

    def to_python(self, stored: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(stored)

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        if not stored:
            return ""
        value = timezone.localtime(dt.datetime.fromisoformat(stored))
        return date_format(value, "SHORT_DATETIME_FORMAT")

    def export(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        return stored or ""
