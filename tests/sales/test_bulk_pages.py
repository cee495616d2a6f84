"""Bulk actions from the console: the lead list's bulk bar starts a job (assign by rules, transfer to a member,
recycle to a pool) through the bulk service, the job's page shows its progress and polls while the job runs,
the scheduled chunks do the work; bad input is a message that changes nothing, a missing permission the audited
403, another organisation's job the audited 404."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from siyu.audit.models import AuditLogEntry
from siyu.kernel import events, scheduled
from siyu.kernel.actor import DataScope
from siyu.kernel.models import ScheduledAction
from siyu.sales.models.jobs import BulkJob
from siyu.sales.models.leads import Lead
from siyu.sales.models.pools import PoolKind
from siyu.sales.services import assignment, bulk, leads, pools

START = "/sales/leads/bulk/"
PROGRESS = re.compile(r'data-status="(\w+)"\s+data-done="(\d+)" data-total="(\d+)" data-skipped="(\d+)" '
                      r'data-errors="(\d+)"')


@pytest.fixture
def english(login_client):
    def make(membership):
        client = login_client(membership)
        client.cookies["django_language"] = "en"
        return client

    return make


@pytest.fixture
def five(team):
    """Five open leads nobody owns yet: three in 华东, two in 华南."""
    return [leads.create_lead(actor=team.admin, name=f"批量客户{n}", phone=f"1398888400{n}", source="api",
                              auto_assign=False, fields={"region": "华东" if n < 3 else "华南"}).lead.pk
            for n in range(5)]


def progress(client, job_id: int) -> dict:
    """What the polled fragment says of the job, and whether it asks to be polled again."""
    r = client.get(reverse("sales_bulk_progress", args=[job_id]))
    assert r.status_code == 200
    html = r.content.decode()
    assert "<html" not in html[:300].lower()  # a fragment, swapped into the job's page
    status, done, total, skipped, errors = PROGRESS.search(html).groups()
    return {"status": status, "done": int(done), "total": int(total), "skipped": int(skipped),
            "errors": int(errors), "polls": 'hx-trigger="every 1s"' in html}


def start(client, form: dict):
    """Post the bulk bar and follow its redirect (the page shown next shows, and so consumes, the messages)."""
    r = client.post(START, form, follow=True)
    assert r.status_code == 200 and len(r.redirect_chain) == 1, (r.status_code, r.redirect_chain)
    r.url = r.redirect_chain[0][0]
    return r


def started(r) -> BulkJob:
    """The job a start request redirected to (the job's page)."""
    job = BulkJob.objects.order_by("-pk").first()
    assert r.url == reverse("sales_bulk_job", args=[job.pk])
    return job


def said(r) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in r.context["messages"]]


def owners(ids) -> list:
    return list(Lead.objects.filter(pk__in=ids).order_by("pk").values_list("owner_id", "pool_id"))


def test_the_bar_is_shown_to_those_who_may_run_bulk_actions(team, admin_membership, english, make_member):
    pool = pools.create_pool(actor=team.admin, data={"name": "回收池"})
    page = english(admin_membership).get(reverse("sales_leads")).content.decode()
    assert 'data-testid="sales-bulk-bar"' in page and "sales/bulk.js" in page
    assert 'data-testid="sales-bulk-assign"' in page and 'data-testid="sales-bulk-transfer"' in page
    assert f'<option value="{team.manager.user_id}">李娜</option>' in page
    assert f'<option value="{pool.pk}">回收池</option>' in page
    assert "at most 200,000" in page  # the cap of "every lead matching the filter" is said
    assert reverse("sales_bulk_jobs") in page

    recycler = make_member(team.org, "recycler@acme.example", permissions=["sales.lead.read", "sales.lead.bulk"])
    page = english(recycler).get(reverse("sales_leads")).content.decode()
    assert 'data-testid="sales-bulk-recycle"' in page
    assert 'data-testid="sales-bulk-assign"' not in page and 'data-testid="sales-bulk-transfer"' not in page

    reader = make_member(team.org, "reader@acme.example", permissions=["sales.lead.read"])
    page = english(reader).get(reverse("sales_leads")).content.decode()
    assert 'data-testid="sales-bulk-bar"' not in page and "sales/bulk.js" not in page


