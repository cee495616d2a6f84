"""Console pages: every page renders for a member with data, claims through htmx, the kanban move endpoint
honours gates, and refusals are 403/404 with nothing changed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from siyu.sales.models.leads import Lead
from siyu.sales.services import activities, leads, opportunities, pools


@pytest.fixture
def world(team):
    admin = team.admin
    pool = pools.create_pool(actor=admin, data={"name": "华东公海", "department_id": team.east.pk, "max_held": 5})
    waiting = leads.create_lead(actor=admin, name="待领取", phone="13911110000", pool_id=pool.pk).lead
    mine = leads.create_lead(actor=team.actor(team.reps[0]), name="我的线索", phone="13911110001").lead
    visit = activities.create_activity(actor=team.actor(team.reps[0]), data={
        "kind": "visit", "subject": "上门拜访", "lead_id": mine.pk, "latitude": "31.230416", "longitude": "121.473701",
        "address": "上海市黄浦区"})
    opp = opportunities.create_opportunity(actor=admin, data={"name": "星河科技 年框", "amount": "50000"})
    return {"pool": pool, "waiting": waiting, "mine": mine, "visit": visit, "opp": opp}


def test_every_sales_page_renders_for_the_administrator(team, world, login_client):
    client = login_client(_admin_membership(team))
    pipe = world["opp"].pipeline_id
    urls = [
        reverse("sales_dashboard"), reverse("sales_funnel_json"), reverse("sales_stages_json"),
        reverse("sales_leads"), reverse("sales_leads") + "?filter[region][contains]=华", reverse("sales_lead_create"),
        reverse("sales_lead", args=[world["mine"].pk]), reverse("sales_pools"), reverse("sales_pool_settings"),
        reverse("sales_rules"), reverse("sales_pipelines"), reverse("sales_pipeline", args=[pipe]),
        reverse("sales_board", args=[pipe]), reverse("sales_opportunities"), reverse("sales_opportunity_create"),
        reverse("sales_opportunity", args=[world["opp"].pk]), reverse("sales_calendar"), reverse("sales_forms"),
    ]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.content[:500])


def _admin_membership(team):
    from siyu.iam.models import Membership
    from siyu.kernel.actor import Actor

    return Membership.objects.visible_to(Actor.system(team.org.pk)).get(user_id=team.admin.user_id)


def test_claim_from_the_pool_page_with_htmx(team, world, login_client):
    client = login_client(team.reps[1])
    r = client.get(reverse("sales_pools"))
    assert r.status_code == 200 and "待领取" in r.content.decode()
    r = client.post(reverse("sales_lead_claim", args=[world["waiting"].pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "Claimed" in r.content.decode() or "已领取" in r.content.decode()
    assert Lead.objects.get(pk=world["waiting"].pk).owner_id == team.reps[1].user_id
    r = client.post(reverse("sales_lead_claim", args=[world["waiting"].pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 404  # no longer in the pool


def test_a_rep_cannot_open_a_colleagues_lead(team, world, login_client, sales_state):
    client = login_client(team.reps[1])
    before = sales_state()
    assert client.get(reverse("sales_lead", args=[world["mine"].pk])).status_code == 404
    assert client.post(reverse("sales_lead_status", args=[world["mine"].pk]), {"status": "working"}).status_code == 404
    assert sales_state() == before


def test_demo_records_open_every_detail_page(team, login_client):
    """What the console's browser gate needs: seed_demo gives a record for each detail route."""
    from siyu.sales.demo_data import seed_demo

    ids = seed_demo(team.admin)
    assert seed_demo(team.admin) == ids  # idempotent
    client = login_client(_admin_membership(team))
    for name, word in [("sales_lead", "lead"), ("sales_opportunity", "opportunity"), ("sales_pipeline", "pipeline"),
                       ("sales_board", "pipeline"), ("sales_rule", "rule"), ("sales_form", "form"),
                       ("sales_stage_cards", "stage")]:
        r = client.get(reverse(name, args=[ids[word][0]]))
        assert r.status_code == 200, (name, r.status_code)
