"""Helpers every sales service shares: permission re-checks, input cleaning, the narrowed actor used for CDP
writes, and history."""

from __future__ import annotations

import dataclasses
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from siyu.iam.models import Membership
from siyu.kernel import clock
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.errors import NotFound, PermissionDenied, ValidationFailed

from ..models.leads import Lead, LeadHistory


def require(actor: Actor, operation: str) -> None:
    """Services check the permission again, so no caller can skip the edge's check."""
    if not actor.can(operation):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


def as_int(value: Any, *, missing: type[Exception] = NotFound, field: str = "id") -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        return int(value)
    except (TypeError, ValueError):
        if missing is ValidationFailed:
            raise ValidationFailed("bad id", fields={field: ["an id"]}) from None
        raise NotFound("not found") from None


def text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed("bad value", fields={name: ["must be text"]})
    out = unicodedata.normalize("NFC", value).strip()
    if len(out) > limit or any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in out):
        raise ValidationFailed("bad value", fields={name: [f"at most {limit} printable characters"]})
    if required and not out:
        raise ValidationFailed("required", fields={name: ["required"]})
    return out


def money(value: Any, name: str = "amount") -> Decimal:
    """Money as Decimal with two places; a float from JSON is read through its repr, never binary."""
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, bool):
        raise ValidationFailed("bad amount", fields={name: ["a number"]})
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed("bad amount", fields={name: ["a number"]}) from None
    if not number.is_finite() or number < 0 or number >= Decimal(10) ** 16:
        raise ValidationFailed("bad amount", fields={name: ["between 0 and 10^16"]})
    if number != number.quantize(Decimal("0.01")):
        raise ValidationFailed("bad amount", fields={name: ["at most 2 decimal places"]})
    return number.quantize(Decimal("0.01"))


def member(actor: Actor, user_id: Any, field: str = "owner_id") -> Membership:
    """The active membership of ``user_id`` (a user id, as ``Actor.user_id``) in the actor's organisation."""
    pk = as_int(user_id, missing=ValidationFailed, field=field)
    found = Membership.objects.in_org(actor).filter(user_id=pk, is_active=True).first()
    if found is None:
        raise ValidationFailed("no such member", fields={field: ["no active member of this organisation"]})
    return found


def cdp_actor(actor: Actor) -> Actor:
    """The actor sales uses for the CDP writes its own operations imply (a lead's profile, a conversion's
    account and contact): the same person, organisation-wide on profiles and allowed exactly those writes.
    The sales permission checked before is what authorises them; the CDP audit entries name the person."""
    if actor.is_system:
        return actor
    return dataclasses.replace(
        actor, permissions=frozenset({"cdp.profile.create", "cdp.profile.update", "cdp.profile.read"}),
        scopes={**actor.scopes, "cdp.profile": DataScope.ORGANIZATION}, field_access={},
        label=actor.label or str(actor.user_id),
    )


def history(actor: Actor | None, lead: Lead, kind: str, **data: Any) -> LeadHistory:
    return LeadHistory.objects.create(org_id=lead.org_id, lead=lead, kind=kind, at=clock.now(),
                                      actor_user_id=actor.user_id if actor else None, data=data)


def profile_or_none(org_id: int, profile_id: Any):
    """A profile of the organisation by id (following merges), or None: for timeline entries and the like."""
    from siyu.cdp import profiles as cdp_profiles
    from siyu.cdp.resolution import live

    try:
        return live(cdp_profiles.visible_profile(Actor.system(org_id, label="sales"), profile_id, active=False))
    except NotFound:
        return None


def display_name(user) -> str:
    return (user.name or user.email) if user else ""