def test_assign_transfer_and_recycle_from_the_lead_list_with_progress(team, admin_membership, english, five,
                                                                      monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 2)
    a, b = sorted([team.reps[0].user_id, team.reps[1].user_id])
    assignment.create_rule(actor=team.admin, data={"name": "轮流", "respect_working_hours": False,
                                                   "members": [{"user_id": a}, {"user_id": b}]})
    client = english(admin_membership)

    r = start(client, {"kind": "assign", "scope": "selected", "lead_ids": five, "query": "mine="})
    job = started(r)
    assert ("success", "The bulk job has started.") in said(r)
    assert (job.kind, job.lead_ids, job.created_by_id) == ("assign", five, team.admin.user_id)
    page = r.content.decode()
    assert "<html" in page[:300].lower() and "Assign by rules" in page
    assert progress(client, job.pk) == {"status": "queued", "done": 0, "total": 5, "skipped": 0, "errors": 0,
                                        "polls": True}
    # The worker runs the first chunk (the scheduled action itself): the page shows it and keeps polling.
    events.discover()  # what run_due does first: the contexts' actions are registered
    assert scheduled._run(ScheduledAction.objects.get(key=f"sales:bulk:{job.pk}:0")) == []
    assert progress(client, job.pk) == {"status": "running", "done": 2, "total": 5, "skipped": 0, "errors": 0,
                                        "polls": True}
    scheduled.run_due()
    assert progress(client, job.pk) == {"status": "done", "done": 5, "total": 5, "skipped": 0, "errors": 0,
                                        "polls": False}
    assert owners(five) == [(a, None), (b, None), (a, None), (b, None), (a, None)]

    job = started(start(client, {"kind": "transfer", "lead_ids": five, "owner_id": team.manager.user_id}))
    scheduled.run_due()
    assert progress(client, job.pk)["status"] == "done"
    assert owners(five) == [(team.manager.user_id, None)] * 5
    page = client.get(reverse("sales_bulk_job", args=[job.pk])).content.decode()
    assert "Transfer · 李娜" in page

    pool = pools.create_pool(actor=team.admin, data={"name": "回收池"})
    job = started(start(client, {"kind": "recycle", "lead_ids": five, "pool_id": pool.pk}))
    scheduled.run_due()
    assert progress(client, job.pk) == {"status": "done", "done": 5, "total": 5, "skipped": 0, "errors": 0,
                                        "polls": False}
    assert owners(five) == [(None, pool.pk)] * 5

    # Again: nothing left to take back, every lead is skipped and the page says so.
    job = started(start(client, {"kind": "recycle", "lead_ids": five, "pool_id": pool.pk}))
    scheduled.run_due()
    assert progress(client, job.pk)["skipped"] == 5

    listing = client.get(reverse("sales_bulk_jobs")).content.decode()
    rows = re.findall(r'data-testid="sales-bulk-job-row" data-pk="(\d+)"', listing)
    assert [int(x) for x in rows] == list(BulkJob.objects.order_by("-pk").values_list("pk", flat=True))
    assert len(rows) == 4 and "Recycle to a pool · 回收池" in listing


def test_every_lead_matching_the_filter_with_the_cap_said(team, admin_membership, english, five, monkeypatch):
    client = english(admin_membership)
    query = "filter%5Bregion%5D%5Bcontains%5D=%E5%8D%8E%E4%B8%9C&sort=-created_at"
    # The ticked boxes do not count when "every lead matching the filter" is chosen.
    r = start(client, {"kind": "transfer", "scope": "all", "query": query, "lead_ids": [five[4]],
                            "owner_id": team.reps[2].user_id})
    job = started(r)
    assert job.lead_ids == five[:3] and job.total == 3
    scheduled.run_due()
    assert owners(five) == [(team.reps[2].user_id, None)] * 3 + [(None, None)] * 2

    monkeypatch.setattr(bulk, "MAX_LEADS", 2)
    r = start(client, {"kind": "transfer", "scope": "all", "query": query, "owner_id": team.manager.user_id})
    job = started(r)
    assert job.lead_ids == five[:2]
    assert ("warning", "More leads match the filter than one job takes: the job has the first 2 of them "
                       "(oldest first).") in said(r)

    # "mine" narrows it as the list does: the administrator owns none of them.
    r = start(client, {"kind": "recycle", "scope": "all", "query": "mine=1"})
    assert r.url == reverse("sales_leads") + "?mine=1"
    assert [level for level, _ in said(r)] == ["error"]


@pytest.fixture
def outsider(make_org):
    """Another organisation's administrator, with a lead and a bulk job of their own."""
    from siyu.iam.selectors import actor_for_membership

    membership = make_org("Bravo")
    actor = actor_for_membership(membership)
    lead = leads.create_lead(actor=actor, name="别家的", phone="13977770000", auto_assign=False).lead
    pool = pools.create_pool(actor=actor, data={"name": "别家的池"})
    job = bulk.start_bulk(actor=actor, kind="recycle", lead_ids=[lead.pk])
    return {"membership": membership, "lead": lead, "pool": pool, "job": job}


