"""Domain events of the conversation archive (through the outbox; a notification context may react)."""

from __future__ import annotations

from dataclasses import dataclass, field

from siyu.kernel.events import DomainEvent


@dataclass(frozen=True)
class ArchiveAlertRaised(DomainEvent):
    alert_id: int
    kind: str
    notify_user_ids: list[int] = field(default_factory=list)
