"""What the commerce services share: one visible row or 404, numbering, Decimal helpers, frozen-state checks."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction

from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound

from ..common import as_int

CENT = Decimal("0.01")
LOCKED = {"pending", "approved", "superseded"}


def q2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def visible(model, actor: Actor, pk: Any, *, for_update: bool = False):
    """The row if the actor may see it; other organisations and other people's rows are simply not found."""
    qs = model.objects.visible_to(actor).filter(pk=as_int(pk))
    row = (qs.select_for_update() if for_update else qs).first()
    if row is None:
        raise NotFound("not found")
    return row


def ensure_editable(row) -> None:
    """Pending and approved documents are frozen: no path edits them (amend or revise makes a new version)."""
    if row.status in LOCKED:
        raise Conflict(f"a {row.status} document cannot be edited", code=f"document_{row.status}")


def next_number(model, actor: Actor, prefix: str) -> str:
    """The next ``PREFIX-000001`` of the organisation (version 1 rows count; a race is caught by the unique
    constraint and retried by :func:`create_numbered`)."""
    count = model.objects.in_org(actor).filter(**({"version": 1} if hasattr(model, "version") else {})).count()
    return f"{prefix}-{count + 1:06d}"


def create_numbered(model, actor: Actor, prefix: str, **fields):
    for _ in range(5):
        number = next_number(model, actor, prefix)
        try:
            with transaction.atomic():
                return model.objects.create(org_id=actor.org_id, number=number, **fields)
        except IntegrityError:
            continue
    raise Conflict("could not allocate a number, try again", code="number_busy")


def owner_department(actor: Actor) -> dict[str, Any]:
    """A new document belongs to its creator and the creator's (first) department."""
    dept = min(actor.department_ids) if actor.department_ids else None
    return {"owner_id": actor.user_id, "department_id": dept}


def set_custom(*, actor: Actor, object_key: str, row, data: dict[str, Any], permission: str) -> None:
    """Custom field values of a commerce row (validated and audited by the platform). A pending or approved
    document is frozen here as everywhere: its custom values are part of what was approved."""
    from siyu.platform.services import set_custom_values

    from ..common import require

    require(actor, permission)
    if hasattr(row, "version"):
        ensure_editable(row)
    if data:
        set_custom_values(actor=actor, object_key=object_key, instance=row, data=data)
