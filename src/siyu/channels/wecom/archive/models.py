"""Conversation archive (会话存档) tables: per corp its configuration and sequence cursor, the archived messages
(content as a ``kernel.crypto`` envelope), sensitive-word rules and the alerts they and the reply-timeout rule
raise."""

from __future__ import annotations

import datetime as dt

from django.db import models

from siyu.kernel.tenancy import TenantModel


class ArchiveConfig(TenantModel):
    class Source(models.TextChoices):
        SIMULATOR = "simulator", "Simulator (already decrypted messages)"
        NATIVE = "native", "WeCom Finance SDK (native library)"

    corp = models.OneToOneField("wecom.Corp", on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SIMULATOR)
    secret = models.TextField()  # envelope: the archive (会话内容存档) secret
    private_key = models.TextField(blank=True, default="")  # envelope: RSA private key PEM (native SDK only)
    cursor_seq = models.BigIntegerField(default=0)  # the largest seq seen; the next fetch asks for what follows
    retention_days = models.PositiveIntegerField(default=180)
    reply_timeout_minutes = models.PositiveIntegerField(default=30)
    work_start = models.TimeField(default=dt.time(9, 0))
    work_end = models.TimeField(default=dt.time(18, 0))
    work_days = models.JSONField(default=list)  # ISO weekdays, 1 = Monday; empty = Monday to Friday
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)


class ArchivedMessage(TenantModel):
    class Direction(models.TextChoices):
        IN = "in", "From the customer"
        OUT = "out", "From the employee"

    corp = models.ForeignKey("wecom.Corp", on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    msgid = models.CharField(max_length=128)
    external_contact = models.ForeignKey("wecom.ExternalContact", null=True, on_delete=models.SET_NULL,
                                         related_name="+")
    profile = models.ForeignKey("cdp.Profile", null=True, on_delete=models.SET_NULL, related_name="+")
    employee = models.ForeignKey("wecom.Employee", null=True, on_delete=models.SET_NULL, related_name="+")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    msgtype = models.CharField(max_length=32)
    msgtime = models.DateTimeField()
    content = models.TextField()  # envelope: the message's typed payload as JSON

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "msgid"], name="wecom_archive_msg_unique")]
        indexes = [
            models.Index(fields=["profile", "msgtime"], name="wecom_archive_profile_time"),
            models.Index(fields=["org", "msgtime"], name="wecom_archive_org_time"),
            models.Index(fields=["employee", "external_contact", "msgtime"], name="wecom_archive_conv"),
        ]


class SensitiveWordRule(TenantModel):
    word = models.CharField(max_length=50)
    applies_to = models.CharField(max_length=4, default="both")  # "in", "out" or "both"
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "word"], name="wecom_archive_word_unique")]


class ArchiveAlert(TenantModel):
    class Kind(models.TextChoices):
        SENSITIVE_WORD = "sensitive_word", "Sensitive word"
        REPLY_TIMEOUT = "reply_timeout", "Customer waiting for a reply"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    corp = models.ForeignKey("wecom.Corp", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(ArchivedMessage, null=True, on_delete=models.SET_NULL, related_name="alerts")
    message_key = models.CharField(max_length=160)  # corp:msgid[:rule]: one alert per message, kind and rule
    profile = models.ForeignKey("cdp.Profile", null=True, on_delete=models.SET_NULL, related_name="+")
    employee = models.ForeignKey("wecom.Employee", null=True, on_delete=models.SET_NULL, related_name="+")
    rule = models.ForeignKey(SensitiveWordRule, null=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.CharField(max_length=200, blank=True)  # the word matched, or the minutes waited
    notify_user_ids = models.JSONField(default=list)  # the employee's Siyu user and their department's manager
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "kind", "message_key"], name="wecom_archive_alert_once")]
        indexes = [models.Index(fields=["org", "-id"], name="wecom_archive_alert_org")]