def test_bad_input_is_a_message_and_changes_nothing(team, admin_membership, english, five, outsider, sales_state):
    client = english(admin_membership)
    customer_pool = pools.create_pool(actor=team.admin, data={"name": "客户公海", "kind": PoolKind.CUSTOMER})
    cases = [
        ({"kind": "assign", "scope": "selected"}, "No leads selected"),
        ({"kind": "transfer", "lead_ids": five}, "Choose an active member"),
        ({"kind": "transfer", "lead_ids": five, "owner_id": outsider["membership"].user_id}, "Choose an active member"),
        ({"kind": "recycle", "lead_ids": five, "pool_id": outsider["pool"].pk}, "Choose one of the lead pools"),
        ({"kind": "recycle", "lead_ids": five, "pool_id": customer_pool.pk}, "Choose one of the lead pools"),
        ({"kind": "delete", "lead_ids": five}, "Choose one of the bulk actions"),
        ({"kind": "assign", "lead_ids": ["x"]}, "Select between 1 and 200,000 leads"),
        ({"kind": "assign", "lead_ids": [outsider["lead"].pk]}, "None of the selected leads"),
        ({"kind": "assign", "scope": "all", "query": "filter[nope][eq]=1"}, "nope"),
    ]
    before, actions = sales_state(), ScheduledAction.objects.count()
    for form, words in cases:
        r = start(client, {"query": "filter[region][contains]=华", **form})
        assert r.url.startswith(reverse("sales_leads") + "?"), form
        messages = said(r)
        assert len(messages) == 1 and messages[0][0] == "error" and words in messages[0][1], (form, messages)
    assert sales_state() == before and ScheduledAction.objects.count() == actions


def test_refusals_are_the_audited_403_and_404(team, admin_membership, english, make_member, five, outsider,
                                              sales_state):
    recycler = english(make_member(team.org, "recycler@acme.example",
                                   permissions=["sales.lead.read", "sales.lead.bulk"], scope=DataScope.ORGANIZATION))
    reader = english(make_member(team.org, "reader@acme.example", permissions=["sales.lead.read"]))
    before, actions = sales_state(), ScheduledAction.objects.count()

    def denied(client, method: str, url: str, data=None, status=403):
        count = AuditLogEntry.objects.filter(action="denied", meta__path=url, meta__status=status).count()
        assert getattr(client, method)(url, data or {}).status_code == status, (method, url)
        assert AuditLogEntry.objects.filter(action="denied", meta__path=url, meta__status=status).count() == count + 1

    denied(reader, "post", START, {"kind": "recycle", "lead_ids": five})
    denied(reader, "get", reverse("sales_bulk_jobs"))
    denied(recycler, "post", START, {"kind": "assign", "lead_ids": five})
    denied(recycler, "post", START, {"kind": "transfer", "lead_ids": five, "owner_id": team.manager.user_id})
    admin = english(admin_membership)
    for name in ("sales_bulk_job", "sales_bulk_progress"):
        denied(admin, "get", reverse(name, args=[outsider["job"].pk]), status=404)
    assert admin.get(START).status_code == 405
    assert sales_state() == before and ScheduledAction.objects.count() == actions

    # What the recycler may do: recycle (no assign permission needed), and see the job.
    job = started(start(recycler, {"kind": "recycle", "lead_ids": five}))
    assert job.total == 5 and recycler.get(reverse("sales_bulk_job", args=[job.pk])).status_code == 200
    # A reader sees only the jobs they started, and another organisation's list never shows this one.
    denied(reader, "get", reverse("sales_bulk_job", args=[job.pk]), status=404)
    other = english(outsider["membership"]).get(reverse("sales_bulk_jobs")).content.decode()
    assert re.findall(r'data-pk="(\d+)"', other) == [str(outsider["job"].pk)]


def test_job_words_are_the_sales_translations_in_chinese(team, admin_membership, login_client, five):
    """Without a message context another app's translation of the same English word won (the CDP's "Queued" is
    进入队列, the audit log's "Created" is 创建)."""
    client = login_client(admin_membership)  # zh-hans, the default locale
    job = started(start(client, {"kind": "transfer", "lead_ids": five, "owner_id": team.manager.user_id}))
    page = client.get(reverse("sales_bulk_job", args=[job.pk])).content.decode()
    assert "排队中" in page and "进入队列" not in page
    assert "创建时间" in page
    listing = client.get(reverse("sales_bulk_jobs")).content.decode()
    assert "排队中" in listing and "创建时间" in listing and "进入队列" not in listing
