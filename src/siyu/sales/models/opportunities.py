"""Pipelines, stages with gates, opportunities with product lines, stage history and close reasons."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.tenancy import TenantModel


class Pipeline(TenantModel):
    name = models.CharField(max_length=120)
    is_default = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="CNY")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org"], condition=Q(is_default=True), name="sales_pipeline_one_default"),
        ]


class StageKind(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Stage(TenantModel):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=80)
    order = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(default=0)  # percent
    kind = models.CharField(max_length=5, choices=StageKind.choices, default=StageKind.OPEN)
    is_active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["pipeline", "order"], name="sales_stage_order")]


class StageGate(TenantModel):
    """What an opportunity needs before it may enter ``stage``: fields with a value (standard or custom keys of
    ``sales.opportunity``) and, when ``requires_approval``, an approved ``GateApproval`` (see services/gates.py:
    the approval engine decides those later through ``record_gate_decision``)."""

    stage = models.OneToOneField(Stage, on_delete=models.CASCADE, related_name="gate")
    required_fields = models.JSONField(default=list, blank=True)
    requires_approval = models.BooleanField(default=False)


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class GateApproval(TenantModel):
    """The approval record a gate waits for: one per (opportunity, stage) request; ``external_ref`` names the
    approval engine's instance once it exists."""

    opportunity = models.ForeignKey("sales.Opportunity", on_delete=models.CASCADE, related_name="gate_approvals")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    decided_by_id = models.BigIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.CharField(max_length=300, blank=True)
    external_ref = models.CharField(max_length=80, blank=True)

    class Meta:
        indexes = [models.Index(fields=["opportunity", "stage", "-id"], name="sales_gateappr_opp")]


class OpportunityStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class CloseReason(TenantModel):
    kind = models.CharField(max_length=5, choices=[("won", "Won"), ("lost", "Lost")])
    label = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)


class Opportunity(TenantModel):
    name = models.CharField(max_length=200)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    status = models.CharField(max_length=5, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN)
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="CNY")
    probability = models.PositiveSmallIntegerField(default=0)
    expected_close_date = models.DateField(null=True, blank=True)
    account = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contact = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    lead = models.ForeignKey("sales.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    description = models.TextField(blank=True)
    custom = models.JSONField(default=dict, blank=True)
    position = models.FloatField(default=0)  # order of the card within its kanban column
    stage_entered_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.ForeignKey(CloseReason, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    close_note = models.CharField(max_length=300, blank=True)

    scope_key = "sales.opportunity"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        indexes = [
            models.Index(fields=["org", "-id"], name="sales_opp_org_id"),
            models.Index(fields=["org", "owner", "status"], name="sales_opp_owner"),
            models.Index(fields=["org", "department", "-id"], name="sales_opp_dept"),
            models.Index(fields=["stage", "position", "id"], name="sales_opp_board",
                         condition=Q(status="open")),
            models.Index(fields=["org", "status", "closed_at"], name="sales_opp_closed"),
            # (account and contact: their foreign keys' own indexes serve; identical second ones cost every write)
        ]


class OpportunityLine(TenantModel):
    """A product line. ``product_id`` is the seam for the product catalogue (a later part): free text until then."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="lines")
    product_id = models.BigIntegerField(null=True, blank=True)
    product_name = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=14, decimal_places=3, default=1)
    unit_price = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    order = models.PositiveIntegerField(default=0)


class StageHistory(TenantModel):
    """One stay of an opportunity in a stage: entered, exited (open while it is there), seconds spent."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="stage_history")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    seconds = models.PositiveBigIntegerField(null=True, blank=True)
    actor_user_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["opportunity", "entered_at", "id"], name="sales_stagehist_opp")]
