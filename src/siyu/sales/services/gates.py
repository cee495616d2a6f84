"""Stage gates: what an opportunity must have before it enters a stage.

A ``StageGate`` names required fields (standard or custom keys of ``sales.opportunity``) and whether an
approval is needed. :func:`check` is called by every path that changes an opportunity's stage (create into a
stage, move, close as won or lost), from the API and the console alike, so no path skips it. Moving forward
checks the gates of every stage passed on the way, not only the target's: skipping a gated stage does not skip
its gate.

**Approval hook.** :func:`gate_requires_approval` answers whether entering ``stage`` still waits for an approval.
It reads ``GateApproval`` records: entering a stage whose gate requires
approval without an approved record is refused with 409 ``approval_required`` (nothing is written by a refused move); :func:`request_approval` records a pending
request (``GateApprovalRequested`` event), submitted to the platform's approval engine when one of its processes
for ``sales.gate_approval`` matches (``gate_approvals.py``: the engine's approvers decide, nothing else can);
otherwise :func:`record_gate_decision` (``sales.opportunity.approve``, not one's own request) marks it approved or
rejected. Either way the move succeeds only after an approval.
"""

from __future__ import annotations

from typing import Any

from siyu.kernel import auditing, clock, events
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed
from siyu.platform.selectors import object_meta

from ..events import GateApprovalRequested
from ..models.opportunities import ApprovalStatus, GateApproval, Opportunity, Stage, StageGate, StageKind
from . import gate_approvals
from .common import as_int, require, text

OBJECT = "sales.opportunity"
STANDARD_REQUIRABLE = {"amount", "expected_close_date", "account_id", "contact_id", "description", "owner_id"}

def _approved(opportunity: Opportunity, stage: Stage) -> bool:
    return GateApproval.objects.filter(opportunity=opportunity, stage=stage,
                                       status=ApprovalStatus.APPROVED).exists()


def gate_requires_approval(opportunity: Opportunity, stage: Stage) -> bool:
    """True while entering ``stage`` still waits for an approval (the documented hook, see the module doc)."""
    gate = StageGate.objects.filter(stage=stage).first()
    if gate is None or not gate.requires_approval:
        return False
    return not _approved(opportunity, stage)


def _empty(opportunity: Opportunity, key: str) -> bool:
    if key in STANDARD_REQUIRABLE:
        value = getattr(opportunity, key)
        return value in (None, "") or (key == "amount" and not value)
    value = (opportunity.custom or {}).get(key)
    return value in (None, "", [], {})


def gates_on_the_way(opportunity: Opportunity | None, current: Stage | None, target: Stage) -> list[Stage]:
    """The stages whose gates apply when going from ``current`` to ``target``: the target, and on a forward
    move (or a close) every open stage passed between them."""
    stages = list(Stage.objects.filter(pipeline_id=target.pipeline_id, is_active=True).order_by("order", "pk"))
    if target.kind != StageKind.OPEN:
        passed = [s for s in stages if s.kind == StageKind.OPEN and (current is None or s.order > current.order)]
        return [*passed, target] if target.kind == StageKind.WON else [target]
    lo = current.order if current is not None and current.pipeline_id == target.pipeline_id else -1
    return [s for s in stages if s.kind == StageKind.OPEN and lo < s.order <= target.order] or [target]


def check(actor: Actor, opportunity: Opportunity, current: Stage | None, target: Stage) -> None:
    """Refuse the move unless every gate on the way is satisfied: missing fields are a 422 naming them; a
    missing approval is a 409 ``approval_required``."""
    stages = gates_on_the_way(opportunity, current, target)
    gates = {g.stage_id: g for g in StageGate.objects.filter(stage__in=stages)}
    missing: dict[str, list[str]] = {}
    for stage in stages:
        gate = gates.get(stage.pk)
        for key in (gate.required_fields if gate else []):
            if _empty(opportunity, key):
                missing.setdefault(key, []).append(f"required to enter stage {stage.name}")
    if missing:
        raise ValidationFailed("the stage gate needs these fields first", code="stage_gate", fields=missing)
    for stage in stages:
        if opportunity.pk and gate_requires_approval(opportunity, stage):
            raise Conflict(f"entering stage {stage.name} needs an approval", code="approval_required",
                           fields={"stage_id": [f"approval pending for {stage.name}"]})
        if not opportunity.pk and gates.get(stage.pk) and gates[stage.pk].requires_approval:
            raise Conflict(f"create the opportunity in an earlier stage: {stage.name} needs an approval",
                           code="approval_required")


