"""The audit log: append-only rows, hash-chained per organisation (see chain.py).

Append-only is enforced twice: here (the model and its querysets refuse update and delete, so no ORM path can
change an entry) and in the database (triggers from ``triggers.py`` raise on UPDATE/DELETE, except the purge
path). Rows are inserted only by :func:`siyu.audit.sink.append` through :meth:`AuditLogEntry._append_unsafe`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from siyu.kernel.actor import Actor
from siyu.kernel.tenancy import TenantQuerySet


class AppendOnly(Exception):
    """An attempt to change or remove an audit entry (or checkpoint) through the ORM."""


class AppendOnlyQuerySet(TenantQuerySet):
    """Tenant reads as usual (``visible_to``, ``in_org``); every bulk write path raises."""

    def update(self, **kwargs):
        raise AppendOnly("audit entries cannot be updated")

    def delete(self):
        raise AppendOnly("audit entries cannot be deleted (use `siyu audit purge` for entries past retention)")

    def bulk_create(self, *args, **kwargs):
        raise AppendOnly("audit entries are appended one by one by siyu.audit.sink")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnly("audit entries cannot be updated")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnly("audit entries cannot be updated")

    def _purge_rollback_unsafe(self) -> int:
        """Dangerous: really delete these rows. Only ``purge.py`` calls it, after writing the checkpoint that
        covers them; the database triggers still refuse rows younger than the retention floor."""
        return super().delete()[0]

    def chain(self, org_id: int | None) -> AppendOnlyQuerySet:
        """One organisation's chain (``None``: the pre-organisation chain of e.g. failed logins of unknown emails).

        The chain is per organisation by definition, so this is the one place outside the tenancy layer that
        names the organisation column: the NULL chain has no organisation an actor could stand for.
        """
        if org_id is None:
            return self.filter(org_id__isnull=True)
        return self.in_org(Actor.system(org_id, label="audit-chain"))


AppendOnlyManager = models.Manager.from_queryset(AppendOnlyQuerySet)


class _AppendOnlyModel(models.Model):
    objects = AppendOnlyManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        raise AppendOnly(f"{type(self).__name__} rows are written only by siyu.audit (append-only)")

    def delete(self, *args, **kwargs):
        raise AppendOnly(f"{type(self).__name__} rows cannot be deleted")

    def _append_unsafe(self) -> None:
        """Insert this new row. Only the sink and the purge call it: everything else goes through the sink."""
        if not self._state.adding or self.pk is not None:
            raise AppendOnly("only new rows can be appended")
        super().save(force_insert=True)


class AuditLogEntry(_AppendOnlyModel):
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
        constraints = [
            models.UniqueConstraint(fields=["org_id", "seq"], name="audit_chain_position"),
            # NULLs are distinct in a unique index, so the pre-organisation chain needs its own guard.
            models.UniqueConstraint(fields=["seq"], condition=Q(org_id__isnull=True), name="audit_preorg_chain_position"),
        ]
        indexes = [
            models.Index(fields=["org_id", "-at"], name="audit_org_at"),
            models.Index(fields=["org_id", "object_type", "object_id"], name="audit_org_object"),
            models.Index(fields=["org_id", "actor_user_id", "-at"], name="audit_org_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.org_id}#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditCheckpoint(_AppendOnlyModel):
    """Written by a purge in the same transaction as the deletion: the hash of the last purged entry.

    The verifier accepts a chain that starts above seq 1 only if the oldest remaining entry's ``prev_hash``
    equals the checkpoint with ``seq`` one below it. Checkpoints themselves are never changed or deleted.
    """

    org_id = models.BigIntegerField(null=True)
    seq = models.BigIntegerField()  # the last purged position
    hash = models.CharField(max_length=64)  # that entry's hash
    at = models.DateTimeField()
    purged_before = models.DateTimeField()
    purged_count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org_id", "seq"], name="audit_checkpoint_position"),
            models.UniqueConstraint(fields=["seq"], condition=Q(org_id__isnull=True), name="audit_preorg_checkpoint"),
        ]
