"""Opportunities: pipelines and stages, stage gates (fields and approval) that no path bypasses, won/lost with
reasons, product lines and amounts, stage history with time spent, the board."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from siyu.kernel.errors import Conflict, ValidationFailed
from siyu.platform import services as platform
from siyu.sales import selectors
from siyu.sales.models.opportunities import GateApproval, Opportunity, StageHistory
from siyu.sales.services import gates, opportunities

T0 = dt.datetime(2025, 3, 3, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def pipe(team):
    platform.create_field(actor=team.admin, object_key="sales.opportunity", key="budget_ok", label="预算确认",
                          type="boolean")
    p = opportunities.create_pipeline(actor=team.admin, name="大客户", stages=[
        {"name": "初步接洽", "probability": 10}, {"name": "方案", "probability": 40, "required_fields": ["amount"]},
        {"name": "商务谈判", "probability": 70, "required_fields": ["expected_close_date", "budget_ok"],
         "requires_approval": True},
        {"name": "赢单", "probability": 100, "kind": "won"}, {"name": "输单", "probability": 0, "kind": "lost"}])
    return selectors.pipeline(team.admin, p.pk)


def stages(pipe):
    return {s.name: s for s in pipe.stages.all()}


def test_default_pipeline_is_created_on_first_use(team):
    opp = opportunities.create_opportunity(actor=team.actor(team.reps[0]), data={"name": "A"})
    assert opp.pipeline.is_default and opp.stage.order == 0 and opp.status == "open"
    assert (opp.owner_id, opp.department_id, opp.currency) == (team.reps[0].user_id, team.east.pk, "CNY")


def test_gates_require_fields_and_an_approval_and_cannot_be_skipped(team, pipe):
    s = stages(pipe)
    rep = team.actor(team.reps[0])
    opp = opportunities.create_opportunity(actor=rep, data={"name": "B", "pipeline_id": pipe.pk})
    with pytest.raises(ValidationFailed) as exc:
        opportunities.move_opportunity(actor=rep, opportunity_id=opp.pk, stage_id=s["方案"].pk)
    assert exc.value.code == "stage_gate" and list(exc.value.fields) == ["amount"]
    # skipping the gated stage does not skip its gate
    with pytest.raises(ValidationFailed) as exc:
        opportunities.move_opportunity(actor=rep, opportunity_id=opp.pk, stage_id=s["商务谈判"].pk)
    assert set(exc.value.fields) == {"amount", "expected_close_date", "budget_ok"}
    with pytest.raises(ValidationFailed):  # winning passes every remaining gate too
        opportunities.close_opportunity(actor=rep, opportunity_id=opp.pk, outcome="won", note="签了")
    # creating straight into a gated stage is a move too
    with pytest.raises(ValidationFailed):
        opportunities.create_opportunity(actor=rep, data={"name": "C", "pipeline_id": pipe.pk, "stage_id": s["方案"].pk})
    opportunities.update_opportunity(actor=rep, opportunity_id=opp.pk, changes={
        "amount": "80000.00", "expected_close_date": "2025-06-30"}, custom={"budget_ok": True})
    with pytest.raises(Conflict) as exc:
        opportunities.move_opportunity(actor=rep, opportunity_id=opp.pk, stage_id=s["商务谈判"].pk)
    assert exc.value.code == "approval_required"
    approval = gates.request_approval(actor=rep, opportunity=Opportunity.objects.get(pk=opp.pk), stage=s["商务谈判"])
    with pytest.raises(Conflict):  # nobody approves their own request
        gates.record_gate_decision(actor=rep, approval_id=approval.pk, approved=True)
    gates.record_gate_decision(actor=team.actor(team.manager), approval_id=approval.pk, approved=True, comment="同意")
    moved = opportunities.move_opportunity(actor=rep, opportunity_id=opp.pk, stage_id=s["商务谈判"].pk)
    assert (moved.stage.name, moved.probability) == ("商务谈判", 70)
    # a gate's field cannot be emptied behind it, and the stage cannot be set by editing
    with pytest.raises(ValidationFailed):
        opportunities.update_opportunity(actor=rep, opportunity_id=opp.pk, changes={"amount": "0"})
    with pytest.raises(ValidationFailed):
        opportunities.update_opportunity(actor=rep, opportunity_id=opp.pk, changes={"stage_id": s["初步接洽"].pk})
    assert GateApproval.objects.get(pk=approval.pk).status == "approved"


def test_won_and_lost_need_a_reason_and_keep_stage_history_with_time_spent(team, pipe):
    s = stages(pipe)
    rep = team.actor(team.reps[0])
    won_reason = opportunities.create_close_reason(actor=team.admin, kind="won", label="价格优势")
    with time_machine.travel(T0, tick=False):
        opp = opportunities.create_opportunity(actor=rep, data={"name": "D", "pipeline_id": pipe.pk, "amount": "1000"})
    with time_machine.travel(T0 + dt.timedelta(hours=5), tick=False):
        opportunities.move_opportunity(actor=rep, opportunity_id=opp.pk, stage_id=s["方案"].pk)
    with time_machine.travel(T0 + dt.timedelta(hours=8), tick=False):
        with pytest.raises(ValidationFailed):
            opportunities.close_opportunity(actor=rep, opportunity_id=opp.pk, outcome="lost")
        with pytest.raises(ValidationFailed):
            opportunities.close_opportunity(actor=rep, opportunity_id=opp.pk, outcome="lost", reason_id=won_reason.pk)
        lost = opportunities.close_opportunity(actor=rep, opportunity_id=opp.pk, outcome="lost", note="预算取消")
    assert (lost.status, lost.stage.name, lost.close_note, lost.closed_at) == ("lost", "输单", "预算取消",
                                                                               T0 + dt.timedelta(hours=8))
    stays = [(h.stage.name, h.seconds) for h in StageHistory.objects.filter(opportunity=opp).order_by("entered_at", "pk")]
    assert stays == [("初步接洽", 5 * 3600), ("方案", 3 * 3600), ("输单", 0)]
    with pytest.raises(Conflict):
        opportunities.move_opportunity(actor=rep, opportunity_id=opp.pk, stage_id=s["初步接洽"].pk)


def test_product_lines_make_the_amount_in_decimal(team):
    rep = team.actor(team.reps[0])
    opp = opportunities.create_opportunity(actor=rep, data={"name": "E"}, lines=[
        {"product_name": "年度订阅", "quantity": 3, "unit_price": "19999.99", "discount_percent": "10"},
        {"product_name": "实施服务", "quantity": "1.5", "unit_price": "0.10"}])
    assert opp.amount == Decimal("53999.97") + Decimal("0.15")
    opportunities.set_lines(actor=rep, opportunity_id=opp.pk, lines=[])
    assert Opportunity.objects.get(pk=opp.pk).amount == Decimal("0.00")
    with pytest.raises(ValidationFailed):
        opportunities.create_opportunity(actor=rep, data={"name": "F", "amount": 0.001})


def test_board_columns_counts_sums_and_order(team, pipe):
    s = stages(pipe)
    rep = team.actor(team.reps[0])
    made = [opportunities.create_opportunity(actor=rep, data={"name": f"O{i}", "pipeline_id": pipe.pk,
                                                              "amount": f"{i}00.00"}) for i in range(1, 4)]
    # newest on top; moving O1 between O3 and O2 reorders the column
    opportunities.move_opportunity(actor=rep, opportunity_id=made[0].pk, stage_id=s["初步接洽"].pk,
                                   after_id=made[2].pk, before_id=made[1].pk)
    cols = selectors.board(rep, pipe)
    first = cols[0]
    assert [c.name for c in first.cards] == ["O3", "O1", "O2"]
    assert (first.count, first.amount) == (3, Decimal("600.00"))
    assert [c.stage.name for c in cols] == ["初步接洽", "方案", "商务谈判"]
    # another rep sees none of them
    assert selectors.board(team.actor(team.reps[1]), pipe)[0].count == 0
