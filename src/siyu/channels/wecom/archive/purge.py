"""Retention: archived messages older than their corp's ``retention_days`` are deleted (daily task
``wecom.archive.purge``). Alerts keep their row (kind, employee, detail) with the message link cleared; the
timeline entries carry no content and stay."""

from __future__ import annotations

import datetime as dt

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write

from .models import ArchiveConfig, ArchivedMessage

CHUNK = 5000


def purge(config: ArchiveConfig, *, now: dt.datetime | None = None) -> int:
    actor = Actor.system(config.org_id, label="wecom.archive")
    cutoff = (now or clock.now()) - dt.timedelta(days=config.retention_days)
    old = ArchivedMessage.objects.in_org(actor).filter(corp_id=config.corp_id, msgtime__lt=cutoff)
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:CHUNK])
        if not ids:
            break
        deleted += ArchivedMessage.objects.in_org(actor).filter(pk__in=ids).delete()[1].get(
            ArchivedMessage._meta.label, 0)
    if deleted:
        record_write(actor, "purge", "channels.archive_message", config.corp_id, {},
                     deleted=deleted, cutoff=cutoff.isoformat(), retention_days=config.retention_days)
    return deleted


def purge_all() -> int:
    total = 0
    for config in ArchiveConfig.objects.unscoped_all_orgs().filter(enabled=True):  # the daily job: every org
        total += purge(config)
    return total
