"""The 360° timeline: one indexed table, many item kinds.

Contexts add entries with :func:`add_entry` and register how their kind is shown with :func:`register_kind`,
so WeCom chats, opportunities, orders, tickets and surveys appear without touching cdp code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from siyu.kernel import clock

from .models import Profile, TimelineEntry


@dataclass(frozen=True)
class TimelineKind:
    key: str
    label: str  # English source; translated where shown
    icon: str = "bi-dot"  # bootstrap-icons class
    summary: Callable[[dict], str] = lambda data: ""
    # Where the entry's full content is read, for actors holding ``link_permission``: content that needs its own
    # permission and audit (an archived chat) stays out of the timeline, which everyone who sees the profile sees.
    link: Callable[[int, dict], str] | None = None  # (profile id, entry data) -> URL
    link_permission: str = ""


_kinds: dict[str, TimelineKind] = {}


def register_kind(kind: TimelineKind) -> None:
    _kinds[kind.key] = kind


def kind_of(key: str) -> TimelineKind:
    return _kinds.get(key) or TimelineKind(key, key)


def add_entry(*, profile: Profile, kind: str, at: dt.datetime | None = None, ref_type: str = "", ref_id: str = "",
              data: dict | None = None) -> TimelineEntry:
    return TimelineEntry.objects.create(org_id=profile.org_id, profile=profile, kind=kind, at=at or clock.now(),
                                        ref_type=ref_type, ref_id=ref_id, data=data or {})


for _k in (
    TimelineKind("event", "Event", "bi-lightning", lambda d: d.get("name", "")),
    TimelineKind("tag.added", "Tag added", "bi-tag", lambda d: d.get("tag", "")),
    TimelineKind("tag.removed", "Tag removed", "bi-tag", lambda d: d.get("tag", "")),
    TimelineKind("consent.granted", "Consent granted", "bi-shield-check", lambda d: d.get("purpose", "")),
    TimelineKind("consent.withdrawn", "Consent withdrawn", "bi-shield-x", lambda d: d.get("purpose", "")),
    TimelineKind("lifecycle.changed", "Lifecycle stage changed", "bi-signpost",
                 lambda d: f"{d.get('from') or '—'} → {d.get('to')}"),
    TimelineKind("profile.merged", "Profiles merged", "bi-intersect", lambda d: str(d.get("merged", ""))),
):
    register_kind(_k)
