"""Approval engine tables (app label ``platform``): processes, requests, per-approver tasks, the comment trail,
delegations while away and the console inbox."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.tenancy import TenantModel


class ApprovalProcess(TenantModel):
    """Which records of ``object_key`` need approval (``conditions``: all must hold on the record's snapshot) and
    the ordered ``steps``: ``[{"name", "mode": "any"|"all", "approvers": [{"kind", "value"}]}]``."""

    object_key = models.CharField(max_length=80)
    name = models.CharField(max_length=120)
    conditions = models.JSONField(default=list, blank=True)
    steps = models.JSONField(default=list)
    priority = models.PositiveIntegerField(default=0)  # lower first
    remind_after_hours = models.PositiveIntegerField(default=24)
    is_active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["org", "object_key", "priority"], name="platform_apprproc_obj")]


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RECALLED = "recalled", "Recalled"


class ApprovalRequest(TenantModel):
    process = models.ForeignKey(ApprovalProcess, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    object_key = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    step = models.PositiveSmallIntegerField(default=0)
    submitted_by_id = models.BigIntegerField(null=True, blank=True)
    submitted_snapshot = models.JSONField(default=dict)
    snapshot = models.JSONField(null=True, blank=True)  # frozen at approval
    snapshot_hash = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "object_key", "object_id"],
                                               condition=Q(status="pending"), name="platform_appr_one_pending")]
        indexes = [models.Index(fields=["org", "object_key", "object_id", "-id"], name="platform_appr_obj"),
                   models.Index(fields=["org", "submitted_by_id", "-id"], name="platform_appr_submitter")]


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SKIPPED = "skipped", "Skipped"


class ApprovalTask(TenantModel):
    """One approver's part in one step; ``on_behalf_of_id`` is the approver who delegated while away."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="tasks")
    step = models.PositiveSmallIntegerField()
    approver_id = models.BigIntegerField()
    on_behalf_of_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    comment = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "approver_id", "status"], name="platform_apprtask_inbox"),
                   models.Index(fields=["request", "step"], name="platform_apprtask_req")]


class ApprovalComment(TenantModel):
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="comments")
    user_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=10)  # submit, approve, reject, recall, comment
    body = models.CharField(max_length=1000, blank=True)


class ApprovalDelegation(TenantModel):
    """While ``user_id`` is away (``starts_at``..``ends_at``) new tasks go to ``delegate_id``."""

    user_id = models.BigIntegerField()
    delegate_id = models.BigIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["org", "user_id", "ends_at"], name="platform_apprdeleg_user")]


class ApprovalNotice(TenantModel):
    """The console inbox: one line per thing a person should look at."""

    user_id = models.BigIntegerField()
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12)  # task, reminder, approved, rejected, recalled, comment
    text = models.CharField(max_length=300)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "user_id", "read_at", "-id"], name="platform_apprnotice_user")]
