"""Stage gates that need an approval go through the platform's approval engine when a process for
``sales.gate_approval`` matches; no path opens the gate without an approver's approval: not the sales approver's
decision endpoint, not a direct submit to the engine (which approves at once without a process), not a
resubmit of a decided request, not the API's or the console's move."""

from __future__ import annotations

import pytest

from siyu.platform.approvals import services as approvals
from siyu.platform.approvals.models import ApprovalRequest
from siyu.sales.models.opportunities import GateApproval, Opportunity
from siyu.sales.services import opportunities

from .test_opportunities import pipe, stages  # noqa: F401  (the gated pipeline fixture)

API = "/api/v1/sales"
APPROVALS = "/api/v1/platform/approvals"


@pytest.fixture
def ready(team, pipe):  # noqa: F811
    """An opportunity in 方案 with every field 商务谈判's gate needs: only the approval is missing."""
    s = stages(pipe)
    rep = team.actor(team.reps[0])
    opp = opportunities.create_opportunity(actor=rep, data={"name": "大单", "pipeline_id": pipe.pk,
                                                            "amount": "80000.00", "expected_close_date": "2026-12-31"},
                                           custom={"budget_ok": True})
    opportunities.move_opportunity(actor=rep, opportunity_id=opp.pk, stage_id=s["方案"].pk)
    return opp, s["商务谈判"]


def _stage(opp) -> str:
    return Opportunity.objects.get(pk=opp.pk).stage.name


def _move(client, send, opp, stage):
    return send(client, "post", f"{API}/opportunities/{opp.pk}/move", {"stage_id": stage.pk})


def test_gate_approval_is_decided_in_the_engine_and_nothing_else_opens_the_gate(team, ready, login_client, send):
    approvals.create_process(actor=team.admin, object_key="sales.gate_approval", name="阶段审批",
                             conditions=[{"field": "amount", "op": "gte", "value": "50000"}],
                             steps=[{"name": "经理", "mode": "any", "approvers": [{"kind": "manager"}]}])
    opp, gated = ready
    rep, manager, other = login_client(team.reps[0]), login_client(team.manager), login_client(team.reps[1])
    r = _move(rep, send, opp, gated)
    assert r.status_code == 409 and r.json()["code"] == "approval_required"
    r = send(rep, "post", f"{API}/opportunities/{opp.pk}/approvals", {"stage_id": gated.pk})
    assert r.status_code == 201, r.content
    ga = GateApproval.objects.get()
    req = ApprovalRequest.objects.get(object_key="sales.gate_approval")
    assert (ga.status, ga.external_ref, req.status) == ("pending", f"approval:{req.pk}", "pending")
    assert req.submitted_snapshot["amount"] == "80000.00" and req.submitted_snapshot["stage"] == "商务谈判"
    # the sales approver's endpoint does not decide an engine-managed approval
    r = send(manager, "post", f"{API}/gate-approvals/{ga.pk}/decide", {"approved": True})
    assert r.status_code == 409 and r.json()["code"] == "approval_engine"
    # someone who is not the step's approver cannot decide it in the engine
    r = send(other, "post", f"{APPROVALS}/requests/{req.pk}/decision", {"approve": True})
    assert r.status_code in (403, 404)
    # submitting it to the engine again is refused
    r = send(rep, "post", f"{APPROVALS}/requests", {"object_key": "sales.gate_approval", "object_id": str(ga.pk)})
    assert r.status_code == 409
    assert _move(rep, send, opp, gated).status_code == 409
    page = manager.get(f"/sales/opportunities/{opp.pk}/").content.decode()
    assert 'name="approval_id"' not in page and 'href="/sales/commerce/approvals/"' in page  # the inbox decides
    r = manager.post(f"/sales/opportunities/{opp.pk}/action/", {"action": "decide", "approval_id": ga.pk,
                                                               "approved": "1"})
    assert GateApproval.objects.get().status == "pending"
    r = rep.post(f"/sales/opportunities/{opp.pk}/move/", {"stage_id": gated.pk})
    assert r.status_code == 409 and r.json()["code"] == "approval_required"
    assert GateApproval.objects.get().status == "pending" and _stage(opp) == "方案"
    r = send(manager, "post", f"{APPROVALS}/requests/{req.pk}/decision", {"approve": True, "comment": "同意"})
    assert r.status_code == 200, r.content
    ga.refresh_from_db()
    assert (ga.status, ga.decided_by_id) == ("approved", team.manager.user_id)
    r = _move(rep, send, opp, gated)
    assert r.status_code == 200 and _stage(opp) == "商务谈判"


