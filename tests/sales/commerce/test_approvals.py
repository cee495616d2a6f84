"""The approval engine on quotes: processes, conditions, steps, any/all, delegation, recall, reminders,
frozen snapshots, audit and the inbox; the states cannot be bypassed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from siyu.kernel import clock, scheduled
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.kernel.models import ScheduledAction
from siyu.platform.approvals import services as approvals
from siyu.platform.approvals.models import ApprovalNotice, ApprovalRequest, ApprovalTask
from siyu.sales.models.commerce import Quote
from siyu.sales.services.commerce import quotes


def _quote(actor, total="1000.00", discount="0"):
    return quotes.create_quote(actor=actor, data={"title": "年度订阅", "customer_name": "上海某某公司", "lines": [
        {"name": "席位", "quantity": "10", "unit_price": str(Decimal(total) / 10), "discount_percent": discount}]})


@pytest.fixture
def process(team):
    return approvals.create_process(
        actor=team.admin, object_key="sales.quote", name="大额报价",
        conditions=[{"field": "total", "op": "gte", "value": "500"}],
        steps=[{"name": "经理", "mode": "any", "approvers": [{"kind": "manager"}]},
               {"name": "财务", "mode": "all", "approvers": [{"kind": "user", "value": [team.reps[1].user_id,
                                                                                      team.reps[2].user_id]}]}])


def test_quote_walks_the_steps_and_freezes(team, process):
    rep = team.actor(team.reps[0])
    q = _quote(rep, "1000.00", "10")
    assert (q.number, q.version, q.total, q.discount_amount) == ("Q-000001", 1, Decimal("900.00"),
                                                                  Decimal("100.00"))
    req = quotes.submit_quote(actor=rep, quote_id=q.pk, comment="请审批")
    q.refresh_from_db()
    assert (q.status, req.status, req.process_id) == ("pending", "pending", process.pk)
    assert list(ApprovalTask.objects.filter(request=req).values_list("approver_id", flat=True)) == [
        team.manager.user_id]
    assert ApprovalNotice.objects.filter(user_id=team.manager.user_id, kind="task").count() == 1
    # pending: nothing edits it
    with pytest.raises(Conflict):
        quotes.update_quote(actor=rep, quote_id=q.pk, data={"title": "改"})
    # a rep who is not the approver cannot decide
    with pytest.raises((PermissionDenied, NotFound)):
        approvals.decide(actor=team.actor(team.reps[1]), request_id=req.pk, approve=True)
    approvals.decide(actor=team.actor(team.manager), request_id=req.pk, approve=True, comment="同意")
    req.refresh_from_db()
    assert (req.status, req.step) == ("pending", 1)
    approvals.decide(actor=team.actor(team.reps[1]), request_id=req.pk, approve=True)
    req.refresh_from_db()
    assert (req.status, req.step) == ("pending", 1)  # all-of: the second finance approver is still needed
    approvals.decide(actor=team.actor(team.reps[2]), request_id=req.pk, approve=True)
    req.refresh_from_db()
    q.refresh_from_db()
    assert (req.status, q.status) == ("approved", "approved")
    assert req.snapshot["total"] == "900.00" and req.snapshot["lines"][0]["name"] == "席位"
    assert req.snapshot_hash == approvals.canonical_hash(req.snapshot) and approvals.verify_frozen(req)
    with pytest.raises(Conflict):
        quotes.update_quote(actor=rep, quote_id=q.pk, data={"title": "改"})
    with pytest.raises(Conflict):
        quotes.submit_quote(actor=rep, quote_id=q.pk)
    # a revision is a new version; approving it supersedes v1
    v2 = quotes.revise_quote(actor=rep, quote_id=q.pk)
    assert (v2.number, v2.version, v2.status, v2.total) == ("Q-000001", 2, "draft", Decimal("900.00"))
    quotes.update_quote(actor=rep, quote_id=v2.pk, data={"lines": [{"name": "席位", "quantity": 1,
                                                                    "unit_price": "100"}]})
    quotes.submit_quote(actor=rep, quote_id=v2.pk)  # below 500: no process matches, approved at once
    v2.refresh_from_db()
    q.refresh_from_db()
    assert (v2.status, q.status) == ("approved", "superseded")


def test_reject_recall_and_comments(team, process):
    rep = team.actor(team.reps[0])
    q = _quote(rep)
    req = quotes.submit_quote(actor=rep, quote_id=q.pk)
    approvals.add_comment(actor=team.actor(team.manager), request_id=req.pk, body="折扣太高")
    approvals.decide(actor=team.actor(team.manager), request_id=req.pk, approve=False, comment="不行")
    q.refresh_from_db()
    assert q.status == "rejected"
    assert ApprovalNotice.objects.filter(user_id=rep.user_id, kind="rejected").count() == 1
    quotes.update_quote(actor=rep, quote_id=q.pk, data={"title": "再来"})  # editable again
    req2 = quotes.submit_quote(actor=rep, quote_id=q.pk)
    with pytest.raises(PermissionDenied):
        approvals.recall(actor=team.actor(team.manager), request_id=req2.pk)
    approvals.recall(actor=rep, request_id=req2.pk)
    q.refresh_from_db()
    req2.refresh_from_db()
    assert (q.status, req2.status) == ("draft", "recalled")
    assert set(ApprovalTask.objects.filter(request=req2).values_list("status", flat=True)) == {"skipped"}
    assert list(req.comments.values_list("kind", flat=True)) == ["submit", "comment", "reject"]


def test_delegation_and_reminder(team, process):
    now = clock.now()
    approvals.set_delegation(actor=team.actor(team.manager), delegate_id=team.south_rep.user_id,
                             starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(days=3))
    rep = team.actor(team.reps[0])
    req = quotes.submit_quote(actor=rep, quote_id=_quote(rep).pk)
    task = ApprovalTask.objects.get(request=req)
    assert (task.approver_id, task.on_behalf_of_id) == (team.south_rep.user_id, team.manager.user_id)
    with pytest.raises(PermissionDenied):
        approvals.decide(actor=team.actor(team.manager), request_id=req.pk, approve=True)
    row = ScheduledAction.objects.get(key=f"approval:{req.pk}:step:0:remind")
    assert row.action == approvals.REMIND_ACTION
    assert abs((row.due_at - req.created_at) - dt.timedelta(hours=24)) < dt.timedelta(seconds=5)
    with time_machine.travel(now + dt.timedelta(hours=25), tick=False):
        scheduled.run_due()
    assert ApprovalNotice.objects.filter(user_id=team.south_rep.user_id, kind="reminder").count() == 1
    approvals.decide(actor=team.actor(team.south_rep), request_id=req.pk, approve=True)
    req.refresh_from_db()
    assert req.step == 1


def test_invalid_process_and_no_approver(team):
    with pytest.raises(ValidationFailed) as e:
        approvals.create_process(actor=team.admin, object_key="sales.quote", name="x",
                                 steps=[{"mode": "some", "approvers": [{"kind": "nobody"}]}])
    assert "steps" in e.value.fields
    approvals.create_process(actor=team.admin, object_key="sales.quote", name="角色",
                             steps=[{"mode": "any", "approvers": [{"kind": "role", "value": "没有这个角色"}]}])
    rep = team.actor(team.reps[0])
    q = _quote(rep)
    with pytest.raises(ValidationFailed):
        quotes.submit_quote(actor=rep, quote_id=q.pk)


def test_other_org_and_out_of_scope_are_not_found(team, make_org, process):
    rep = team.actor(team.reps[0])
    q = _quote(rep)
    other_rep = team.actor(team.south_rep)
    with pytest.raises(NotFound):
        quotes.update_quote(actor=other_rep, quote_id=q.pk, data={"title": "偷改"})
    with pytest.raises(NotFound):
        quotes.submit_quote(actor=other_rep, quote_id=q.pk)
    from siyu.iam.selectors import actor_for_membership

    stranger = actor_for_membership(make_org("Other"))
    req = quotes.submit_quote(actor=rep, quote_id=q.pk)
    with pytest.raises(NotFound):
        approvals.decide(actor=stranger, request_id=req.pk, approve=True)
    with pytest.raises(NotFound):
        approvals.recall(actor=stranger, request_id=req.pk)
    q.refresh_from_db()
    assert (q.status, q.title, ApprovalRequest.objects.get(pk=req.pk).status) == ("pending", "年度订阅", "pending")
    assert Quote.objects.count() == 1
