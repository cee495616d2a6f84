"""One choice out of a list kept in the definition: ``{"choices": [{"value": "vip", "label": "VIP"}]}``.

Values are short ASCII slugs (stable, safe inside JSON text on both databases); labels are free text.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _

from .base import CleanContext, FieldError, FieldSpec, FieldType, OptionInput, check_unknown_keys

VALUE_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,59}$")
MAX_CHOICES = 500


def clean_choices(options: dict[str, Any]) -> list[dict[str, str]]:
    choices = options.get("choices")
    if not isinstance(choices, list) or not choices:
        raise FieldError("choices: give at least one choice")
    if len(choices) > MAX_CHOICES:
        raise FieldError(f"choices: at most {MAX_CHOICES}")
    out, seen = [], set()
    for choice in choices:
        if not isinstance(choice, dict):
            raise FieldError('choices: each is {"value": "...", "label": "..."}')
        check_unknown_keys(choice, {"value", "label"})
        value, label = choice.get("value"), choice.get("label") or choice.get("value")
        if not isinstance(value, str) or not VALUE_RE.match(value):
            raise FieldError("choices: values are lower-case letters, digits, - and _ (at most 60)")
        if not isinstance(label, str) or not label.strip() or len(label) > 120:
            raise FieldError("choices: labels are 1 to 120 characters")
        if value in seen:
            raise FieldError(f"choices: {value} appears twice")
        seen.add(value)
        out.append({"value": value, "label": label.strip()})
    return out


def labels(spec: FieldSpec) -> dict[str, str]:
    return {c["value"]: c["label"] for c in spec.options.get("choices", [])}


class SingleSelectType(FieldType):
    key = "single_select"
    label = _("Single select")
    operators = ("eq", "ne", "in", "is_empty")

    def option_inputs(self) -> list[OptionInput]:
        return [OptionInput("choices", "choices", _("Choices (one per line: value|label)"))]

    def clean_options(self, options: dict[str, Any], *, ctx: CleanContext) -> dict[str, Any]:
        options = super().clean_options(options, ctx=ctx)
        return {**options, "choices": clean_choices(options)}

    def coerce(self, value: Any, spec: FieldSpec) -> str:
        if not isinstance(value, str) or value.strip() not in labels(spec):
            raise FieldError("must be one of the field's choices")
        return value.strip()

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        return "" if stored is None else labels(spec).get(stored, stored)
