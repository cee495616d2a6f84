"""Saved filters of the console's lists: a person's named query strings per object (``filter[…]``, ``sort``)."""

from __future__ import annotations

from django.db import models

from siyu.kernel.tenancy import TenantModel


class SavedFilter(TenantModel):
    """A list's filters saved under a name by one person (``object_key`` as the platform knows it)."""

    user = models.ForeignKey("iam.User", on_delete=models.CASCADE, related_name="+")
    object_key = models.CharField(max_length=80)
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user", "object_key", "name"],
                                               name="sales_saved_filter_name")]
