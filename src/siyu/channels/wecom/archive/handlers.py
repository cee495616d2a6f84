"""The archive's scheduled action and event reactions (registered here, the one visible place; the worker imports
it)."""

from __future__ import annotations

from siyu.kernel import events, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.scheduled import DueAction

from . import alerts, notify
from .events import ArchiveAlertRaised


def reply_check(due: DueAction) -> None:
    alerts.check_reply(Actor.system(due.org_id, label="wecom.archive"), int(due.args.get("message_id") or 0))


scheduled.register_action(alerts.REPLY_CHECK, reply_check)


def announce_alert(event: ArchiveAlertRaised) -> None:
    notify.announce(event)


events.subscribe(ArchiveAlertRaised, announce_alert, name="wecom.archive.announce_alert")
