"""Kernel tables: the outbox, scheduled actions and idempotency records.

Behaviour lives beside them: ``outbox.py``, ``scheduled.py``, ``idempotency.py``. These are system rows, not
business rows: they carry ``org_id`` as a plain integer (kernel must not depend on iam) and are only read by
the kernel's own claimers.
"""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """A domain event written in the same transaction as the change that caused it; dispatched at least once,
    handled idempotently (handlers key their effects by ``id``)."""

    org_id = models.BigIntegerField(null=True, db_index=False)
    topic = models.CharField(max_length=120)  # event type, e.g. "iam.UserDisabled"
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    available_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["available_at"], name="kernel_outbox_pending", condition=models.Q(processed_at__isnull=True)),
        ]


class ScheduledAction(models.Model):
    """Future work that must survive restarts: run ``action`` with ``args`` at ``due_at``, exactly once in effect.

    ``key`` makes scheduling idempotent (scheduling the same key twice keeps one row)."""

    org_id = models.BigIntegerField(null=True, db_index=False)
    action = models.CharField(max_length=120)  # registered name, e.g. "sales.lead.sla_check"
    key = models.CharField(max_length=200, unique=True)
    args = models.JSONField(default=dict)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], name="kernel_sched_due",
                         condition=models.Q(done_at__isnull=True, cancelled_at__isnull=True)),
        ]


class EffectRecord(models.Model):
    """Proof that an effect happened once: handlers insert ``(scope, key)`` in the transaction of the effect;
    a second run hits the unique constraint and skips."""

    scope = models.CharField(max_length=120)
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="kernel_effect_once")]


class IdempotencyRecord(models.Model):
    """A stored response for an ``Idempotency-Key`` (per credential), kept at least 24 hours."""

    owner = models.CharField(max_length=80)  # "apikey:<id>" or "user:<id>:org:<id>"
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)  # null while the first request is in flight
    response_body = models.BinaryField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="kernel_idem_unique")]
        indexes = [models.Index(fields=["expires_at"], name="kernel_idem_expiry")]
