"""Processing stored callbacks (a job, never the request): verify and decrypt the stored body again, apply the
event, mark the log processed — once, whatever order events arrive in and however often they are delivered.

Entry points: the outbox handler of ``CallbackReceived`` (``handlers.py``) and the scheduled retry
``official_account.callback.retry``. A failure is written on the log (``error``, ``attempts``) and a retry is
scheduled with exponential backoff (up to 10 attempts); a processed log is never applied again.

Events (protocol document §5): ``subscribe`` (``EventKey`` ``qrscene_<scene>`` when through a parametric QR code),
``unsubscribe``, ``SCAN`` (a follower scanned a QR code), ``TEMPLATESENDJOBFINISH`` (delivery report of a template
message). Messages and other events (``CLICK``, ``VIEW`` …) are stored and marked processed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from siyu.kernel import clock, leases, scheduled
from siyu.kernel.actor import Actor

from . import followers, templates
from .callbacks import reopen
from .models import Account, CallbackLog

logger = logging.getLogger(__name__)

RETRY_ACTION = "official_account.callback.retry"
MAX_ATTEMPTS = 10
Handler = Callable[[Account, CallbackLog, dict[str, Any]], None]


def process_callback(*, org_id: int, log_id: int) -> bool:
    """Apply one stored callback; True when it is (now or already) processed. A failure of the event itself is
    recorded and retried; only a failing database raises."""
    actor = Actor.system(org_id, label="official_account")
    log = CallbackLog.objects.in_org(actor).select_for_update().filter(pk=log_id).select_related("account").first()
    if log is None or log.processed_at is not None:
        return log is not None
    try:
        with transaction.atomic():  # a savepoint: a failed event leaves nothing half-applied
            message = reopen(log)
            _learn_original_id(log.account, message)
            _HANDLERS.get(message.get("Event", "") if message.get("MsgType") == "event" else "", _ignore)(
                log.account, log, message)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the log and retried
        log.attempts += 1
        log.error = leases.describe(exc)
        log.save(update_fields=["attempts", "error", "updated_at"])
        if log.attempts < MAX_ATTEMPTS:
            scheduled.schedule(action=RETRY_ACTION, key=f"official_account.callback:{log.pk}:{log.attempts}",
                               due_at=clock.now() + leases.backoff(log.attempts), org_id=org_id,
                               args={"log_id": log.pk})  # fmt: skip
        logger.warning("official account callback %s failed (attempt %s): %s", log.pk, log.attempts,
                       type(exc).__name__)  # fmt: skip
        return False
    log.processed_at, log.error = clock.now(), ""
    log.attempts += 1
    log.save(update_fields=["processed_at", "error", "attempts", "updated_at"])
    return True


def _learn_original_id(account: Account, message: dict[str, Any]) -> None:
    original = str(message.get("ToUserName") or "")[:64]
    if original and account.original_id != original:
        account.original_id = original
        account.save(update_fields=["original_id", "updated_at"])


def _ignore(account: Account, log: CallbackLog, message: dict[str, Any]) -> None:
    """Stored and marked processed: user messages, menu clicks, location reports."""


_HANDLERS: dict[str, Handler] = {
    "subscribe": followers.on_subscribe,
    "unsubscribe": followers.on_unsubscribe,
    "SCAN": followers.on_scan,
    "TEMPLATESENDJOBFINISH": templates.on_report,
}


def retry(due: scheduled.DueAction) -> None:
    if due.org_id is not None:
        process_callback(org_id=due.org_id, log_id=int(due.args["log_id"]))
