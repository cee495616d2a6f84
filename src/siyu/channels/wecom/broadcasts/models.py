"""Broadcast (群发) tables: the organisation's frequency policy, broadcasts, their WeCom tasks (batches) and one
row per snapshot member with what became of it.

Recipients that count against a customer's frequency cap carry ``planned_at``; the cap is counted from these rows
while the policy row is locked, so two broadcasts planned at once cannot both take a customer's last slot.
"""

from __future__ import annotations

from django.db import models

from siyu.kernel.tenancy import TenantModel


class WeComRule(models.TextChoices):
    """How many broadcasts WeCom lets one customer receive from a corp (protocol document §2.2, add_msg_template:
    the 2025 default is as many a month as the month has days; a corp may switch to 7 a week or 1 a day)."""

    MONTH_DAYS = "month_days", "As many per month as the month has days"
    WEEK_7 = "week_7", "7 per week"
    DAY_1 = "day_1", "1 per day"


class BroadcastPolicy(TenantModel):
    """One per organisation: our own cap per customer (``max_per_window`` in ``window_days``) and WeCom's rule."""

    max_per_window = models.PositiveSmallIntegerField(default=2)
    window_days = models.PositiveSmallIntegerField(default=7)
    wecom_rule = models.CharField(max_length=12, choices=WeComRule.choices, default=WeComRule.MONTH_DAYS)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org"], name="wecom_bc_policy_org")]


class Broadcast(TenantModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        HANDED = "handed", "Handed to WeCom"
        DONE = "done", "Results collected"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    corp = models.ForeignKey("wecom.Corp", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=120)
    segment = models.ForeignKey("cdp.Segment", null=True, on_delete=models.SET_NULL, related_name="+")
    snapshot = models.ForeignKey("cdp.SegmentSnapshot", on_delete=models.PROTECT, related_name="+")
    text = models.TextField(blank=True)  # empty when the attachments alone are the message
    # [{"kind": "image"|"link"|"miniprogram", …}] as welcome messages store them (message.py), at most 9
    attachments = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_at = models.DateTimeField()
    planned_at = models.DateTimeField(null=True, blank=True)
    handed_at = models.DateTimeField(null=True, blank=True)  # every batch accepted (or finally refused) by WeCom
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by_user_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    collect_rounds = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-id"], name="wecom_bc_org")]


class BroadcastBatch(TenantModel):
    """One ``add_msg_template`` task: one sender, at most 10 000 customers."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted by WeCom"
        FAILED = "failed", "Refused by WeCom"

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    sender = models.ForeignKey("wecom.Employee", on_delete=models.PROTECT, related_name="+")
    size = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    msgid = models.CharField(max_length=128, blank=True)
    reconciled = models.BooleanField(default=False)  # the msgid was found in WeCom after an interrupted send
    task_sent = models.BooleanField(default=False)  # the sender confirmed the task in the client
    handed_at = models.DateTimeField(null=True, blank=True)
    results_final = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "number"], name="wecom_bc_batch_unique"),
            models.UniqueConstraint(fields=["org", "msgid"], condition=~models.Q(msgid=""),
                                    name="wecom_bc_batch_msgid"),
        ]


class RecipientStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACCEPTED = "accepted", "Handed to WeCom"
    SENT = "sent", "Sent"
    NOT_FRIEND = "not_friend", "Not a friend"
    REFUSED_LIMIT = "refused_limit", "Refused by WeCom's limit"
    FAILED = "failed", "Failed"
    NO_CONSENT = "no_consent", "No marketing consent"
    CAPPED = "capped", "Over the frequency cap"
    WECOM_LIMIT = "wecom_limit", "Over WeCom's limit"
    NO_CONTACT = "no_contact", "Not a WeCom customer"


# Statuses that used up one of the customer's slots (our cap and WeCom's rule).
COUNTED = (RecipientStatus.PLANNED, RecipientStatus.ACCEPTED, RecipientStatus.SENT)


class BroadcastRecipient(TenantModel):
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="recipients")
    profile = models.ForeignKey("cdp.Profile", on_delete=models.CASCADE, related_name="+")
    external_contact = models.ForeignKey("wecom.ExternalContact", null=True, on_delete=models.SET_NULL,
                                         related_name="+")
    external_userid = models.CharField(max_length=64, blank=True)
    batch = models.ForeignKey(BroadcastBatch, null=True, on_delete=models.CASCADE, related_name="recipients")
    sender = models.ForeignKey("wecom.Employee", null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=14, choices=RecipientStatus.choices)
    planned_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broadcast", "profile"], name="wecom_bc_recipient_unique")]
        indexes = [
            models.Index(fields=["org", "planned_at"], name="wecom_bc_rcpt_time"),
            models.Index(fields=["batch", "external_userid"], name="wecom_bc_rcpt_batch"),
        ]
