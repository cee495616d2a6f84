"""Leads: a possible customer not yet qualified, always tied to one CDP profile (dedup through identities)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.tenancy import TenantModel


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    WORKING = "working", "Working"
    NURTURING = "nurturing", "Nurturing"
    QUALIFIED = "qualified", "Qualified"
    UNQUALIFIED = "unqualified", "Unqualified"
    CONVERTED = "converted", "Converted"


OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.NURTURING, LeadStatus.QUALIFIED)
CLOSED_STATUSES = (LeadStatus.UNQUALIFIED, LeadStatus.CONVERTED)


class SlaState(models.TextChoices):
    NONE = "", "No SLA"
    PENDING = "pending", "Waiting for the first response"
    REMINDED = "reminded", "Reminded"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"


class Lead(TenantModel):
    """One lead. ``pool`` is the lead's home pool: the lead is *in* the pool while it has no owner.

    At most one open lead per profile (partial unique constraint): a second lead for the same person is merged
    into the open one (``LeadHistory`` kind ``duplicate``), so concurrent web-form posts cannot make two."""

    profile = models.ForeignKey("cdp.Profile", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200, blank=True)
    company = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=12, choices=LeadStatus.choices, default=LeadStatus.NEW)
    source = models.CharField(max_length=40, default="manual")  # manual, api, import, web_form, wecom_live_code, …
    campaign = models.CharField(max_length=120, blank=True)
    attribution = models.JSONField(default=dict, blank=True)  # utm_source … utm_content, referrer, landing_url
    region = models.CharField(max_length=60, blank=True)
    industry = models.CharField(max_length=60, blank=True)
    score = models.IntegerField(default=0)
    note = models.TextField(blank=True)
    custom = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    pool = models.ForeignKey("sales.Pool", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    # assignment: which rule fired and why; a sequence number names each assignment (SLA occurrences)
    assignment_rule = models.ForeignKey("sales.AssignmentRule", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    assignment_reason = models.TextField(blank=True)
    assignment_seq = models.PositiveIntegerField(default=0)
    assigned_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # first-response SLA and the KPI "lead response time"
    sla_state = models.CharField(max_length=10, choices=SlaState.choices, default=SlaState.NONE, blank=True)
    sla_remind_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    response_seconds = models.PositiveIntegerField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # conversion
    converted_at = models.DateTimeField(null=True, blank=True)
    converted_account = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")
    converted_contact = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")
    converted_opportunity = models.ForeignKey("sales.Opportunity", null=True, blank=True,
                                              on_delete=models.SET_NULL, related_name="+")
    status_reason = models.CharField(max_length=200, blank=True)
    # a lead folded into another one when their profiles merged
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    scope_key = "sales.lead"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "profile"], name="sales_lead_one_open_per_profile",
                condition=Q(status__in=["new", "working", "nurturing", "qualified"], merged_into__isnull=True),
            ),
        ]
        indexes = [
            models.Index(fields=["org", "-id"], name="sales_lead_org_id"),
            models.Index(fields=["org", "owner", "status"], name="sales_lead_owner_status"),
            models.Index(fields=["org", "department", "-id"], name="sales_lead_org_dept"),
            models.Index(fields=["org", "status", "-id"], name="sales_lead_org_status"),
            models.Index(fields=["pool", "-id"], name="sales_lead_pool_free", condition=Q(owner__isnull=True)),
            models.Index(fields=["sla_due_at"], name="sales_lead_sla_due", condition=Q(sla_state="pending")),
            # (no index on profile here: the foreign key has one; a second, identical one cost every write)
        ]


class LeadHistory(TenantModel):
    """What happened to a lead and why: created, duplicate merged in, status, assigned (rule + explanation),
    claimed, released, recycled (reason), transferred, converted, SLA reminder / breach / reassignment."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=30)
    at = models.DateTimeField()
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lead", "-at", "-id"], name="sales_leadhist_lead")]


class Notification(TenantModel):
    """A message for one member in the console (SLA reminders and escalations, task reminders). A domain event
    is emitted beside it, so a notification context can also send it as a WeCom app message."""

    recipient = models.ForeignKey("iam.User", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    text = models.CharField(max_length=300)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    activity = models.ForeignKey("sales.Activity", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "recipient", "-id"], name="sales_notif_recipient")]


class OpenLeadCount(TenantModel):
    """How many open leads (new, working, nurturing, qualified) each salesperson holds, so least-loaded picks and
    capacity caps read one row per member instead of counting their leads.

    Written only by database triggers on ``sales_lead`` (migration ``0004_open_lead_counts``): every insert,
    update and delete of a lead adjusts the owners it concerns in the same statement, so the count is exact
    whatever path wrote the lead (services, bulk UPDATEs, COPY, merges) and under concurrency (the upsert
    locks the counter row). Nothing in Python writes it."""

    user_id = models.BigIntegerField()
    open_count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user_id"], name="sales_openleadcount_user")]