def test_recalled_and_rejected_requests_keep_the_gate_shut(team, ready, login_client, send):
    approvals.create_process(actor=team.admin, object_key="sales.gate_approval", name="阶段审批",
                             steps=[{"name": "经理", "mode": "any", "approvers": [{"kind": "manager"}]}])
    opp, gated = ready
    rep, manager = login_client(team.reps[0]), login_client(team.manager)
    send(rep, "post", f"{API}/opportunities/{opp.pk}/approvals", {"stage_id": gated.pk})
    first = GateApproval.objects.get()
    req = ApprovalRequest.objects.get()
    assert send(rep, "post", f"{APPROVALS}/requests/{req.pk}/recall", {"body": "再想想"}).status_code == 200
    first.refresh_from_db()
    assert first.status == "rejected" and _move(rep, send, opp, gated).status_code == 409
    send(rep, "post", f"{API}/opportunities/{opp.pk}/approvals", {"stage_id": gated.pk})
    second = GateApproval.objects.exclude(pk=first.pk).get()
    req2 = ApprovalRequest.objects.get(object_id=str(second.pk))
    send(manager, "post", f"{APPROVALS}/requests/{req2.pk}/decision", {"approve": False, "comment": "不行"})
    second.refresh_from_db()
    assert second.status == "rejected" and _move(rep, send, opp, gated).status_code == 409
    # a decided gate approval cannot be sent to the engine again to turn it around
    r = send(rep, "post", f"{APPROVALS}/requests", {"object_key": "sales.gate_approval", "object_id": str(second.pk)})
    assert r.status_code == 409
    assert GateApproval.objects.get(pk=second.pk).status == "rejected" and _stage(opp) == "方案"


def test_without_a_matching_process_the_engine_never_approves_a_gate(team, ready, login_client, send):
    # a process whose condition does not hold: the sales approver decides (the engine is not involved)
    approvals.create_process(actor=team.admin, object_key="sales.gate_approval", name="特大单",
                             conditions=[{"field": "amount", "op": "gte", "value": "1000000"}],
                             steps=[{"name": "总经理", "mode": "any", "approvers": [{"kind": "manager"}]}])
    opp, gated = ready
    rep, manager = login_client(team.reps[0]), login_client(team.manager)
    send(rep, "post", f"{API}/opportunities/{opp.pk}/approvals", {"stage_id": gated.pk})
    ga = GateApproval.objects.get()
    assert (ga.status, ga.external_ref, ApprovalRequest.objects.count()) == ("pending", "", 0)
    # the engine would approve at once (no process matches): refused, nothing written
    r = send(rep, "post", f"{APPROVALS}/requests", {"object_key": "sales.gate_approval", "object_id": str(ga.pk)})
    assert r.status_code == 409 and r.json()["code"] == "approval_process_required"
    assert (GateApproval.objects.get().status, ApprovalRequest.objects.count()) == ("pending", 0)
    assert _move(rep, send, opp, gated).status_code == 409
    r = send(rep, "post", f"{API}/gate-approvals/{ga.pk}/decide", {"approved": True})
    assert r.status_code == 409  # not one's own request
    r = send(manager, "post", f"{API}/gate-approvals/{ga.pk}/decide", {"approved": True})
    assert r.status_code == 200 and _move(rep, send, opp, gated).status_code == 200
