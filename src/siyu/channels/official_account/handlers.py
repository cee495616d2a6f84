"""Reactions of the official-account channel, registered in this one place (the worker imports every app's
handlers)."""

from __future__ import annotations

from siyu.kernel import events, scheduled

from . import processing
from .events import CallbackReceived


def process(event: CallbackReceived) -> None:
    if event.org_id is not None:
        processing.process_callback(org_id=event.org_id, log_id=event.callback_log_id)


events.subscribe(CallbackReceived, process, name="official_account.process_callback")
scheduled.register_action(processing.RETRY_ACTION, processing.retry)
