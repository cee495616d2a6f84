"""Activities: follow-ups (call, WeCom chat, note, email), visits with check-in, tasks with reminders."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.tenancy import TenantModel


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    WECOM_CHAT = "wecom_chat", "WeCom chat"
    NOTE = "note", "Note"
    EMAIL = "email", "Email"
    VISIT = "visit", "Visit"
    TASK = "task", "Task"


FOLLOW_UPS = (ActivityKind.CALL, ActivityKind.WECOM_CHAT, ActivityKind.NOTE, ActivityKind.EMAIL, ActivityKind.VISIT)


class Activity(TenantModel):
    kind = models.CharField(max_length=12, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    lead = models.ForeignKey("sales.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    opportunity = models.ForeignKey("sales.Opportunity", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="activities")
    profile = models.ForeignKey("cdp.Profile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    owner = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    occurred_at = models.DateTimeField(null=True, blank=True)  # follow-ups and visits
    due_at = models.DateTimeField(null=True, blank=True)  # tasks and planned visits
    remind_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # visit check-in
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    address = models.CharField(max_length=300, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    photo = models.CharField(max_length=200, blank=True)  # path under SIYU_VAR_DIR/media
    photo_type = models.CharField(max_length=40, blank=True)

    scope_key = "sales.activity"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        indexes = [
            models.Index(fields=["org", "-id"], name="sales_act_org_id"),
            models.Index(fields=["lead", "-id"], name="sales_act_lead"),
            models.Index(fields=["opportunity", "-id"], name="sales_act_opp"),
            models.Index(fields=["org", "owner", "due_at"], name="sales_act_due",
                         condition=Q(done_at__isnull=True)),
        ]
