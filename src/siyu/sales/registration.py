"""What sales plugs into other contexts at start-up: its standard objects (custom fields, generic lists),
timeline kinds on the customer's 360° page, and the movers that carry its rows through a profile merge."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from siyu.cdp import merging, timeline
    from siyu.platform import objects
    from siyu.platform.objects import StandardField

    from .models.activities import Activity
    from .models.leads import Lead
    from .models.opportunities import Opportunity
    from .services.merge import lead_mover

    status_choices = [{"value": v, "label": label} for v, label in (
        ("new", _("New")), ("working", _("Working")), ("nurturing", _("Nurturing")), ("qualified", _("Qualified")),
        ("unqualified", _("Unqualified")), ("converted", _("Converted")))]
    objects.register_standard_object(
        key="sales.lead", label=_("Lead"), model=Lead, custom_column="custom",
        standard_fields=[
            StandardField("id", _("ID"), "integer"),
            StandardField("name", _("Name"), "text"),
            StandardField("company", _("Company"), "text"),
            StandardField("title", _("Title"), "text"),
            StandardField("status", _("Status"), "single_select", options={"choices": status_choices}),
            StandardField("source", _("Source"), "text"),
            StandardField("campaign", _("Campaign"), "text"),
            StandardField("region", _("Region"), "text"),
            StandardField("industry", _("Industry"), "text"),
            StandardField("score", _("Score"), "integer"),
            StandardField("note", _("Note"), "long_text", sortable=False),
            StandardField("owner_id", _("Owner ID"), "integer"),
            # the name a person reads in the console (the id stays for filters and the API)
            StandardField("owner_name", _("Owner"), "text", lookup="owner__name"),
            StandardField("department_id", _("Department"), "integer"),
            StandardField("pool_id", _("Pool"), "integer"),
            StandardField("profile_id", _("Customer"), "integer"),
            StandardField("response_seconds", _("Response time (s)"), "integer"),
            StandardField("last_activity_at", _("Last activity"), "datetime"),
            StandardField("created_at", _("Created"), "datetime"),
        ],
    )
    objects.register_standard_object(
        key="sales.opportunity", label=_("Opportunity"), model=Opportunity, custom_column="custom",
        standard_fields=[
            StandardField("id", _("ID"), "integer"),
            StandardField("name", _("Name"), "text"),
            StandardField("pipeline_id", _("Pipeline"), "integer"),
            StandardField("stage_id", _("Stage"), "integer"),
            StandardField("status", _("Status"), "single_select", options={"choices": [
                {"value": "open", "label": _("Open")}, {"value": "won", "label": _("Won")},
                {"value": "lost", "label": _("Lost")}]}),
            StandardField("amount", _("Amount"), "decimal", options={"decimal_places": 2}),
            StandardField("probability", _("Probability"), "integer"),
            StandardField("expected_close_date", _("Expected close"), "date"),
            StandardField("account_id", _("Account"), "integer"),
            StandardField("contact_id", _("Contact"), "integer"),
            StandardField("owner_id", _("Owner"), "integer"),
            StandardField("department_id", _("Department"), "integer"),
            StandardField("created_at", _("Created"), "datetime"),
        ],
    )
    from .commerce_objects import register_standard_objects

    register_standard_objects()
    for kind in (
        timeline.TimelineKind("sales.lead.created", "Lead created", "bi-funnel", lambda d: d.get("source", "")),
        timeline.TimelineKind("sales.lead.duplicate", "Lead enquiry again", "bi-funnel-fill",
                              lambda d: d.get("source", "")),
        timeline.TimelineKind("sales.lead.converted", "Lead converted", "bi-check2-circle",
                              lambda d: d.get("opportunity", "")),
        timeline.TimelineKind("sales.opportunity.created", "Opportunity created", "bi-briefcase",
                              lambda d: d.get("name", "")),
        timeline.TimelineKind("sales.opportunity.stage", "Opportunity stage changed", "bi-kanban",
                              lambda d: f"{d.get('name', '')}: {d.get('from') or '—'} → {d.get('to', '')}"),
        timeline.TimelineKind("sales.opportunity.closed", "Opportunity closed", "bi-trophy",
                              lambda d: f"{d.get('name', '')}: {d.get('outcome', '')}"),
        timeline.TimelineKind("sales.activity.call", "Call", "bi-telephone", lambda d: d.get("subject", "")),
        timeline.TimelineKind("sales.activity.wecom_chat", "WeCom chat", "bi-wechat", lambda d: d.get("subject", "")),
        timeline.TimelineKind("sales.activity.note", "Note", "bi-journal-text", lambda d: d.get("subject", "")),
        timeline.TimelineKind("sales.activity.email", "Email", "bi-envelope", lambda d: d.get("subject", "")),
        timeline.TimelineKind("sales.activity.visit", "Visit", "bi-geo-alt", lambda d: d.get("address") or
                              d.get("subject", "")),
        timeline.TimelineKind("sales.activity.task", "Task", "bi-check2-square", lambda d: d.get("subject", "")),
    ):
        timeline.register_kind(kind)
    merging.register_mover(lead_mover())
    merging.register_mover(merging.column_mover("sales.opportunity_accounts", Opportunity, "account_id"))
    merging.register_mover(merging.column_mover("sales.opportunity_contacts", Opportunity, "contact_id"))
    merging.register_mover(merging.column_mover("sales.activities", Activity, "profile_id"))


def _catalogue() -> None:  # pragma: no cover - never called: makemessages collects the models' choice labels
    _("New"), _("Working"), _("Nurturing"), _("Qualified"), _("Unqualified"), _("Converted")
    _("Call"), _("WeCom chat"), _("Note"), _("Email"), _("Visit"), _("Task")
    _("Round-robin"), _("Weighted"), _("Least loaded"), _("Department (round-robin over its members)")
    _("Open"), _("Won"), _("Lost"), _("Pending"), _("Approved"), _("Rejected")
    _("No SLA"), _("Waiting for the first response"), _("Reminded"), _("Breached"), _("Met")
    _("Lead pool"), _("Customer pool")
    _("Qualification"), _("Needs analysis"), _("Proposal"), _("Negotiation"), _("Sales pipeline")
