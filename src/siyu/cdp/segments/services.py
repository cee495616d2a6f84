"""Writes of segments, snapshots and personas: ``verb_noun(*, actor, …)``, permission checked, audited, never
committing (the edge owns the transaction).

Creating a segment, changing its rules or reactivating it computes its members at once and silently (no
``SegmentEntered`` for a segment's first members); from then on :mod:`.membership` keeps them up to date.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import diff, record_write
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from ..models import Persona, Profile, Segment, SegmentSnapshot
from . import membership, selectors, snapshots
from .compiler import Compiler, tune_session
from .rules import EVERYONE, Validator, to_wire

SEGMENT_FIELDS = ("name", "description", "rules", "is_active")
PERSONA_FIELDS = ("name", "summary", "demographics", "consumption_habits", "interests", "decision_path",
                  "channels", "pain_points", "segment_id")
TEXT_LIMITS = {"name": 120, "description": 2000, "summary": 2000, "demographics": 4000, "consumption_habits": 4000,
               "interests": 4000, "decision_path": 4000, "channels": 4000, "pain_points": 4000}


def _require(actor: Actor, operation: str) -> None:
    if not actor.can(operation):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


def _text(name: str, value: Any, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or "\x00" in value or len(value) > TEXT_LIMITS[name]:
        raise ValidationFailed("bad value", fields={name: [f"text of at most {TEXT_LIMITS[name]} characters"]})
    value = value.strip()
    if required and not value:
        raise ValidationFailed("bad value", fields={name: ["required"]})
    return value


def _unique_name(actor: Actor, model, name: str, exclude: int | None = None) -> None:
    clash = model.objects.in_org(actor).filter(name=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise Conflict("name taken", fields={"name": ["another one has this name"]})


# --- segments ---------------------------------------------------------------------------------------------


def create_segment(*, actor: Actor, name: str, rules: Mapping[str, Any] | None = None, description: str = "",
                   is_active: bool = True) -> Segment:
    """A segment with validated rules; its members are computed at once (silently)."""
    _require(actor, "cdp.segment.manage")
    name = _text("name", name, required=True)
    description = _text("description", description)
    node = Validator(actor).parse(EVERYONE if rules is None else rules)
    _unique_name(actor, Segment, name)
    try:
        with transaction.atomic():  # a concurrent create of the same name: 409, not a 500
            segment = Segment.objects.create(org_id=actor.org_id, name=name, description=description,
                                             rules=to_wire(node), is_active=bool(is_active), owner_id=actor.user_id)
    except IntegrityError:
        raise Conflict("name taken", fields={"name": ["another one has this name"]}) from None
    if segment.is_active:
        membership.recompute_segment(actor, segment, node, emit=False)
        segment.refresh_from_db()
    record_write(actor, "create", "cdp.segment", segment.pk,
                 diff({}, {f: getattr(segment, f) for f in SEGMENT_FIELDS}))
    return segment


def update_segment(*, actor: Actor, segment_id: Any, changes: Mapping[str, Any]) -> Segment:
    """Change name, description, rules or ``is_active``. New rules or a reactivation recompute the members
    (silently); an inactive segment's members are kept as they were but no longer maintained."""
    _require(actor, "cdp.segment.manage")
    segment = selectors.segment(actor, segment_id)
    before = {f: getattr(segment, f) for f in SEGMENT_FIELDS}
    node = None
    if "name" in changes:
        segment.name = _text("name", changes["name"], required=True)
        _unique_name(actor, Segment, segment.name, exclude=segment.pk)
    if "description" in changes:
        segment.description = _text("description", changes["description"])
    if "rules" in changes:
        node = Validator(actor).parse(changes["rules"])
        segment.rules = to_wire(node)
    if "is_active" in changes:
        if not isinstance(changes["is_active"], bool):
            raise ValidationFailed("bad value", fields={"is_active": ["true or false"]})
        segment.is_active = changes["is_active"]
    after = {f: getattr(segment, f) for f in SEGMENT_FIELDS}
    segment.save()
    recompute = segment.is_active and (before["rules"] != after["rules"] or not before["is_active"])
    if recompute:
        membership.recompute_segment(actor, segment, node or Validator(actor).parse(segment.rules), emit=False)
        segment.refresh_from_db()
    record_write(actor, "update", "cdp.segment", segment.pk, diff(before, after))
    return segment


def delete_segment(*, actor: Actor, segment_id: Any) -> None:
    """Delete a segment with its members and snapshots; personas linked to it keep their description."""
    _require(actor, "cdp.segment.manage")
    segment = selectors.segment(actor, segment_id)
    pk, before = segment.pk, {f: getattr(segment, f) for f in SEGMENT_FIELDS}
    segment.delete()
    record_write(actor, "delete", "cdp.segment", pk, diff(before, {}))


