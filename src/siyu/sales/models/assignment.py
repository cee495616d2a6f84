"""Assignment rules, their members, and salespeople's working hours and leave."""

from __future__ import annotations

import datetime as dt

from django.db import models

from siyu.kernel.tenancy import TenantModel


class Strategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round-robin"
    WEIGHTED = "weighted", "Weighted"
    LEAST_LOADED = "least_loaded", "Least loaded"
    DEPARTMENT = "department", "Department (round-robin over its members)"


class AssignmentRule(TenantModel):
    """Ordered (``priority`` ascending): the first active rule whose ``conditions`` all hold for a lead fires.

    ``conditions`` use the platform's filter form ``[{"field", "op", "value"}]`` on the lead's standard and
    custom fields, evaluated in Python with the same semantics as the SQL filters. ``rr_cursor`` is the
    persisted round-robin position, advanced under the rule's row lock."""

    name = models.CharField(max_length=120)
    priority = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    conditions = models.JSONField(default=list, blank=True)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN)
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")  # the DEPARTMENT strategy's members: this tree
    capacity = models.PositiveIntegerField(null=True, blank=True)  # default cap of open leads per member
    respect_working_hours = models.BooleanField(default=True)
    fallback_pool = models.ForeignKey("sales.Pool", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    rr_cursor = models.BigIntegerField(default=0)
    # first-response SLA
    sla_minutes = models.PositiveIntegerField(null=True, blank=True)
    sla_remind_before_minutes = models.PositiveIntegerField(null=True, blank=True)
    sla_escalate = models.BooleanField(default=True)
    sla_reassign = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["org", "priority", "id"], name="sales_rule_order")]


class RuleMember(TenantModel):
    rule = models.ForeignKey(AssignmentRule, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey("iam.User", on_delete=models.CASCADE, related_name="+")
    weight = models.PositiveIntegerField(default=1)
    capacity = models.PositiveIntegerField(null=True, blank=True)
    wrr_current = models.BigIntegerField(default=0)  # smooth weighted round-robin state

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "user"], name="sales_rulemember_once")]


def default_days() -> list[int]:
    return [0, 1, 2, 3, 4]


class SalesRep(TenantModel):
    """A salesperson's availability for assignment, and the row claims lock (one per member).

    Without a row a member is always available. ``work_days`` are ISO weekdays 0 (Monday) … 6 in the
    organisation's time zone; Chinese public holidays (the ``holidays`` package) are off when
    ``observe_holidays``."""

    user = models.ForeignKey("iam.User", on_delete=models.CASCADE, related_name="+")
    work_days = models.JSONField(default=default_days)
    work_start = models.TimeField(default=dt.time(9, 0))
    work_end = models.TimeField(default=dt.time(18, 0))
    observe_holidays = models.BooleanField(default=True)
    always_available = models.BooleanField(default=False)
    capacity = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="sales_rep_once")]


class Leave(TenantModel):
    user = models.ForeignKey("iam.User", on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "user", "ends_at"], name="sales_leave_user")]
