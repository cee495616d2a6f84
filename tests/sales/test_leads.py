"""Leads: creation from every source, dedup through CDP identities, status, conversion keeping history."""

from __future__ import annotations

import pytest

from siyu.cdp import selectors as cdp_selectors
from siyu.kernel.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.sales.models.leads import Lead, LeadHistory, LeadStatus
from siyu.sales.models.opportunities import Opportunity
from siyu.sales.services import leads


def test_a_member_creating_a_lead_owns_it_and_the_person_is_a_cdp_profile(team):
    rep = team.actor(team.reps[0])
    written = leads.create_lead(actor=rep, name="陈先生", phone="139 1234 5678", fields={"company": "星河科技"})
    lead = written.lead
    assert written.created is True
    assert (lead.owner_id, lead.department_id, lead.status, lead.source) == (rep.user_id, team.east.pk, "new", "manual")
    profile = cdp_selectors.lookup(team.admin, type="phone", value="+8613912345678")
    assert lead.profile_id == profile.pk and profile.name == "陈先生"
    assert [h.kind for h in LeadHistory.objects.filter(lead=lead).order_by("pk")] == ["created", "assigned"]
    assert "by hand" in lead.assignment_reason


def test_a_second_lead_for_the_same_person_is_merged_into_the_open_one_with_history(team, system):
    first = leads.create_lead(actor=system, name="陈先生", phone="13912345678", source="web_form",
                              attribution={"utm_source": "baidu", "utm_campaign": "spring"}).lead
    again = leads.create_lead(actor=system, phone="+86 139-1234-5678", email="chen@example.com", source="wecom_live_code",
                              fields={"company": "星河科技", "score": 40}, attribution={"utm_source": "wecom"})
    assert again.created is False and again.lead.pk == first.pk
    lead = Lead.objects.get(pk=first.pk)
    assert (lead.company, lead.score, lead.campaign) == ("星河科技", 40, "spring")
    assert lead.attribution == {"utm_source": "baidu", "utm_campaign": "spring"}  # the first touch is kept
    dup = LeadHistory.objects.get(lead=lead, kind="duplicate")
    assert dup.data["source"] == "wecom_live_code" and dup.data["attribution"] == {"utm_source": "wecom"}
    assert Lead.objects.count() == 1
    # the email of the second enquiry joined the same profile through identity resolution
    assert cdp_selectors.lookup(team.admin, type="email", value="chen@example.com").pk == lead.profile_id


def test_a_closed_lead_does_not_absorb_a_new_one(team, system):
    first = leads.create_lead(actor=system, phone="13912345678").lead
    leads.set_status(actor=system, lead_id=first.pk, status="unqualified", reason="wrong number")
    second = leads.create_lead(actor=system, phone="13912345678")
    assert second.created is True and second.lead.profile_id == first.profile_id


def test_create_lead_from_a_profile_is_the_seam_for_other_contexts(team, system):
    profile = leads.create_lead(actor=system, phone="13900000001").lead.profile
    Lead.objects.all().delete()
    written = leads.create_lead_from(actor=system, profile_id=profile.pk, source="wecom_live_code",
                                     attribution={"utm_source": "livecode"}, campaign="门店活码")
    assert written.created and written.lead.profile_id == profile.pk
    assert (written.lead.source, written.lead.campaign) == ("wecom_live_code", "门店活码")


def test_a_rep_cannot_see_or_absorb_into_a_colleagues_lead(team):
    leads.create_lead(actor=team.actor(team.reps[0]), phone="13912345678")
    with pytest.raises(Conflict) as exc:
        leads.create_lead(actor=team.actor(team.reps[1]), phone="13912345678")
    assert exc.value.code == "lead_taken"


def test_bad_input_is_refused_naming_the_fields(team, system):
    with pytest.raises(ValidationFailed) as exc:
        leads.create_lead(actor=system, phone="12", source="nowhere")
    assert "source" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        leads.create_lead(actor=system, phone="13912345678", attribution={"utm_evil": "x"})
    assert "attribution.utm_evil" in exc.value.fields
    assert Lead.objects.count() == 0


def test_status_moves_and_unqualified_needs_a_reason(team, system):
    lead = leads.create_lead(actor=system, phone="13912345678").lead
    leads.set_status(actor=system, lead_id=lead.pk, status="nurturing")
    with pytest.raises(ValidationFailed):
        leads.set_status(actor=system, lead_id=lead.pk, status="unqualified")
    with pytest.raises(ValidationFailed):
        leads.set_status(actor=system, lead_id=lead.pk, status="converted")
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NURTURING


def test_conversion_creates_account_links_contact_and_opens_an_opportunity(team):
    rep = team.actor(team.reps[0])
    lead = leads.create_lead(actor=rep, name="陈先生", phone="13912345678", fields={"company": "星河科技"}).lead
    converted = leads.convert_lead(actor=rep, lead_id=lead.pk, opportunity={"amount": "120000.00"})
    assert converted.status == "converted"
    contact = cdp_selectors.profile_detail(team.admin, converted.converted_contact_id)
    account = cdp_selectors.profile_detail(team.admin, converted.converted_account_id)
    assert (account.kind, account.name, contact.account_id, contact.lifecycle_stage) == (
        "company", "星河科技", account.pk, "opportunity")
    opp = Opportunity.objects.get(pk=converted.converted_opportunity_id)
    assert (opp.account_id, opp.contact_id, opp.owner_id, str(opp.amount), opp.lead_id) == (
        account.pk, contact.pk, rep.user_id, "120000.00", lead.pk)
    kinds = list(LeadHistory.objects.filter(lead=lead).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["created", "assigned", "converted"]
    with pytest.raises(Conflict):
        leads.convert_lead(actor=rep, lead_id=lead.pk)


def test_permissions_are_checked_in_services(team, sales_state):
    from dataclasses import replace

    rep = replace(team.actor(team.reps[0]), permissions=frozenset({"sales.lead.read"}))
    before = sales_state()
    with pytest.raises(PermissionDenied):
        leads.create_lead(actor=rep, phone="13912345678")
    assert sales_state() == before