def recompute_segment(*, actor: Actor, segment_id: Any) -> membership.Changes:
    """Recompute one segment now, emitting events for every change (an operator's "recompute")."""
    _require(actor, "cdp.segment.manage")
    segment = selectors.segment(actor, segment_id)
    changes = membership.recompute_segment(actor, segment, Validator(actor).parse(segment.rules), emit=True)
    record_write(actor, "recompute", "cdp.segment", segment.pk,
                 {"entered": [None, sum(map(len, changes.entered.values()))],
                  "exited": [None, sum(map(len, changes.exited.values()))]})
    return changes


@dataclass(frozen=True)
class Preview:
    count: int
    milliseconds: int
    sample: list[Profile]


def preview_segment(*, actor: Actor, rules: Mapping[str, Any], sample: int = 0) -> Preview:
    """How many active profiles the actor can see match ``rules`` now (the rule builder's live count), and
    optionally a few of them. Reads only; validation errors name the bad node's path."""
    _require(actor, "cdp.segment.read")
    node = Validator(actor).parse(rules)
    started = time.perf_counter()
    tune_session()
    qs = Compiler(actor, now=clock.now()).profiles(node, base=Profile.objects.visible_to(actor))
    count = qs.count()
    rows = list(qs.order_by("-pk")[:sample]) if sample else []
    return Preview(count, round((time.perf_counter() - started) * 1000), rows)


# --- snapshots --------------------------------------------------------------------------------------------


def create_snapshot(*, actor: Actor, segment_id: Any, label: str = "", consent_purpose: str = "",
                    channel: str = "") -> SegmentSnapshot:
    """Freeze the segment's members now (for a broadcast), optionally only those with consent for
    ``consent_purpose`` on ``channel``."""
    _require(actor, "cdp.segment.manage")
    segment = selectors.segment(actor, segment_id)
    if not isinstance(label, str) or len(label) > 120 or "\x00" in label:
        raise ValidationFailed("bad label", fields={"label": ["text of at most 120 characters"]})
    snapshot = snapshots.take(actor, segment, label=label.strip(), consent_purpose=consent_purpose or "",
                              channel=channel or "")
    record_write(actor, "create", "cdp.segment_snapshot", snapshot.pk,
                 {"segment_id": [None, segment.pk], "member_count": [None, snapshot.member_count]},
                 consent_purpose=consent_purpose, channel=channel)
    return snapshot


# --- personas ---------------------------------------------------------------------------------------------


def _persona_values(actor: Actor, data: Mapping[str, Any], persona: Persona | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in PERSONA_FIELDS:
        if name not in data:
            continue
        if name == "segment_id":
            value = data[name]
            out["segment"] = None if value in (None, "") else _linked_segment(actor, value)
        else:
            out[name] = _text(name, data[name], required=name == "name")
    if persona is None and "name" not in out:
        raise ValidationFailed("bad value", fields={"name": ["required"]})
    return out


def _linked_segment(actor: Actor, value: Any) -> Segment:
    try:
        return selectors.segment(actor, value)
    except NotFound:
        raise ValidationFailed("unknown segment", fields={"segment_id": ["no such segment"]}) from None


def _persona_state(p: Persona) -> dict[str, Any]:
    return {f: getattr(p, f) for f in PERSONA_FIELDS}


def create_persona(*, actor: Actor, data: Mapping[str, Any]) -> Persona:
    """A persona (用户画像): a described target group, optionally linked to the segment that realises it."""
    _require(actor, "cdp.persona.manage")
    values = _persona_values(actor, data, None)
    _unique_name(actor, Persona, values["name"])
    persona = Persona.objects.create(org_id=actor.org_id, **values)
    record_write(actor, "create", "cdp.persona", persona.pk, diff({}, _persona_state(persona)))
    return persona


def update_persona(*, actor: Actor, persona_id: Any, data: Mapping[str, Any]) -> Persona:
    _require(actor, "cdp.persona.manage")
    persona = selectors.persona(actor, persona_id)
    before = _persona_state(persona)
    values = _persona_values(actor, data, persona)
    if "name" in values:
        _unique_name(actor, Persona, values["name"], exclude=persona.pk)
    for k, v in values.items():
        setattr(persona, k, v)
    persona.save()
    record_write(actor, "update", "cdp.persona", persona.pk, diff(before, _persona_state(persona)))
    return persona


def delete_persona(*, actor: Actor, persona_id: Any) -> None:
    _require(actor, "cdp.persona.manage")
    persona = selectors.persona(actor, persona_id)
    pk, before = persona.pk, _persona_state(persona)
    persona.delete()
    record_write(actor, "delete", "cdp.persona", pk, diff(before, {}))
