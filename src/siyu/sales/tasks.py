"""Sales' periodic jobs: pool recycling (hourly) and an SLA catch-up sweep (every five minutes) for leads whose
per-minute sweep had already run when their assignment committed. Both are idempotent and act per
organisation in their own transactions; the work itself is in services."""

from __future__ import annotations

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from siyu.iam.models import Organization
from siyu.kernel import clock
from siyu.kernel.actor import Actor

from .services import assignment, pools


@db_periodic_task(crontab(minute="7"), name="sales.pools.recycle")
def recycle_pools() -> int:
    moved = 0
    for org_id in Organization.objects.values_list("pk", flat=True):
        with transaction.atomic():
            moved += pools.recycle_all(Actor.system(org_id, label="sales.recycle"))
    return moved


@db_periodic_task(crontab(minute="*/5"), name="sales.lead.sla_catchup")
def sla_catchup() -> int:
    moved = 0
    now = clock.now()
    for org_id in Organization.objects.values_list("pk", flat=True):
        for kind in ("remind", "breach"):
            with transaction.atomic():
                moved += assignment.sla_sweep(org_id, kind, now)
    return moved
