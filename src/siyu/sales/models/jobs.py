"""Bulk actions on leads (assign, transfer, recycle) run as durable chunks with progress."""

from __future__ import annotations

from django.db import models

from siyu.kernel.tenancy import TenantModel


class BulkJob(TenantModel):
    kind = models.CharField(max_length=20)  # assign (by rules), transfer (to one owner), recycle (to a pool)
    status = models.CharField(max_length=10, default="queued")  # queued, running, done, failed
    lead_ids = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)
    created_by = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.JSONField(default=dict)  # who asked: user id, permissions and scopes, to act as them
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
