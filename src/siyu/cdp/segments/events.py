"""Domain events of segment membership, for later automation (journeys enrol on ``SegmentEntered``).

Emitted through ``kernel.events.emit`` (the outbox) in the transaction that changed the membership, one per
profile and segment, and only for a change actually written (a concurrent refresh that lost the race to insert
or delete the same row emits nothing). ``at`` is an ISO 8601 string (payloads must be plain JSON).
"""

from __future__ import annotations

from dataclasses import dataclass

from siyu.kernel.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class SegmentEntered(DomainEvent):
    segment_id: int
    profile_id: int
    at: str


@dataclass(frozen=True, kw_only=True)
class SegmentExited(DomainEvent):
    segment_id: int
    profile_id: int
    at: str
