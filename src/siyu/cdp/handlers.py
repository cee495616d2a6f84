"""Reactions of the CDP to domain events (imported by the worker through ``kernel.events.discover``)."""

from __future__ import annotations

from django.db import connection

from siyu.kernel import events
from siyu.kernel.actor import Actor

from .events import ProfilesChanged
from .models import Profile
from .segments import membership


def refresh_segments(event: ProfilesChanged) -> None:
    """Bring the changed profiles' segment membership up to date, emitting SegmentEntered / SegmentExited.

    On PostgreSQL the profiles are locked first (in id order, as ingestion locks them): two refreshes of the
    same profile then run one after the other, and the second evaluates after the first has written, so a
    refresh that read an older state can never write after one that read a newer state. SQLite has one
    writer at a time anyway."""
    actor = Actor.system(event.org_id, label="segments")
    ids = sorted(set(event.profile_ids))
    if connection.vendor == "postgresql" and ids and membership.active_segments(actor):
        list(Profile.objects.in_org(actor).filter(pk__in=ids).order_by("pk").select_for_update()
             .values_list("pk", flat=True))
    membership.refresh_profiles(actor, ids)


events.subscribe(ProfilesChanged, refresh_segments, name="cdp.segments.refresh")
