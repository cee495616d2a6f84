"""Merging and unmerging profiles atomically, with a log from which an unmerge restores both.

Rows that point at a profile are moved by *movers*: a registry so that later contexts (opportunities, orders,
tickets, WeCom follow relations) register theirs and are moved in the same transaction without cdp knowing them.
A mover records exactly which row ids it moved, so the unmerge moves exactly those back.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDate

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write

from .changes import profiles_changed
from .models import (
    ConsentRecord,
    Event,
    EventDailyRollup,
    EventRollup,
    Identity,
    LifecycleTransition,
    MergeLog,
    Profile,
    ProfileStatus,
    ProfileTag,
    TimelineEntry,
)


@dataclass(frozen=True)
class Mover:
    name: str
    move: Callable[[Profile, Profile], list]  # (survivor, merged) -> ids moved
    restore: Callable[[Profile, Profile, list], None]  # (survivor, merged, ids) -> None


_movers: dict[str, Mover] = {}


def register_mover(mover: Mover) -> None:
    _movers[mover.name] = mover


def column_mover(name: str, model: type[models.Model], column: str = "profile_id") -> Mover:
    """The common case: a table with a profile column; move its rows and remember their ids."""

    def move(survivor: Profile, merged: Profile) -> list:
        ids = list(model.objects.filter(**{column: merged.pk}).values_list("pk", flat=True))
        if ids:
            model.objects.filter(pk__in=ids).update(**{column: survivor.pk})
        return ids

    def restore(survivor: Profile, merged: Profile, ids: list) -> None:
        if ids:
            model.objects.filter(pk__in=ids, **{column: survivor.pk}).update(**{column: merged.pk})

    return Mover(name, move, restore)


def _move_tags(survivor: Profile, merged: Profile) -> list:
    """Tag links the survivor already has are dropped (and remembered as tag ids to re-create on unmerge)."""
    have = set(ProfileTag.objects.filter(profile=survivor).values_list("tag_id", flat=True))
    links = list(ProfileTag.objects.filter(profile=merged).values("pk", "tag_id", "source"))
    moved = [x["pk"] for x in links if x["tag_id"] not in have]
    dropped = [[x["tag_id"], x["source"]] for x in links if x["tag_id"] in have]
    ProfileTag.objects.filter(pk__in=moved).update(profile=survivor)
    ProfileTag.objects.filter(profile=merged).delete()
    return [{"moved": moved, "dropped": dropped}]


def _restore_tags(survivor: Profile, merged: Profile, data: list) -> None:
    if not data:
        return
    ProfileTag.objects.filter(pk__in=data[0]["moved"], profile=survivor).update(profile=merged)
    ProfileTag.objects.bulk_create(
        [ProfileTag(org_id=merged.org_id, profile=merged, tag_id=t, source=s) for t, s in data[0]["dropped"]],
        ignore_conflicts=True,
    )


for _m in (
    column_mover("identities", Identity),
    column_mover("events", Event),
    column_mover("consent", ConsentRecord),
    column_mover("timeline", TimelineEntry),
    column_mover("lifecycle", LifecycleTransition),
    Mover("tags", _move_tags, _restore_tags),
):
    register_mover(_m)

SNAPSHOT_FIELDS = ["status", "merged_into_id", "name", "owner_id", "department_id", "lifecycle_stage",
                   "identity_count", "first_seen_at", "last_seen_at"]


def recompute_rollups(profile_ids: list[int]) -> None:
    """Rebuild the per-profile event rollups of a few profiles from their events (after a merge or unmerge)."""
    EventRollup.objects.filter(profile_id__in=profile_ids).delete()
    EventDailyRollup.objects.filter(profile_id__in=profile_ids).delete()
    rows = (
        Event.objects.filter(profile_id__in=profile_ids).exclude(name="")
        .values("org_id", "profile_id", "name")
        .annotate(n=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
    )
    EventRollup.objects.bulk_create([
        EventRollup(org_id=r["org_id"], profile_id=r["profile_id"], name=r["name"], count=r["n"],
                    first_at=r["first"], last_at=r["last"]) for r in rows
    ])
    daily = (
        Event.objects.filter(profile_id__in=profile_ids).exclude(name="")
        .annotate(day=TruncDate("timestamp", tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE)))
        .values("org_id", "profile_id", "name", "day").annotate(n=Count("id"))
    )
    EventDailyRollup.objects.bulk_create([
        EventDailyRollup(org_id=r["org_id"], profile_id=r["profile_id"], name=r["name"], day=r["day"], count=r["n"])
        for r in daily
    ])


def _refresh_counts(*profiles: Profile) -> None:
    for p in profiles:
        p.identity_count = Identity.objects.filter(profile=p).count()
        p.save(update_fields=["identity_count", "updated_at"])


def merge_profiles(*, actor: Actor, survivor: Profile, merged: Profile, reason: str) -> MergeLog:
    """Move everything of ``merged`` onto ``survivor`` in one transaction and keep a log to undo it."""
    with transaction.atomic():
        snapshot = {f: getattr(merged, f) for f in SNAPSHOT_FIELDS}
        moved = {name: m.move(survivor, merged) for name, m in _movers.items()}
        if survivor.owner_id is None and merged.owner_id is not None:
            survivor.owner_id, survivor.department_id = merged.owner_id, merged.department_id
        if not survivor.name and merged.name:
            survivor.name = merged.name
        for f in ("first_seen_at",):
            a, b = getattr(survivor, f), getattr(merged, f)
            setattr(survivor, f, min(x for x in (a, b) if x) if (a or b) else None)
        a, b = survivor.last_seen_at, merged.last_seen_at
        survivor.last_seen_at = max(x for x in (a, b) if x) if (a or b) else None
        survivor.save()
        merged.status, merged.merged_into = ProfileStatus.MERGED, survivor
        merged.save(update_fields=["status", "merged_into", "updated_at"])
        _refresh_counts(survivor, merged)
        recompute_rollups([survivor.pk, merged.pk])
        log = MergeLog.objects.create(
            org_id=survivor.org_id, survivor=survivor, merged=merged, reason=reason, moved=moved,
            merged_snapshot={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in snapshot.items()},
            actor_user_id=actor.user_id,
        )
        record_write(actor, "merge", "cdp.profile", survivor.pk, {"merged": [merged.pk, None]}, reason=reason)
        profiles_changed(survivor.org_id, [survivor.pk, merged.pk], reason="merge")
        return log


def unmerge(*, actor: Actor, log: MergeLog) -> None:
    """Restore both profiles as they were before the merge (rows created on the survivor since stay there)."""
    from django.utils.dateparse import parse_datetime

    if log.undone_at is not None:
        return
    with transaction.atomic():
        survivor = Profile.objects.select_for_update().get(pk=log.survivor_id)
        merged = Profile.objects.select_for_update().get(pk=log.merged_id)
        for name, ids in log.moved.items():
            mover = _movers.get(name)
            if mover is not None:
                mover.restore(survivor, merged, ids)
        snap = log.merged_snapshot
        for f in SNAPSHOT_FIELDS:
            value = snap.get(f)
            if f.endswith("_at") and value:
                value = parse_datetime(value)
            setattr(merged, f, value)
        merged.status, merged.merged_into = ProfileStatus.ACTIVE, None
        merged.save()
        _refresh_counts(survivor, merged)
        recompute_rollups([survivor.pk, merged.pk])
        log.undone_at = clock.now()
        log.save(update_fields=["undone_at", "updated_at"])
        record_write(actor, "unmerge", "cdp.profile", survivor.pk, {"merged": [None, merged.pk]})
        profiles_changed(survivor.org_id, [survivor.pk, merged.pk], reason="merge")
