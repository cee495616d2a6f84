"""A link to one record of another object (``options: {"object": "custom.project"}``), stored as its id and
checked, on write, through the lookup resolver registry: the record must exist and be visible to the writer."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.platform import resolvers

from .base import CleanContext, FieldError, FieldSpec, FieldType, OptionInput
from .user import parse_id


class LookupType(FieldType):
    key = "lookup"
    label = _("Lookup")
    operators = ("eq", "ne", "in", "is_empty")
    numeric = True
    immutable_options = frozenset({"object"})

    def option_inputs(self) -> list[OptionInput]:
        return [OptionInput("object", "object", _("Object"))]

    def clean_options(self, options: dict[str, Any], *, ctx: CleanContext) -> dict[str, Any]:
        options = super().clean_options(options, ctx=ctx)
        target = options.get("object")
        if not isinstance(target, str) or not resolvers.object_exists(ctx.actor, target):
            raise FieldError("object: choose an existing object")
        return options

    def coerce(self, value: Any, spec: FieldSpec) -> int:
        return parse_id(value)

    def clean(self, value: Any, spec: FieldSpec, ctx: CleanContext) -> int:
        record_id = self.coerce(value, spec)
        if record_id not in resolvers.existing_records(ctx.actor, spec.options["object"], [record_id]):
            raise FieldError("no such record")
        return record_id

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        return "" if stored is None else f"#{stored}"
