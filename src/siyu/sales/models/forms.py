"""Embeddable web forms that create leads."""

from __future__ import annotations

from django.db import models

from siyu.kernel.tenancy import TenantModel


class WebForm(TenantModel):
    """``fields``: ``[{"key": "name", "label": "…", "required": true}]`` naming standard lead fields (name,
    phone, email, company, title, note, region, industry) or custom fields of ``sales.lead``."""

    key = models.CharField(max_length=40, unique=True)  # public, random: /f/<key>/
    name = models.CharField(max_length=120)
    title = models.CharField(max_length=200, blank=True)
    fields = models.JSONField(default=list)
    consent_purpose = models.CharField(max_length=40, blank=True, default="marketing")
    consent_text = models.CharField(max_length=500, blank=True)
    consent_required = models.BooleanField(default=False)
    success_message = models.CharField(max_length=300, blank=True)
    pool = models.ForeignKey("sales.Pool", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    campaign = models.CharField(max_length=120, blank=True)
    min_seconds = models.PositiveIntegerField(default=3)  # faster submissions are bots
    rate_per_minute = models.PositiveIntegerField(default=5)  # per client IP
    is_active = models.BooleanField(default=True)
    submissions = models.PositiveIntegerField(default=0)
