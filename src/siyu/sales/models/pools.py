"""Pools (线索池 / 公海): leads and customers nobody owns, per department, with claim limits and recycling."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.tenancy import TenantModel


class PoolKind(models.TextChoices):
    LEAD = "lead", "Lead pool"
    CUSTOMER = "customer", "Customer pool"


class Pool(TenantModel):
    """A pool of one department (and its sub-departments); ``department`` empty = the whole organisation.

    Members of the department tree may claim while they hold fewer than ``max_held`` open items from this
    pool and claimed fewer than ``max_daily_claims`` today. Recycling returns items whose owner did not follow
    up for ``recycle_no_followup_days`` or did not convert them within ``recycle_not_converted_days``."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=PoolKind.choices, default=PoolKind.LEAD)
    department = models.ForeignKey("iam.Department", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    max_held = models.PositiveIntegerField(null=True, blank=True)
    max_daily_claims = models.PositiveIntegerField(null=True, blank=True)
    recycle_no_followup_days = models.PositiveIntegerField(null=True, blank=True)
    recycle_not_converted_days = models.PositiveIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)  # where new leads without owner or rule go
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "kind"], condition=Q(is_default=True), name="sales_pool_one_default"),
        ]


class PoolCustomer(TenantModel):
    """A customer (CDP profile) in a customer pool (公海). Claiming makes the claimer the profile's owner."""

    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="customers")
    profile = models.ForeignKey("cdp.Profile", on_delete=models.CASCADE, related_name="+")
    released_by_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    claimed_by = models.ForeignKey("iam.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile"], condition=Q(claimed_by__isnull=True),
                                    name="sales_poolcustomer_once"),
        ]
        indexes = [models.Index(fields=["pool", "-id"], name="sales_poolcust_free", condition=Q(claimed_by__isnull=True))]
