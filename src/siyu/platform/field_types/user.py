"""A member of the organisation, stored as the membership id; existence is checked through the user resolver
that the composition root registers (platform must not import iam)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.platform import resolvers

from .base import CleanContext, FieldError, FieldSpec, FieldType


def parse_id(value: Any) -> int:
    if isinstance(value, bool):
        raise FieldError("must be an id")
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 19:
        value = int(value.strip())
    if not isinstance(value, int) or not 0 < value < 2**63:
        raise FieldError("must be an id")
    return value


class UserType(FieldType):
    key = "user"
    label = _("User")
    operators = ("eq", "ne", "in", "is_empty")
    numeric = True

    def coerce(self, value: Any, spec: FieldSpec) -> int:
        return parse_id(value)

    def clean(self, value: Any, spec: FieldSpec, ctx: CleanContext) -> int:
        member_id = self.coerce(value, spec)
        if member_id not in resolvers.existing_users(ctx.actor.org_id, [member_id]):
            raise FieldError("no such user in this organisation")
        return member_id

    def display(self, stored: Any, spec: FieldSpec, *, unmask: bool = False) -> str:
        return "" if stored is None else f"#{stored}"
