"""Stage-gate approvals through the platform's approval engine (object key ``sales.gate_approval``).

When an active approval process of ``sales.gate_approval`` matches the request (its conditions test the
snapshot below: amount, probability, stage, pipeline, owner, department), :func:`gates.request_approval` submits
the ``GateApproval`` to the engine: the engine's approvers decide it, and :func:`on_state` is the only way its
outcome reaches the gate. Such a request is engine-managed (``external_ref`` = ``approval:<request id>``):
deciding it through ``record_gate_decision`` (the sales approver's path used when no process exists) is 409.

No bypass through the engine either: submitting a gate approval that was already decided is refused, and the
engine's "no matching process, approved at once" never approves a gate (that would let anyone who may request
an approval grant it) — the whole submit is refused and rolled back.
"""

from __future__ import annotations

from typing import Any

from siyu.kernel import auditing, clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict
from siyu.platform.approvals.models import ApprovalProcess, ApprovalRequest
from siyu.platform.approvals.services import condition_holds

from ..models.opportunities import ApprovalStatus, GateApproval, Opportunity

OBJECT_KEY = "sales.gate_approval"
REF = "approval:"


def snapshot(approval: GateApproval) -> dict[str, Any]:
    opp = approval.opportunity
    return {"id": approval.pk, "opportunity_id": opp.pk, "name": opp.name, "stage_id": approval.stage_id,
            "stage": approval.stage.name, "pipeline_id": opp.pipeline_id, "amount": str(opp.amount),
            "probability": approval.stage.probability, "owner_id": opp.owner_id,
            "department_id": opp.department_id, "account_id": opp.account_id,
            "expected_close_date": opp.expected_close_date.isoformat() if opp.expected_close_date else None,
            "requested_by_id": approval.requested_by_id}


def title(approval: GateApproval) -> str:
    return f"阶段审批 {approval.opportunity.name} → {approval.stage.name}"


def has_process(actor: Actor, approval: GateApproval) -> bool:
    """Whether an active process of the engine would take this request (else the sales approver decides)."""
    snap = snapshot(approval)
    return any(all(condition_holds(c, snap) for c in (p.conditions or []))
               for p in ApprovalProcess.objects.in_org(actor).filter(object_key=OBJECT_KEY, is_active=True))


def load(actor: Actor, object_id: str) -> GateApproval | None:
    if not object_id.isdigit() or not (actor.is_system or actor.can("sales.opportunity.read")):
        return None
    approval = (GateApproval.objects.in_org(actor).filter(pk=int(object_id))
                .select_related("opportunity", "stage").first())
    if approval is None or not Opportunity.objects.visible_to(actor).filter(pk=approval.opportunity_id).exists():
        return None
    return approval


def load_for_system(org_id: int, object_id: str) -> GateApproval | None:
    return load(Actor.system(org_id, label="sales.gate_approval"), object_id)


def _engine_request(actor: Actor, approval: GateApproval) -> ApprovalRequest | None:
    return (ApprovalRequest.objects.in_org(actor).filter(object_key=OBJECT_KEY, object_id=str(approval.pk))
            .order_by("-id").first())


def on_state(actor: Actor, approval: GateApproval, state: str) -> None:
    """The engine's callback: ``pending`` marks the gate approval engine-managed, ``approved`` / ``rejected``
    decide it, ``recalled`` withdraws it (rejected, so a new request can be made)."""
    approval = GateApproval.objects.select_for_update().select_related("opportunity", "stage").get(pk=approval.pk)
    request = _engine_request(actor, approval)
    if approval.status != ApprovalStatus.PENDING:
        raise Conflict("this gate approval is already decided", code="already_decided")
    if state == "pending":
        approval.external_ref = f"{REF}{request.pk}" if request else REF
        approval.save(update_fields=["external_ref", "updated_at"])
        return
    if request is None or request.process_id is None:
        # the engine approves at once when no process matches: never for a gate
        raise Conflict("a stage gate is approved by an approval process or a sales approver",
                       code="approval_process_required")
    approval.status = ApprovalStatus.APPROVED if state == "approved" else ApprovalStatus.REJECTED
    approval.decided_by_id, approval.decided_at = actor.user_id, clock.now()
    approval.comment = "recalled" if state == "recalled" else approval.comment
    approval.external_ref = f"{REF}{request.pk}"
    approval.save()
    auditing.record_write(actor, "approve" if state == "approved" else "reject", "sales.gate_approval",
                          approval.pk, {"status": [ApprovalStatus.PENDING, approval.status]}, via="approval",
                          request=request.pk, opportunity_id=approval.opportunity_id, stage_id=approval.stage_id)


def submit(actor: Actor, approval: GateApproval) -> None:
    from siyu.platform.approvals import services as approvals

    approvals.submit(actor=actor, object_key=OBJECT_KEY, object_id=approval.pk)


def register() -> None:
    from siyu.platform.approvals import registry

    registry.register_subject(registry.Subject(
        object_key=OBJECT_KEY, load=load, snapshot=snapshot, title=title, on_state=on_state,
        load_for_system=load_for_system, submit_permission="sales.opportunity.update"))
