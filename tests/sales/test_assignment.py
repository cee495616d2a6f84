"""Assignment rules: conditions (standard and custom fields, same semantics as the SQL filters), strategies,
working hours / holidays / leave, capacity, fallback pool, explanations, and the first-response SLA."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine

from siyu.kernel import scheduled
from siyu.kernel.errors import ValidationFailed
from siyu.platform import services as platform
from siyu.platform.filtering import Filter, apply_filters
from siyu.platform.selectors import object_meta
from siyu.sales.models.leads import Lead, LeadHistory, Notification
from siyu.sales.services import activities, assignment, availability, conditions, leads, pools

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
MONDAY_10 = dt.datetime(2025, 3, 3, 10, 0, tzinfo=SH)  # a working day
NATIONAL_DAY = dt.datetime(2025, 10, 1, 10, 0, tzinfo=SH)  # a Wednesday, public holiday


def _lead(system, n, **fields):
    return leads.create_lead(actor=system, phone=f"1391234{n:04d}", source="api", auto_assign=False,
                             fields=fields).lead


def _assign(system, lead):
    lead.refresh_from_db()
    return assignment.assign_by_rules(system, lead)


def test_round_robin_takes_turns_with_a_persisted_cursor(team, system):
    reps = [m.user_id for m in team.reps]
    rule = assignment.create_rule(actor=team.admin, data={"name": "华东", "members": [{"user_id": u} for u in reps],
                                                          "conditions": [{"field": "region", "op": "eq", "value": "华东"}]})
    owners = [_assign(system, _lead(system, n, region="华东")).owner_id for n in range(5)]
    assert owners == sorted(reps) + sorted(reps)[:2]
    rule.refresh_from_db()
    assert rule.rr_cursor == 5
    lead = Lead.objects.filter(owner_id=owners[0], region="华东").first()
    assert lead.assignment_rule_id == rule.pk
    assert lead.assignment_reason.startswith('Rule "华东" (priority 100) matched: region eq \'华东\'. Round-robin chose')


def test_the_first_matching_rule_by_priority_fires_and_unmatched_leads_go_to_the_default_pool(team, system):
    a, b = team.reps[0].user_id, team.reps[1].user_id
    assignment.create_rule(actor=team.admin, data={"name": "any", "priority": 50, "members": [{"user_id": b}]})
    assignment.create_rule(actor=team.admin, data={"name": "hot", "priority": 10, "members": [{"user_id": a}],
                                                   "conditions": [{"field": "score", "op": "gte", "value": 80}]})
    assert _assign(system, _lead(system, 1, score=90)).owner_id == a
    assert _assign(system, _lead(system, 2, score=10)).owner_id == b
    assignment.update_rule(actor=team.admin, rule_id=assignment.AssignmentRule.objects.get(name="any").pk,
                           data={"is_active": False})
    pool = pools.create_pool(actor=team.admin, data={"name": "公海", "is_default": True})
    decision = _assign(system, _lead(system, 3, score=10))
    assert (decision.owner_id, decision.pool_id) == (None, pool.pk)
    assert "No assignment rule matched" in decision.explanation


def test_weighted_round_robin_follows_the_weights(team, system):
    a, b = team.reps[0].user_id, team.reps[1].user_id
    assignment.create_rule(actor=team.admin, data={"name": "w", "strategy": "weighted",
                                                   "members": [{"user_id": a, "weight": 3}, {"user_id": b, "weight": 1}]})
    owners = [_assign(system, _lead(system, n)).owner_id for n in range(8)]
    assert owners.count(a) == 6 and owners.count(b) == 2
    assert owners[:4].count(a) == 3  # smooth: spread out, not 3 in a row then 1


def test_least_loaded_with_a_capacity_cap_then_fallback(team, system):
    a, b = team.reps[0].user_id, team.reps[1].user_id
    pool = pools.create_pool(actor=team.admin, data={"name": "溢出"})
    assignment.create_rule(actor=team.admin, data={"name": "ll", "strategy": "least_loaded", "capacity": 2,
                                                   "fallback_pool_id": pool.pk,
                                                   "members": [{"user_id": a}, {"user_id": b}]})
    leads.create_lead(actor=team.actor(team.reps[0]), phone="13999990000")  # a already holds one
    owners = [_assign(system, _lead(system, n)).owner_id for n in range(4)]
    assert owners == [b, a, b, None]
    last = Lead.objects.order_by("-pk").first()
    assert last.pool_id == pool.pk and "at capacity 2" in last.assignment_reason


def test_department_strategy_takes_the_department_tree(team, system):
    assignment.create_rule(actor=team.admin, data={"name": "dept", "strategy": "department",
                                                   "department_id": team.east.pk})
    owners = {_assign(system, _lead(system, n)).owner_id for n in range(4)}
    assert owners == {team.manager.user_id, *(m.user_id for m in team.reps)}
    with pytest.raises(ValidationFailed):
        assignment.create_rule(actor=team.admin, data={"name": "x", "strategy": "department"})


def test_working_hours_holidays_and_leave_are_respected(team, system):
    a, b = team.reps[0].user_id, team.reps[1].user_id
    assignment.create_rule(actor=team.admin, data={"name": "rr", "members": [{"user_id": a}, {"user_id": b}]})
    availability.set_availability(actor=team.admin, user_id=a, data={"work_days": [0, 1, 2, 3, 4],
                                                                     "work_start": "09:00", "work_end": "18:00"})
    availability.set_availability(actor=team.admin, user_id=b, data={"always_available": True})
    with time_machine.travel(NATIONAL_DAY, tick=False):
        d = _assign(system, _lead(system, 1))
        assert d.owner_id == b and "on leave or off duty" in d.explanation
    with time_machine.travel(MONDAY_10.replace(hour=20), tick=False):
        assert _assign(system, _lead(system, 2)).owner_id == b
    with time_machine.travel(MONDAY_10, tick=False):
        availability.add_leave(actor=team.admin, user_id=b, starts_at=MONDAY_10 - dt.timedelta(hours=1),
                               ends_at=MONDAY_10 + dt.timedelta(hours=8))
        assert [_assign(system, _lead(system, n)).owner_id for n in (3, 4)] == [a, a]
    assert availability.is_public_holiday(dt.date(2025, 10, 1)) and not availability.is_public_holiday(dt.date(2025, 3, 3))


def test_custom_field_conditions(team, system):
    platform.create_field(actor=team.admin, object_key="sales.lead", key="budget", label="预算", type="decimal",
                          options={"decimal_places": 2})
    platform.create_field(actor=team.admin, object_key="sales.lead", key="tier", label="等级", type="single_select",
                          options={"choices": [{"value": "a"}, {"value": "b"}]})
    a = team.reps[0].user_id
    assignment.create_rule(actor=team.admin, data={"name": "big", "members": [{"user_id": a}], "conditions": [
        {"field": "budget", "op": "gt", "value": "100000"}, {"field": "tier", "op": "in", "value": "a,b"}]})
    big = leads.create_lead(actor=system, phone="13912340001", source="api", custom={"budget": "250000.00", "tier": "a"})
    small = leads.create_lead(actor=system, phone="13912340002", source="api", custom={"budget": "9.50", "tier": "a"})
    assert (big.lead.owner_id, small.lead.owner_id) == (a, None)
    with pytest.raises(ValidationFailed) as exc:
        assignment.create_rule(actor=team.admin, data={"name": "bad", "conditions": [
            {"field": "budget", "op": "contains", "value": "x"}]})
    assert "conditions.0" in exc.value.fields


CASES = [
    ("region", "eq", "华东"), ("region", "ne", "华东"), ("region", "contains", "华"), ("region", "in", "华东,华南"),
    ("region", "is_empty", "true"), ("region", "is_empty", "false"), ("score", "gt", "50"), ("score", "lte", "50"),
    ("score", "in", "10,90"), ("status", "eq", "new"), ("budget", "gte", "100.5"), ("budget", "lt", "100.5"),
    ("budget", "is_empty", "true"), ("budget", "ne", "100.50"), ("tier", "eq", "a"), ("tier", "in", "a"),
    ("tier", "is_empty", "true"), ("note", "contains", "VIP"), ("tags", "contains", "x"), ("tags", "is_empty", "false"),
]


def test_python_conditions_agree_with_the_platform_sql_filters(team, system):
    platform.create_field(actor=team.admin, object_key="sales.lead", key="budget", label="预算", type="decimal",
                          options={"decimal_places": 2})
    platform.create_field(actor=team.admin, object_key="sales.lead", key="tier", label="等级", type="single_select",
                          options={"choices": [{"value": "a"}, {"value": "b"}]})
    platform.create_field(actor=team.admin, object_key="sales.lead", key="tags", label="标签", type="multi_select",
                          options={"choices": [{"value": "x"}, {"value": "y"}]})
    rows = [({"region": "华东", "score": 90}, {"budget": "100.50", "tier": "a", "tags": ["x"]}),
            ({"region": "华南", "score": 10, "note": "vip client"}, {"budget": "99.99", "tier": "b"}),
            ({"region": "", "score": 50}, {"tags": ["y"]}),
            ({"region": "华北", "score": 51, "note": "no"}, {"budget": "1000.00"})]
    for n, (fields, custom) in enumerate(rows):
        leads.create_lead(actor=system, phone=f"1391111{n:04d}", source="api", auto_assign=False, fields=fields,
                          custom=custom)
    meta = object_meta(system, "sales.lead")
    everything = list(Lead.objects.in_org(system).order_by("pk"))
    for field, op, value in CASES:
        qs, _ = apply_filters(Lead.objects.in_org(system), actor=system, meta=meta, filters=[Filter(field, op, value)])
        sql = set(qs.values_list("pk", flat=True))
        python = {x.pk for x in everything if conditions.holds(system, meta, x, {"field": field, "op": op, "value": value})}
        assert python == sql, (field, op, value, python, sql)


def test_concurrent_assignment_of_one_lead_happens_once(team, system):
    """Two decisions on the same unowned lead: the second write finds it taken (conditional UPDATE)."""
    a, b = team.reps[0].user_id, team.reps[1].user_id
    assignment.create_rule(actor=team.admin, data={"name": "rr", "members": [{"user_id": a}, {"user_id": b}]})
    lead = _lead(system, 1)
    stale = Lead.objects.get(pk=lead.pk)
    assignment.assign_by_rules(system, Lead.objects.get(pk=lead.pk))
    with pytest.raises(assignment.Conflict):
        assignment.assign_by_rules(system, stale)
    assert LeadHistory.objects.filter(lead=lead, kind="assigned").count() == 1


def test_first_response_sla_reminds_breaches_escalates_and_reassigns_exactly_once(team, system):
    a, b = team.reps[0].user_id, team.reps[1].user_id
    with time_machine.travel(MONDAY_10, tick=False):
        assignment.create_rule(actor=team.admin, data={
            "name": "sla", "members": [{"user_id": a}, {"user_id": b}], "sla_minutes": 30,
            "sla_remind_before_minutes": 10, "sla_reassign": True, "respect_working_hours": False})
        lead = leads.create_lead(actor=system, phone="13912349999", source="web_form").lead
        assert (lead.owner_id, lead.sla_state) == (a, "pending")
        assert lead.sla_due_at == MONDAY_10 + dt.timedelta(minutes=30)
    with time_machine.travel(MONDAY_10 + dt.timedelta(minutes=21), tick=False):
        assert scheduled.run_due() >= 1
        assert Notification.objects.filter(kind="sla_reminder", recipient_id=a).count() == 1
    with time_machine.travel(MONDAY_10 + dt.timedelta(minutes=31), tick=False):
        scheduled.run_due()
        assignment.sla_sweep(team.org.pk, "breach", MONDAY_10 + dt.timedelta(minutes=31))  # a second sweep: no-op
    lead.refresh_from_db()
    assert lead.owner_id == b and lead.sla_state == "pending"  # reassigned, with a fresh SLA
    assert Notification.objects.filter(kind="sla_escalation", recipient_id=team.manager.user_id).count() == 1
    assert LeadHistory.objects.filter(lead=lead, kind="sla_breached").count() == 1
    assert Notification.objects.filter(kind="sla_reminder").count() == 1
    # the new owner answers in time: response time recorded, SLA met, nothing fires later
    with time_machine.travel(MONDAY_10 + dt.timedelta(minutes=40), tick=False):
        activities.create_activity(actor=team.actor(team.reps[1]), data={"kind": "call", "subject": "首次回访",
                                                                         "lead_id": lead.pk})
    lead.refresh_from_db()
    assert (lead.sla_state, lead.response_seconds, lead.status) == ("met", 9 * 60, "working")
    with time_machine.travel(MONDAY_10 + dt.timedelta(hours=3), tick=False):
        scheduled.run_due()
    assert LeadHistory.objects.filter(lead=lead, kind="sla_breached").count() == 1
