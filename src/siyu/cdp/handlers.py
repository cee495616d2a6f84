"""Reactions of the CDP to domain events (imported by the worker through ``kernel.events.discover``)."""

from __future__ import annotations

from siyu.kernel import events
from siyu.kernel.actor import Actor

from .events import ProfilesChanged
from .segments import membership


def refresh_segments(event: ProfilesChanged) -> None:
    """Bring the changed profiles' segment membership up to date, emitting SegmentEntered / SegmentExited
    (the refresh locks the profiles first on PostgreSQL, so refreshes of one profile never cross)."""
    membership.refresh_profiles(Actor.system(event.org_id, label="segments"), event.profile_ids)


events.subscribe(ProfilesChanged, refresh_segments, name="cdp.segments.refresh")
