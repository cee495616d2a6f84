"""Pools: who may claim, claim limits, release, recycling with reasons and history, customer pools, and
concurrent claims (PostgreSQL, threads) giving a lead to exactly one person."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, transaction

from siyu.cdp import selectors as cdp_selectors
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound
from siyu.sales.models.leads import Lead, LeadHistory
from siyu.sales.services import activities, leads, pools

T0 = dt.datetime(2025, 3, 3, 2, 0, tzinfo=dt.UTC)


def _pooled(team, pool, n):
    return leads.create_lead(actor=team.admin, phone=f"1392222{n:04d}", name=f"线索{n}", pool_id=pool.pk).lead


def test_members_claim_from_their_departments_pools_within_limits(team):
    east = pools.create_pool(actor=team.admin, data={"name": "华东池", "department_id": team.east.pk, "max_held": 2,
                                                     "max_daily_claims": 3})
    rep = team.actor(team.reps[0])
    south = team.actor(team.south_rep)
    items = [_pooled(team, east, n) for n in range(4)]
    with pytest.raises(NotFound):  # 华南 cannot see 华东's pool
        pools.claim_lead(actor=south, lead_id=items[0].pk)
    assert [p.pk for p in pools.pools_for(south)] == []
    pools.claim_lead(actor=rep, lead_id=items[0].pk)
    pools.claim_lead(actor=rep, lead_id=items[1].pk)
    with pytest.raises(Conflict) as exc:
        pools.claim_lead(actor=rep, lead_id=items[2].pk)
    assert exc.value.code == "claim_limit"
    pools.release_lead(actor=rep, lead_id=items[0].pk, reason="客户暂无需求")
    pools.claim_lead(actor=rep, lead_id=items[2].pk)  # 3rd claim today
    pools.release_lead(actor=rep, lead_id=items[2].pk, reason="x")
    with pytest.raises(Conflict) as exc:
        pools.claim_lead(actor=rep, lead_id=items[3].pk)
    assert exc.value.code == "daily_claim_limit"
    released = LeadHistory.objects.filter(lead=items[0], kind="released").get()
    assert released.data["reason"] == "客户暂无需求" and released.data["previous_owner_id"] == rep.user_id
    assert Lead.objects.get(pk=items[0].pk).owner_id is None


def test_a_claimed_lead_cannot_be_claimed_again(team):
    pool = pools.create_pool(actor=team.admin, data={"name": "公海"})
    lead = _pooled(team, pool, 1)
    pools.claim_lead(actor=team.actor(team.reps[0]), lead_id=lead.pk)
    with pytest.raises(NotFound):
        pools.claim_lead(actor=team.actor(team.reps[1]), lead_id=lead.pk)


def test_recycling_returns_neglected_leads_with_reasons(team):
    pool = pools.create_pool(actor=team.admin, data={"name": "公海", "recycle_no_followup_days": 3,
                                                     "recycle_not_converted_days": 10})
    rep = team.actor(team.reps[0])
    system = Actor.system(team.org.pk)
    with time_machine.travel(T0, tick=False):
        quiet, busy, slow = (_pooled(team, pool, n) for n in range(3))
        for lead in (quiet, busy, slow):
            pools.claim_lead(actor=rep, lead_id=lead.pk)
    with time_machine.travel(T0 + dt.timedelta(days=2), tick=False):
        activities.create_activity(actor=rep, data={"kind": "call", "subject": "跟进", "lead_id": busy.pk})
        activities.create_activity(actor=rep, data={"kind": "call", "subject": "跟进", "lead_id": slow.pk})
    with time_machine.travel(T0 + dt.timedelta(days=4), tick=False):
        assert pools.recycle_all(system) == 1
    assert Lead.objects.get(pk=quiet.pk).owner_id is None
    h = LeadHistory.objects.get(lead=quiet, kind="recycled_no_followup")
    assert h.data["reason"] == "no follow-up in 3 days" and h.data["previous_owner_id"] == rep.user_id
    with time_machine.travel(T0 + dt.timedelta(days=4, hours=1), tick=False):
        activities.create_activity(actor=rep, data={"kind": "call", "subject": "再跟进", "lead_id": slow.pk})
    with time_machine.travel(T0 + dt.timedelta(days=11), tick=False):
        activities.create_activity(actor=rep, data={"kind": "note", "subject": "还在谈", "lead_id": busy.pk})
        activities.create_activity(actor=rep, data={"kind": "note", "subject": "还在谈", "lead_id": slow.pk})
        assert pools.recycle_all(system) == 2  # not converted in 10 days, though followed up
        assert pools.recycle_all(system) == 0  # a second run finds nothing
    assert LeadHistory.objects.filter(kind="recycled_not_converted").count() == 2


def test_customer_pool_release_and_claim_moves_the_profile_owner(team):
    pool = pools.create_pool(actor=team.admin, data={"name": "客户公海", "kind": "customer"})
    rep0, rep1 = team.actor(team.reps[0]), team.actor(team.reps[1])
    lead = leads.create_lead(actor=rep0, phone="13922229999", name="老客户").lead
    entry = pools.release_customer(actor=rep0, profile_id=lead.profile_id, pool_id=pool.pk, reason="离职交接")
    assert cdp_selectors.profile_detail(team.admin, lead.profile_id).owner_id is None
    pools.claim_customer(actor=rep1, entry_id=entry.pk)
    assert cdp_selectors.profile_detail(team.admin, lead.profile_id).owner_id == rep1.user_id
    with pytest.raises(NotFound):
        pools.claim_customer(actor=rep0, entry_id=entry.pk)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_give_the_lead_to_exactly_one_person(org, admin_actor, make_member):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks and real concurrency)")
    from siyu.iam.selectors import actor_for_membership

    members = [make_member(org, f"claimer{i}@acme.example", permissions=["sales.*"]) for i in range(8)]
    actors = [actor_for_membership(m) for m in members]
    with transaction.atomic():
        pool = pools.create_pool(actor=admin_actor, data={"name": "抢单池"})
        lead = leads.create_lead(actor=admin_actor, phone="13933330000", pool_id=pool.pk).lead
    barrier = threading.Barrier(len(actors))
    outcomes: list[str] = []

    def claim(actor):
        try:
            barrier.wait()
            with transaction.atomic():
                pools.claim_lead(actor=actor, lead_id=lead.pk)
            outcomes.append("won")
        except (Conflict, NotFound) as exc:
            outcomes.append(getattr(exc, "code", "lost"))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1, outcomes
    lead.refresh_from_db()
    assert lead.owner_id in {a.user_id for a in actors}
    assert LeadHistory.objects.filter(lead=lead, kind="claimed").count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_rule_assignments_of_one_lead_assign_it_once(org, admin_actor, make_member):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks and real concurrency)")
    from siyu.sales.services import assignment

    reps = [make_member(org, f"rr{i}@acme.example", permissions=["sales.*"]) for i in range(3)]
    with transaction.atomic():
        assignment.create_rule(actor=admin_actor, data={"name": "rr", "respect_working_hours": False,
                                                        "members": [{"user_id": m.user_id} for m in reps]})
        lead = leads.create_lead(actor=admin_actor, phone="13933330001", source="api", auto_assign=False).lead
    system = Actor.system(org.pk)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def run():
        try:
            barrier.wait()
            with transaction.atomic():
                assignment.assign_by_rules(system, Lead.objects.get(pk=lead.pk))
            outcomes.append("assigned")
        except assignment.Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("assigned") == 1, outcomes
    assert LeadHistory.objects.filter(lead=lead, kind="assigned").count() == 1
