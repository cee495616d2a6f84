"""Query budgets of the sales hot paths: an assignment decision, a bulk-assign chunk, the lead and opportunity
lists and details and the kanban board cost a fixed number of queries, whatever the number of candidates,
leads or rows (the 1M-lead figures in ``sales/README.md`` depend on it: on a loaded machine each round trip
costs milliseconds)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from siyu.kernel import clock
from siyu.platform import services as platform
from siyu.sales import selectors
from siyu.sales.models.leads import Lead, LeadHistory
from siyu.sales.services import assignment, availability, bulk, leads, opportunities

API = "/api/v1/sales"
# active rules, the object metadata's generation token (a cache read: a query with the database cache the suite
# uses, none with Redis), the rule's lock, candidates
DECISION_QUERIES = 4


def _lead(system, n, **fields):
    return leads.create_lead(actor=system, phone=f"1397777{n:04d}", source="api", auto_assign=False,
                             fields=fields).lead


def _decision_queries(system, lead):
    with CaptureQueriesContext(connection) as queries:
        decision = assignment.decide(assignment.context(system), lead)
    return len(queries), decision


def _everyone(team):
    return [m.user_id for m in [*team.reps, team.manager, team.south_rep]]


def test_a_decision_costs_the_same_queries_for_one_candidate_or_many(team, system):
    platform.create_field(actor=team.admin, object_key="sales.lead", key="budget", label="预算", type="integer")
    one = assignment.create_rule(actor=team.admin, data={
        "name": "one", "priority": 10, "respect_working_hours": False,
        "conditions": [{"field": "region", "op": "eq", "value": "华北"}],
        "members": [{"user_id": team.reps[0].user_id}]})
    users = _everyone(team)
    many = assignment.create_rule(actor=team.admin, data={
        "name": "many", "priority": 20, "strategy": "least_loaded", "capacity": 50,
        "conditions": [{"field": "budget", "op": "gte", "value": 1000}],
        "members": [{"user_id": u} for u in users]})
    for u in users:  # every candidate with working hours, one with a cap and one on leave: still one query
        availability.set_availability(actor=team.admin, user_id=u, data={"always_available": u != users[1],
                                                                         "capacity": 7 if u == users[2] else None})
    now = clock.now()
    availability.add_leave(actor=team.admin, user_id=users[3], starts_at=now - dt.timedelta(hours=1),
                           ends_at=now + dt.timedelta(hours=1))
    lead = _lead(system, 1, region="华北")
    n_one, decision = _decision_queries(system, lead)
    assert (decision.owner_id, decision.rule.pk) == (team.reps[0].user_id, one.pk)

    lead = leads.create_lead(actor=system, phone="13977770002", source="api", auto_assign=False,
                             fields={"region": "华东"}, custom={"budget": 5000}).lead
    n_many, decision = _decision_queries(system, lead)
    assert decision.rule.pk == many.pk and decision.owner_id in users
    # the explanation still says who was skipped and why, from that single read
    assert "李娜 (on leave or off duty)" in decision.explanation, decision.explanation
    assert n_one == n_many == DECISION_QUERIES


def _bulk_queries(team, system, leads_):
    job = bulk.BulkJob.objects.create(org_id=team.org.pk, kind="assign", lead_ids=[x.pk for x in leads_],
                                      total=len(leads_), created_by_id=team.admin.user_id, actor={})
    locked = list(Lead.objects.filter(pk__in=[x.pk for x in leads_]).order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        changed = bulk.assign_many(team.admin, locked, job=job)
    return len(queries), changed


def test_a_bulk_assign_chunk_costs_the_same_queries_for_few_or_many_leads(team, system):
    """Round-robin, weighted and least-loaded rules (the last writes an explanation per lead): the chunk's
    queries grow with the rules that fire (one UPDATE each) and the owners (one event each), never with its
    leads. Both batches below give every owner leads from every rule."""
    users = _everyone(team)
    assignment.create_rule(actor=team.admin, data={
        "name": "big", "priority": 10, "strategy": "least_loaded", "respect_working_hours": False,
        "conditions": [{"field": "score", "op": "gte", "value": 50}], "members": [{"user_id": u} for u in users]})
    assignment.create_rule(actor=team.admin, data={
        "name": "south", "priority": 20, "strategy": "weighted", "respect_working_hours": False,
        "conditions": [{"field": "region", "op": "eq", "value": "华南"}],
        "members": [{"user_id": u, "weight": 1 + i % 3} for i, u in enumerate(users)]})
    assignment.create_rule(actor=team.admin, data={
        "name": "rest", "priority": 30, "sla_minutes": 30, "sla_remind_before_minutes": 10,
        "respect_working_hours": False, "members": [{"user_id": u} for u in users]})

    def batch(lo, n):
        return [_lead(system, lo + i, score=90 if i % 3 == 0 else 10, region="华南" if i % 3 == 1 else "华东")
                for i in range(n)]

    warm, few, many = batch(50, 3), batch(100, 30), batch(200, 60)
    # one frozen minute: the SLA sweeps are then scheduled by the first chunk and found by the others
    with time_machine.travel(clock.now(), tick=False):
        _bulk_queries(team, system, warm)
        n_few, changed_few = _bulk_queries(team, system, few)
        n_many, changed_many = _bulk_queries(team, system, many)
    assert (changed_few, changed_many) == (30, 60)
    assert n_few == n_many, (n_few, n_many)
    # every lead still carries its own explanation, in the lead and in its history
    big = Lead.objects.filter(pk__in=[x.pk for x in many], assignment_rule__name="big").order_by("pk")
    reasons = [x.assignment_reason for x in big]
    assert len(reasons) == 20 and all("Least loaded chose" in r and "open leads before" in r for r in reasons)
    for lead in big:
        h = LeadHistory.objects.get(lead=lead, kind="assigned")
        assert (h.data["explanation"], h.data["rule_id"]) == (lead.assignment_reason, lead.assignment_rule_id)
    loads = [int(r.rsplit(", ", 1)[1].split(" ")[0]) for r in reasons]
    assert loads == sorted(loads)  # least loaded: each pick saw the picks before it


@pytest.fixture
def api(api_client, org):
    return api_client(org)


def _get_queries(api, url):
    api.get(url)  # first call warms per-process caches (URL resolver, API key cache, …)
    with CaptureQueriesContext(connection) as queries:
        r = api.get(url)
    assert r.status_code == 200, r.content
    return len(queries), r.json()


def test_lead_and_opportunity_lists_and_details_cost_a_fixed_number_of_queries(team, system, api):
    platform.create_field(actor=team.admin, object_key="sales.lead", key="budget", label="预算", type="integer")
    pipe = opportunities.ensure_default_pipeline(team.admin)
    for n in range(3):
        _lead(system, 300 + n, region="华东")
        opportunities.create_opportunity(actor=team.admin, data={"name": f"商机{n}", "amount": "1000.00",
                                                                 "pipeline_id": pipe.pk})
    urls = [f"{API}/leads?limit=50", f"{API}/leads?limit=50&filter[region][eq]=华东",
            f"{API}/opportunities?limit=50", f"{API}/opportunities?limit=50&status=open"]
    small = {url: _get_queries(api, url) for url in urls}
    for n in range(20):
        _lead(system, 400 + n, region="华东")
        opportunities.create_opportunity(actor=team.admin, data={"name": f"大单{n}", "amount": "2000.00",
                                                                 "pipeline_id": pipe.pk})
    for url in urls:
        n_small, body_small = small[url]
        n_large, body = _get_queries(api, url)
        assert len(body["items"]) == len(body_small["items"]) + 20
        assert n_large == n_small, (url, n_small, n_large)
    lead = Lead.objects.filter(org=team.org).order_by("-pk").first()
    opp = opportunities.Opportunity.objects.filter(org=team.org).order_by("-pk").first()
    n_lead, body = _get_queries(api, f"{API}/leads/{lead.pk}")
    assert body["id"] == lead.pk
    n_opp, body = _get_queries(api, f"{API}/opportunities/{opp.pk}")
    assert body["id"] == opp.pk
    n_list, _ = small[urls[0]]
    assert n_lead <= n_list and n_opp <= n_list + 1  # a detail is no dearer than a page (the opportunity: lines)


def test_the_kanban_board_costs_one_query_per_column_whatever_the_cards(team):
    pipe = opportunities.ensure_default_pipeline(team.admin)

    def board_queries():
        with CaptureQueriesContext(connection) as queries:
            columns = selectors.board(team.admin, selectors.pipeline(team.admin, pipe.pk))
        return len(queries), columns

    opportunities.create_opportunity(actor=team.admin, data={"name": "一", "pipeline_id": pipe.pk})
    n_few, columns = board_queries()
    for n in range(12):
        opportunities.create_opportunity(actor=team.admin, data={"name": f"单{n}", "pipeline_id": pipe.pk})
    n_many, columns = board_queries()
    assert sum(c.count for c in columns) == 13
    assert n_few == n_many
    assert n_many == 3 + len(columns)  # the pipeline, its stages, the totals, then one page of cards per column


def test_api_details_join_only_what_they_answer_and_do_not_reread_definitions(team, system, api):
    """The API answers ids: a lead detail joins the owner (its name is a standard field) and nothing else, an
    opportunity detail joins nothing; neither rereads the object's definition or custom fields once memoised."""
    lead = _lead(system, 500, region="华东")
    pipe = opportunities.ensure_default_pipeline(team.admin)
    opp = opportunities.create_opportunity(actor=team.admin, data={"name": "商机", "amount": "1.00",
                                                                   "pipeline_id": pipe.pk})
    for url, table, joined in ((f"{API}/leads/{lead.pk}", "sales_lead", ["iam_user"]),
                               (f"{API}/opportunities/{opp.pk}", "sales_opportunity", [])):
        api.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert api.get(url).status_code == 200
        sqls = [q["sql"] for q in queries.captured_queries]
        assert not any("platform_" in s for s in sqls), sqls
        main = next(s for s in sqls if s.startswith("SELECT") and f'FROM "{table}"' in s)
        assert sorted(set(re.findall(r'JOIN "(\w+)"', main))) == joined, main
