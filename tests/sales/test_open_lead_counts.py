"""The per-salesperson open-lead counter (``OpenLeadCount``, kept by triggers on sales_lead) equals a count of
the leads after every kind of write — services, bulk UPDATEs, deletes — and under concurrent writers on
PostgreSQL; least-loaded assignment reads it."""

from __future__ import annotations

import importlib
import random
import threading

import pytest
from django.db import connection, transaction
from django.db.models import Count

from siyu.kernel.actor import Actor
from siyu.sales.models.leads import OPEN_STATUSES, Lead, OpenLeadCount
from siyu.sales.services import assignment, leads, pools


def _actual(org_id: int) -> dict[int, int]:
    system = Actor.system(org_id)
    return dict(Lead.objects.in_org(system).filter(owner__isnull=False, status__in=OPEN_STATUSES)
                .values("owner_id").annotate(n=Count("id")).values_list("owner_id", "n"))


def _counted(org_id: int) -> dict[int, int]:
    rows = OpenLeadCount.objects.in_org(Actor.system(org_id)).values_list("user_id", "open_count")
    return {u: n for u, n in rows if n}


def test_counter_follows_every_path(team):
    org = team.org.pk
    reps = [team.actor(m) for m in team.reps]
    made = [leads.create_lead(actor=reps[i % 3], name=f"客户{i}", phone=f"1380013{i:04d}").lead for i in range(7)]
    assert _counted(org) == _actual(org) == {reps[0].user_id: 3, reps[1].user_id: 2, reps[2].user_id: 2}
    assignment.assign_lead(actor=team.admin, lead_id=made[0].pk, owner_id=reps[1].user_id)
    leads.set_status(actor=reps[1], lead_id=made[1].pk, status="unqualified", reason="无需求")
    leads.set_status(actor=reps[2], lead_id=made[2].pk, status="qualified")
    pool = pools.create_pool(actor=team.admin, data={"name": "公海"})
    pools.release_lead(actor=reps[0], lead_id=made[3].pk, reason="不跟了", pool_id=pool.pk)
    assert _counted(org) == _actual(org) == {reps[0].user_id: 1, reps[1].user_id: 2, reps[2].user_id: 2}
    pools.claim_lead(actor=team.actor(team.manager), lead_id=made[3].pk)
    leads.convert_lead(actor=reps[2], lead_id=made[2].pk, account_name="甲公司")
    # writes that bypass the services entirely are counted too
    Lead.objects.filter(pk__in=[made[4].pk, made[5].pk]).update(owner_id=reps[2].user_id)
    Lead.objects.filter(pk=made[6].pk).delete()
    Lead.objects.filter(pk=made[1].pk).update(status="working")  # reopened
    assert _counted(org) == _actual(org)
    assert _counted(org)[reps[2].user_id] == 2 and _counted(org)[team.manager.user_id] == 1


def test_least_loaded_reads_the_counter(team):
    reps = team.reps
    rule = assignment.create_rule(actor=team.admin, data={
        "name": "最少优先", "strategy": "least_loaded", "respect_working_hours": False,
        "members": [{"user_id": m.user_id} for m in reps]})
    for i in range(3):
        leads.create_lead(actor=team.actor(reps[0]), name=f"甲{i}", phone=f"1390013{i:04d}")
    leads.create_lead(actor=team.actor(reps[1]), name="乙", phone="13900139999")
    assert _counted(team.org.pk) == _actual(team.org.pk)
    # the pick follows the counter, not a count of the leads: 王芳 holds none but her counter says 5
    OpenLeadCount.objects.in_org(Actor.system(team.org.pk)).update_or_create(
        user_id=reps[2].user_id, defaults={"org_id": team.org.pk, "open_count": 5})
    lead = leads.create_lead(actor=team.admin, name="新客户", phone="13700137000", source="api").lead
    lead.refresh_from_db()
    assert lead.owner_id == reps[1].user_id and lead.assignment_rule_id == rule.pk


def test_the_triggers_count_the_statuses_the_code_calls_open():
    """The migration's SQL spells the open statuses out (a migration must not follow later model changes)."""
    migration = importlib.import_module("siyu.sales.migrations.0004_open_lead_counts")
    assert migration.OPEN == "(" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_counter_is_exact_under_concurrent_writers(org, admin_actor, make_member):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (concurrent statements)")
    members = [make_member(org, f"load{i}@acme.example", permissions=["sales.*"]) for i in range(4)]
    users = [m.user_id for m in members]
    with transaction.atomic():
        ids = [leads.create_lead(actor=admin_actor, phone=f"1360013{i:04d}", owner_id=users[i % 4],
                                 auto_assign=False).lead.pk for i in range(40)]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def churn(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            barrier.wait()
            for _ in range(25):
                with transaction.atomic():
                    picked = rnd.sample(ids, 3)
                    if rnd.random() < 0.2:
                        Lead.objects.filter(pk__in=picked).update(status=rnd.choice(["unqualified", "working"]))
                    else:
                        Lead.objects.filter(pk__in=picked).update(owner_id=rnd.choice([*users, None]))
        except BaseException as exc:  # noqa: BLE001  (a deadlock or anything else fails the test below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=churn, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert _counted(org.pk) == _actual(org.pk)
