"""Huey tasks of segments (interface only: the work is in :mod:`.membership`).

* ``"cdp.segment.recompute_all"`` — daily at 00:10 (the consumer's local time; set ``TZ`` to the organisation's
  zone, Asia/Shanghai by default): every organisation's active segments are fully recomputed with events, which
  is how windows that slid past their events ("in the last 7 days") let members go. Idempotent: a second run
  finds nothing to change.
* ``"cdp.segment.recompute"`` — one segment of one organisation, now (an operator's button may enqueue it).

Each organisation is recomputed in its own transaction, so one failing organisation does not hold back others.
"""

from __future__ import annotations

import logging

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from siyu.kernel.actor import Actor

from ..models import Segment
from . import membership
from .rules import Validator

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="10", hour="0"), name="cdp.segment.recompute_all")
def recompute_all() -> int:
    changed = 0
    org_ids = sorted(set(Segment.objects.unscoped_all_orgs().filter(is_active=True).values_list("org_id", flat=True)))
    for org_id in org_ids:
        try:
            with transaction.atomic():
                changed += membership.recompute_all(Actor.system(org_id, label="segments")).total
        except Exception:  # noqa: BLE001 - one organisation's failure must not stop the others; logged
            logger.exception("segment recompute failed for organisation %s", org_id)
    return changed


@db_task(name="cdp.segment.recompute")
def recompute(org_id: int, segment_id: int) -> int:
    actor = Actor.system(org_id, label="segments")
    with transaction.atomic():
        segment = Segment.objects.in_org(actor).filter(pk=segment_id, is_active=True).first()
        if segment is None:
            return 0
        return membership.recompute_segment(actor, segment, Validator(actor).parse(segment.rules), emit=True).total
