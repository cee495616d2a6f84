"""Metadata (object and field definitions) and the rows of custom objects.

Custom values never get columns: they live in a JSON column validated against the definitions on every write
(``CustomRecord.data`` here, the ``custom`` column of a standard object's own model).
"""

from __future__ import annotations

from django.db import models

from siyu.kernel.tenancy import TenantModel


class ObjectDefinition(TenantModel):
    """One object of an organisation: a standard one (materialised from code on first use, key ``iam.user``) or a
    custom one (key ``custom.<name>``)."""

    key = models.CharField(max_length=80)
    label = models.CharField(max_length=120)
    is_standard = models.BooleanField(default=False)
    # The object key roles use for data scope and field security (custom objects: their own key).
    scope_key = models.CharField(max_length=80)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="platform_object_unique_key")]

    def __str__(self) -> str:
        return self.key


class FieldDefinition(TenantModel):
    """A custom field of an object. Keys are immutable and never reused (archived definitions keep theirs), so a
    key in stored JSON always means one field."""

    object = models.ForeignKey(ObjectDefinition, on_delete=models.PROTECT, related_name="fields")
    key = models.CharField(max_length=40)
    label = models.CharField(max_length=120)
    type = models.CharField(max_length=30)
    options = models.JSONField(default=dict, blank=True)
    required = models.BooleanField(default=False)
    indexed = models.BooleanField(default=False)
    order = models.IntegerField(default=0)
    is_standard = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["object", "key"], name="platform_field_unique_key")]

    def __str__(self) -> str:
        return f"{self.object_id}.{self.key}"


class CustomRecord(TenantModel):
    """A row of a custom object. ``owner_id`` (a user id, as ``Actor.user_id``) and ``department_id`` drive the
    data scope through ``kernel.tenancy``; both are plain integers because platform may not reference iam.

    The data scope key is per object (``ObjectDefinition.scope_key``): ``selectors.records_visible_to`` asks the
    actor for that object's scope and hands it to ``visible_to`` under the class-level key below.
    """

    object = models.ForeignKey(ObjectDefinition, on_delete=models.PROTECT, related_name="+", db_index=False)
    owner_id = models.BigIntegerField(null=True, blank=True)
    department_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    scope_key = "platform.record"
    scope_owner_field = "owner"
    scope_department_field = "department"

    class Meta:
        indexes = [
            models.Index(fields=["org", "object", "id"], name="platform_rec_org_obj_id"),
            # A scoped list ("own", "my departments") reads its page in id order straight off these, instead of
            # fetching every row of the owner or department and sorting (P14: rep list 32 ms -> <1 ms at 1M rows).
            models.Index(fields=["org", "object", "owner_id", "id"], name="platform_rec_org_obj_owner_id"),
            models.Index(fields=["org", "object", "department_id", "id"], name="platform_rec_org_obj_dept_id"),
        ]
from siyu.platform.approvals import models as _approvals  # noqa: E402,F401  (approval engine tables)
