"""The archive's scheduled action (registered here, the one visible place; the worker imports it)."""

from __future__ import annotations

from siyu.kernel import scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.scheduled import DueAction

from . import alerts


def reply_check(due: DueAction) -> None:
    alerts.check_reply(Actor.system(due.org_id, label="wecom.archive"), int(due.args.get("message_id") or 0))


scheduled.register_action(alerts.REPLY_CHECK, reply_check)
