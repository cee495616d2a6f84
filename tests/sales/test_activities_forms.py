"""Activities (follow-ups, visits with check-in and photo, tasks with reminders) on the customer's and the
opportunity's timeline; the public web form (signed token, honeypot, time to submit, per-IP rate, consent)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine
from django.test import Client

from siyu.cdp import selectors as cdp_selectors
from siyu.cdp.consent import may_contact
from siyu.kernel import scheduled
from siyu.kernel.errors import ValidationFailed
from siyu.sales import selectors
from siyu.sales.models.leads import Lead, Notification
from siyu.sales.services import activities, forms, leads, opportunities

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
T0 = dt.datetime(2025, 3, 3, 2, 0, tzinfo=dt.UTC)


def test_follow_ups_and_visits_land_on_the_customer_timeline(team, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    rep = team.actor(team.reps[0])
    lead = leads.create_lead(actor=rep, name="周女士", phone="13944440000").lead
    opp = opportunities.create_opportunity(actor=rep, data={"name": "周女士 项目", "contact_id": lead.profile_id})
    call = activities.create_activity(actor=rep, data={"kind": "wecom_chat", "subject": "企微沟通", "lead_id": lead.pk})
    visit = activities.create_activity(actor=rep, data={"kind": "visit", "subject": "上门", "opportunity_id": opp.pk,
                                                        "latitude": 31.230416, "longitude": "121.473701",
                                                        "address": "上海市黄浦区人民大道"})
    assert (str(visit.latitude), str(visit.longitude), visit.profile_id) == ("31.230416", "121.473701", lead.profile_id)
    assert visit.checked_in_at is not None
    activities.attach_photo(actor=rep, activity_id=visit.pk, content=PNG)
    path, kind = activities.photo_file(rep, visit.pk)
    assert kind == "image/png" and path.read_bytes() == PNG and str(tmp_path) in str(path)
    with pytest.raises(ValidationFailed):
        activities.attach_photo(actor=rep, activity_id=visit.pk, content=b"<svg onload=alert(1)>")
    with pytest.raises(ValidationFailed):
        activities.attach_photo(actor=rep, activity_id=visit.pk, content=PNG + b"\x00" * activities.MAX_PHOTO_BYTES)
    with pytest.raises(ValidationFailed):
        activities.attach_photo(actor=rep, activity_id=call.pk, content=PNG)
    page = cdp_selectors.timeline_page(team.admin, lead.profile, cursor=None, limit=20)
    kinds = [e.kind for e in page.items]
    assert "sales.activity.wecom_chat" in kinds and "sales.activity.visit" in kinds and "sales.lead.created" in kinds
    assert "sales.opportunity.created" in kinds
    assert [i["text"] for i in selectors.opportunity_timeline(rep, opp) if i["kind"].startswith("activity")] == ["上门"]
    assert Lead.objects.get(pk=lead.pk).last_activity_at == call.occurred_at
    with pytest.raises(ValidationFailed):
        activities.create_activity(actor=rep, data={"kind": "visit", "subject": "x", "latitude": "91", "longitude": "0"})


def test_task_reminders_fire_once_and_not_for_done_tasks(team):
    rep = team.actor(team.reps[0])
    with time_machine.travel(T0, tick=False):
        task = activities.create_activity(actor=rep, data={
            "kind": "task", "subject": "回电", "due_at": (T0 + dt.timedelta(hours=2)).isoformat(),
            "remind_at": (T0 + dt.timedelta(hours=1)).isoformat()})
        done = activities.create_activity(actor=rep, data={
            "kind": "task", "subject": "发合同", "due_at": (T0 + dt.timedelta(hours=2)).isoformat(),
            "remind_at": (T0 + dt.timedelta(hours=1)).isoformat()})
        activities.complete_activity(actor=rep, activity_id=done.pk)
    with time_machine.travel(T0 + dt.timedelta(minutes=61), tick=False):
        scheduled.run_due()
        scheduled.run_due()
    notes = list(Notification.objects.filter(kind="task_reminder").values_list("activity_id", flat=True))
    assert notes == [task.pk]
    with pytest.raises(ValidationFailed):
        activities.create_activity(actor=rep, data={"kind": "task", "subject": "no due"})


def _post(client, form, data, *, ago=10.0, ip="10.0.0.1"):
    token = forms.issue_token(form, now=time.time() - ago)
    return client.post(f"/f/{form.key}/", {"token": token, **data}, REMOTE_ADDR=ip)


def test_public_web_form_creates_a_lead_with_utm_and_consent(team):
    form = forms.create_form(actor=team.admin, data={
        "name": "官网咨询", "campaign": "春季活动", "consent_text": "我同意接收营销信息", "consent_required": True,
        "fields": [{"key": "name", "required": True}, {"key": "phone", "required": True}, {"key": "company"}]})
    client = Client(enforce_csrf_checks=True)
    page = client.get(f"/f/{form.key}/?utm_source=baidu&utm_campaign=spring")
    body = page.content.decode()
    assert page.status_code == 200 and 'name="utm_source" value="baidu"' in body and 'name="token"' in body
    assert "frame-ancestors *" in page["Content-Security-Policy"] and "X-Frame-Options" not in page
    r = _post(client, form, {"name": "吴先生", "phone": "13955550000", "company": "吴氏贸易", "consent": "1",
                             "utm_source": "baidu", "utm_campaign": "spring"})
    assert r.status_code == 200, r.content[:300]
    lead = Lead.objects.get()
    assert (lead.source, lead.campaign, lead.company, lead.attribution) == (
        "web_form", "春季活动", "吴氏贸易", {"utm_source": "baidu", "utm_campaign": "spring"})
    assert may_contact(actor=team.admin, profile=lead.profile, purpose="marketing").allowed
    r = _post(client, form, {"name": "吴先生", "phone": "13955550000"})  # consent missing
    assert r.status_code == 422 and Lead.objects.count() == 1


@pytest.mark.parametrize("case", ["honeypot", "too_fast", "forged", "other_form"])
def test_public_web_form_refuses_spam(team, case):
    form = forms.create_form(actor=team.admin, data={"name": "F"})
    other = forms.create_form(actor=team.admin, data={"name": "G"})
    client = Client()
    data = {"name": "机器人", "phone": "13966660000"}
    if case == "honeypot":
        r = _post(client, form, {**data, forms.HONEYPOT: "http://spam.example"})
    elif case == "too_fast":
        r = _post(client, form, data, ago=0.5)
    elif case == "forged":
        r = client.post(f"/f/{form.key}/", {"token": "eyJmIjoi.forged", **data})
    else:
        r = client.post(f"/f/{form.key}/", {"token": forms.issue_token(other, now=time.time() - 10), **data})
    assert r.status_code == 400
    assert Lead.objects.count() == 0


def test_public_web_form_rate_limits_per_ip(team):
    form = forms.create_form(actor=team.admin, data={"name": "F", "rate_per_minute": 2})
    client = Client()
    # The limiter counts per fixed minute: start just past a minute's edge (the clock still runs), so the three
    # posts share one window however slow the machine is; before, a run that crossed an edge saw [200, 200, 200].
    with time_machine.travel(dt.datetime(2030, 1, 7, 10, 0, 1, tzinfo=dt.UTC), tick=True):
        codes = [_post(client, form, {"name": f"n{i}", "phone": f"1397777000{i}"}).status_code for i in range(3)]
        assert codes == [200, 200, 400]
        assert _post(client, form, {"name": "n9", "phone": "13977770009"}, ip="10.0.0.2").status_code == 200
    assert Lead.objects.count() == 3
    assert Client().get("/f/nope/").status_code == 404
