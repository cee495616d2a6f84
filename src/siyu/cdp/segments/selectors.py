"""Reads of segments, members, snapshots and personas, scoped to what the actor may see.

Segments, snapshots and personas are organisation-wide (no data scope); their *members* are profiles, listed
through ``Profile.objects.visible_to(actor)``, so a person with "own" scope sees only their own customers in a
segment of the whole organisation.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, QuerySet, Sum

from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound
from siyu.kernel.pagination import Page, paginate

from ..models import (
    EventRollup,
    Persona,
    Profile,
    ProfileStatus,
    ProfileTag,
    Segment,
    SegmentMembership,
    SegmentSnapshot,
    SegmentSnapshotMember,
    Tag,
)
from .compiler import org_rows


def pk_of(value: Any) -> int:
    """An id from a path or a body; anything that is not a positive 64-bit integer is simply not found."""
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    if not 0 < pk < 2**63:
        raise NotFound("not found")
    return pk


TRAITS = ("gender", "province", "lifecycle_stage", "source", "tags", "events")
TOP = 10


def segments(actor: Actor) -> QuerySet:
    return Segment.objects.in_org(actor)


def segment(actor: Actor, segment_id: Any) -> Segment:
    found = Segment.objects.in_org(actor).filter(pk=pk_of(segment_id)).first()
    if found is None:
        raise NotFound("not found")
    return found


def page_segments(actor: Actor, *, cursor: str | None, limit: int) -> Page:
    return paginate(segments(actor), order=["name"], cursor=cursor, limit=limit)


def members(actor: Actor, seg: Segment) -> QuerySet:
    """The segment's current members among the profiles the actor may see."""
    inside = SegmentMembership.objects.filter(segment=seg, profile_id=OuterRef("pk"))
    return Profile.objects.visible_to(actor).filter(status=ProfileStatus.ACTIVE).filter(Exists(inside))


def page_members(actor: Actor, seg: Segment, *, cursor: str | None, limit: int) -> Page:
    return paginate(members(actor, seg), order=["-id"], cursor=cursor, limit=limit)


def snapshots(actor: Actor, seg: Segment) -> QuerySet:
    return SegmentSnapshot.objects.in_org(actor).filter(segment=seg)


def page_snapshots(actor: Actor, seg: Segment, *, cursor: str | None, limit: int) -> Page:
    return paginate(snapshots(actor, seg), order=["-id"], cursor=cursor, limit=limit)


def snapshot(actor: Actor, seg: Segment, snapshot_id: Any) -> SegmentSnapshot:
    found = snapshots(actor, seg).filter(pk=pk_of(snapshot_id)).first()
    if found is None:
        raise NotFound("not found")
    return found


def page_snapshot_members(actor: Actor, snap: SegmentSnapshot, *, cursor: str | None, limit: int) -> Page:
    inside = SegmentSnapshotMember.objects.filter(snapshot=snap, profile_id=OuterRef("pk"))
    # Merged or deleted since the snapshot: still listed (the list is frozen), within the actor's scope.
    qs = Profile.objects.visible_to(actor).filter(Exists(inside))
    return paginate(qs, order=["-id"], cursor=cursor, limit=limit)


def personas(actor: Actor) -> QuerySet:
    return Persona.objects.in_org(actor).select_related("segment")


def persona(actor: Actor, persona_id: Any) -> Persona:
    found = personas(actor).filter(pk=pk_of(persona_id)).first()
    if found is None:
        raise NotFound("not found")
    return found


def page_personas(actor: Actor, *, cursor: str | None, limit: int) -> Page:
    return paginate(personas(actor), order=["name"], cursor=cursor, limit=limit)


def trait_distribution(actor: Actor, seg: Segment, trait: str) -> list[dict[str, Any]]:
    """``[{"name", "count"}]`` of one trait over the segment's members the actor may see, largest first
    (at most ``TOP``): a profile column, the members' tags, or the events they did (profiles per event name).
    Fields the actor may not see are not distributed (empty list)."""
    if trait not in TRAITS:
        raise NotFound("not found")
    base = members(actor, seg)
    hidden = actor.hidden_fields("cdp.profile")
    if trait in hidden:
        return []
    if trait == "tags":
        rows = (ProfileTag.objects.in_org(actor).filter(profile_id__in=base.values("pk"))
                .values("tag_id").annotate(n=Count("id")).order_by("-n", "tag_id")[:TOP])
        names = dict(Tag.objects.in_org(actor).filter(pk__in=[r["tag_id"] for r in rows])
                     .values_list("pk", "name"))
        return [{"name": names.get(r["tag_id"], str(r["tag_id"])), "count": r["n"]} for r in rows]
    if trait == "events":
        rows = (org_rows(EventRollup, actor).filter(profile_id__in=base.values("pk"))
                .values("name").annotate(n=Count("id"), total=Sum("count")).order_by("-n", "name")[:TOP])
        return [{"name": r["name"], "count": r["n"], "total": r["total"]} for r in rows]
    rows = base.values(trait).annotate(n=Count("id")).order_by("-n", trait)[:TOP]
    return [{"name": r[trait] or "", "count": r["n"]} for r in rows]


def visible_member_count(actor: Actor, seg: Segment) -> int:
    return members(actor, seg).count()


def persona_traits(actor: Actor, p: Persona) -> dict[str, Any]:
    """The persona page's figures: its segment's size (members the actor can see) and every trait's
    distribution; a persona without a segment has size 0 and no distributions."""
    if p.segment_id is None:
        return {"size": 0, "traits": {t: [] for t in TRAITS}}
    seg = p.segment
    return {"size": visible_member_count(actor, seg),
            "traits": {t: trait_distribution(actor, seg, t) for t in TRAITS}}
