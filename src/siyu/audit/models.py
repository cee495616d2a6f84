"""The audit log: append-only rows, hash-chained per organisation (see chain.py)."""

from __future__ import annotations

from django.db import models


class AuditLogEntry(models.Model):
    org_id = models.BigIntegerField(null=True)  # null for events before an organisation is known (failed login)
    seq = models.BigIntegerField()  # position in the organisation's chain, 1-based
    at = models.DateTimeField()
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=80, blank=True)
    actor_user_id = models.BigIntegerField(null=True)
    actor_api_key_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=120, blank=True)
    changes = models.JSONField(default=dict)
    ip = models.GenericIPAddressField(null=True)
    meta = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org_id", "seq"], name="audit_chain_position")]
        indexes = [
            models.Index(fields=["org_id", "-at"], name="audit_org_at"),
            models.Index(fields=["org_id", "object_type", "object_id"], name="audit_org_object"),
        ]
