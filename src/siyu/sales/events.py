"""Sales' domain events (past tense, plain JSON payloads)."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.kernel.events import DomainEvent


@dataclass(frozen=True)
class LeadCreated(DomainEvent):
    lead_id: int
    profile_id: int
    source: str


@dataclass(frozen=True)
class LeadAssigned(DomainEvent):
    lead_id: int
    owner_id: int
    rule_id: int | None
    how: str  # rule, manual, claim, transfer


@dataclass(frozen=True)
class LeadsAssignedInBulk(DomainEvent):
    """One per owner and bulk chunk (instead of one ``LeadAssigned`` per lead): the leads a bulk job gave one
    owner, for notifications that say "you got 37 new leads"."""

    job_id: int | None
    owner_id: int
    lead_ids: list[int]
    how: str


@dataclass(frozen=True)
class LeadReturnedToPool(DomainEvent):
    lead_id: int
    pool_id: int | None
    previous_owner_id: int | None
    reason: str  # released, recycled_no_followup, recycled_not_converted, sla_fallback, bulk


@dataclass(frozen=True)
class LeadConverted(DomainEvent):
    lead_id: int
    account_id: int | None
    contact_id: int
    opportunity_id: int | None


@dataclass(frozen=True)
class LeadSlaReminderDue(DomainEvent):
    lead_id: int
    owner_id: int
    due_at: str


@dataclass(frozen=True)
class LeadSlaBreached(DomainEvent):
    lead_id: int
    owner_id: int
    manager_id: int | None
    reassigned_to_id: int | None


@dataclass(frozen=True)
class OpportunityStageChanged(DomainEvent):
    opportunity_id: int
    from_stage_id: int | None
    to_stage_id: int


@dataclass(frozen=True)
class OpportunityClosed(DomainEvent):
    opportunity_id: int
    outcome: str  # won / lost
    amount: str  # Decimal as text


@dataclass(frozen=True)
class GateApprovalRequested(DomainEvent):
    approval_id: int
    opportunity_id: int
    stage_id: int


@dataclass(frozen=True)
class TaskReminderDue(DomainEvent):
    activity_id: int
    owner_id: int
