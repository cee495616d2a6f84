"""Web addresses: http and https only (no ``javascript:`` links in the console)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from .base import FieldError, FieldSpec, FieldType

_validate = URLValidator(schemes=["http", "https"])


class UrlType(FieldType):
    key = "url"
    label = _("URL")
    operators = ("eq", "ne", "contains", "is_empty")

    def coerce(self, value: Any, spec: FieldSpec) -> str:
        if not isinstance(value, str) or len(value) > 2000:
            raise FieldError("must be an http or https URL")
        text = value.strip()
        try:
            _validate(text)
        except ValidationError as exc:
            raise FieldError("must be an http or https URL") from exc
        return text
