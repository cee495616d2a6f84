"""Domain events of customer profiles.

``ProfilesChanged`` says "these profiles' data changed; whatever is derived from it should look again". Segment
membership (:mod:`.handlers`) is its consumer: the refresh runs in the outbox dispatcher, so neither a console
request nor an ingest batch waits for segment evaluation. Emit it through :func:`.changes.profiles_changed`,
which coalesces the ids of a whole ingest flush or import chunk into one message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siyu.kernel.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ProfilesChanged(DomainEvent):
    profile_ids: list[int] = field(default_factory=list)
    reason: str = ""  # "ingest", "import", "profile", "tags", "consent", "lifecycle", "merge" (for operators)
