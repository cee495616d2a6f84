"""Lifecycle stages per organisation, with entry and exit times kept for break-point analysis."""

from __future__ import annotations

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import ValidationFailed

from .changes import profiles_changed
from .models import LifecycleStageDefinition, LifecycleTransition, Profile
from .timeline import add_entry

DEFAULT_STAGES = [
    ("acquisition", "Lead acquisition"), ("nurturing", "Nurturing"), ("opportunity", "Opportunity"),
    ("order", "Order"), ("service", "Service"), ("repurchase", "Repurchase"),
]


def ensure_default_stages(*, actor: Actor) -> None:
    if LifecycleStageDefinition.objects.in_org(actor).exists():
        return
    LifecycleStageDefinition.objects.bulk_create([
        LifecycleStageDefinition(org_id=actor.org_id, key=k, label=label, order=i)
        for i, (k, label) in enumerate(DEFAULT_STAGES)
    ])


def set_stage(*, actor: Actor, profile: Profile, stage: str) -> bool:
    """Move the profile to ``stage``: closes the open transition, opens a new one. False when already there."""
    if not LifecycleStageDefinition.objects.in_org(actor).filter(key=stage).exists():
        raise ValidationFailed("unknown stage", fields={"lifecycle_stage": [f"no stage {stage!r}"]})
    if profile.lifecycle_stage == stage:
        return False
    now = clock.now()
    LifecycleTransition.objects.filter(profile=profile, exited_at__isnull=True).update(exited_at=now)
    LifecycleTransition.objects.create(org_id=profile.org_id, profile=profile, stage=stage, entered_at=now)
    before = profile.lifecycle_stage
    profile.lifecycle_stage, profile.lifecycle_changed_at = stage, now
    profile.save(update_fields=["lifecycle_stage", "lifecycle_changed_at", "updated_at"])
    add_entry(profile=profile, kind="lifecycle.changed", at=now, data={"from": before, "to": stage})
    record_write(actor, "update", "cdp.profile", profile.pk, {"lifecycle_stage": [before or None, stage]})
    profiles_changed(profile.org_id, [profile.pk], reason="lifecycle")
    return True
