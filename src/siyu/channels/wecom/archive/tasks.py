"""Huey tasks of the conversation archive: fetch every minute, purge daily (stable names, ids only)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from .ingest import ingest
from .models import ArchiveConfig
from .purge import purge_all

logger = logging.getLogger(__name__)


@db_task(name="wecom.archive.ingest")
def ingest_corp(config_id: int) -> None:
    config = ArchiveConfig.objects.unscoped_all_orgs().select_related("corp").filter(pk=config_id, enabled=True).first()
    if config is not None:
        _run(config)


def _run(config: ArchiveConfig) -> None:
    try:
        ingest(config)
    except Exception as exc:  # noqa: BLE001 - recorded on the config; the next minute tries again
        logger.warning("wecom archive ingestion failed for config %s: %s", config.pk, type(exc).__name__)
        ArchiveConfig.objects.unscoped_all_orgs().filter(pk=config.pk).update(last_error=str(exc)[:500])


@db_periodic_task(crontab(minute="*"), name="wecom.archive.ingest_all")
def ingest_all() -> None:
    for config in ArchiveConfig.objects.unscoped_all_orgs().select_related("corp").filter(enabled=True,
                                                                                          corp__is_active=True):
        _run(config)


@db_periodic_task(crontab(hour="3", minute="40"), name="wecom.archive.purge")
def purge() -> None:
    purge_all()