def request_approval(*, actor: Actor, opportunity: Opportunity, stage: Stage) -> GateApproval:
    """Ask for the approval a gate needs (idempotent while one is pending)."""
    existing = GateApproval.objects.filter(opportunity=opportunity, stage=stage,
                                           status__in=[ApprovalStatus.PENDING, ApprovalStatus.APPROVED]).first()
    if existing:
        return existing
    gate = StageGate.objects.filter(stage=stage).first()
    if gate is None or not gate.requires_approval:
        raise ValidationFailed("no approval needed", fields={"stage_id": ["this stage needs no approval"]})
    approval = GateApproval.objects.create(org_id=opportunity.org_id, opportunity=opportunity, stage=stage,
                                           requested_by_id=actor.user_id)
    auditing.record_write(actor, "request_approval", "sales.opportunity", opportunity.pk, {},
                          stage_id=stage.pk, approval_id=approval.pk)
    events.emit(GateApprovalRequested(org_id=opportunity.org_id, approval_id=approval.pk,
                                      opportunity_id=opportunity.pk, stage_id=stage.pk))
    if gate_approvals.has_process(actor, approval):  # the engine's approvers decide (see gate_approvals)
        gate_approvals.submit(actor, approval)
        approval.refresh_from_db()
    return approval


def record_gate_decision(*, actor: Actor, approval_id: Any, approved: bool, comment: str = "",
                         external_ref: str = "") -> GateApproval:
    """The approval engine's (or an approver's) decision on a pending gate approval."""
    require(actor, "sales.opportunity.approve")
    approval = (GateApproval.objects.in_org(actor).select_for_update()
                .filter(pk=as_int(approval_id)).select_related("opportunity").first())
    if approval is None or not Opportunity.objects.visible_to(actor).filter(pk=approval.opportunity_id).exists():
        raise NotFound("not found")
    if approval.status != ApprovalStatus.PENDING:
        raise Conflict("already decided", code="already_decided")
    if approval.external_ref.startswith(gate_approvals.REF):
        raise Conflict("this approval is decided in the approval inbox by its approvers", code="approval_engine")
    if actor.user_id is not None and approval.requested_by_id == actor.user_id and not actor.is_admin:
        raise Conflict("you cannot approve your own request", code="own_request")
    approval.status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
    approval.decided_by_id, approval.decided_at = actor.user_id, clock.now()
    approval.comment, approval.external_ref = text(comment, "comment", 300), text(external_ref, "external_ref", 80)
    approval.save()
    auditing.record_write(actor, "approve" if approved else "reject", "sales.gate_approval", approval.pk,
                          {"status": [ApprovalStatus.PENDING, approval.status]},
                          opportunity_id=approval.opportunity_id, stage_id=approval.stage_id)
    return approval


def set_gate(*, actor: Actor, stage: Stage, required_fields: list[str], requires_approval: bool) -> StageGate | None:
    """Replace a stage's gate (no fields and no approval removes it)."""
    require(actor, "sales.pipeline.manage")
    meta = object_meta(actor, OBJECT)
    if not isinstance(required_fields, list) or len(required_fields) > 30:
        raise ValidationFailed("bad fields", fields={"required_fields": ["a list of field keys"]})
    bad = [k for k in required_fields
           if not isinstance(k, str) or (k not in STANDARD_REQUIRABLE and meta.custom_field(k) is None)]
    if bad:
        raise ValidationFailed("unknown fields", fields={"required_fields": [f"unknown field {str(k)[:40]}"
                                                                             for k in bad]})
    gate = StageGate.objects.filter(stage=stage).first()
    before = {"required_fields": gate.required_fields, "requires_approval": gate.requires_approval} if gate else {}
    if not required_fields and not requires_approval:
        if gate:
            gate.delete()
        gate = None
    else:
        gate = gate or StageGate(org_id=actor.org_id, stage=stage)
        gate.required_fields, gate.requires_approval = list(dict.fromkeys(required_fields)), bool(requires_approval)
        gate.save()
    after = {"required_fields": gate.required_fields, "requires_approval": gate.requires_approval} if gate else {}
    if before != after:
        auditing.record_write(actor, "update", "sales.stage", stage.pk,
                              {f"gate.{k}": v for k, v in auditing.diff(before, after).items()})
    return gate
