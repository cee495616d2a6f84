"""Single-line text."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from .base import CleanContext, FieldError, FieldSpec, FieldType, OptionInput

MAX_LENGTH = 1000


class TextType(FieldType):
    key = "text"
    label = _("Text")
    operators = ("eq", "ne", "contains", "in", "is_empty")
    compatible_from = frozenset({"single_select", "url"})
    default_max = 255
    limit = MAX_LENGTH

    def option_inputs(self) -> list[OptionInput]:
        return [OptionInput("max_length", "int", _("Maximum length"))]

    def clean_options(self, options: dict[str, Any], *, ctx: CleanContext) -> dict[str, Any]:
        options = super().clean_options(options, ctx=ctx)
        if "max_length" in options:
            n = options["max_length"]
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.limit:
                raise FieldError(f"max_length must be a whole number from 1 to {self.limit}")
        return options

    def coerce(self, value: Any, spec: FieldSpec) -> str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise FieldError("must be text")
        text = str(value).strip()
        if "\x00" in text:
            raise FieldError("must not contain NUL characters")
        limit = spec.options.get("max_length", self.default_max)
        if len(text) > limit:
            raise FieldError(f"at most {limit} characters")
        return text
