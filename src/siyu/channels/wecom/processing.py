"""Processing stored callbacks (a job, never the request): decrypt the stored body again, apply the event, mark
the log processed — idempotently, whatever order events arrive in and however often they are delivered.

Entry points: the outbox handler of ``CallbackReceived`` (``handlers.py``) and the scheduled retry
``wecom.callback.retry``. A failure is written on the log (``error``, ``attempts``) and a retry is scheduled
with exponential backoff (2 s, 4 s, 8 s … up to 10 attempts), so the console shows what went wrong while the
kernel's durable scheduler keeps the retry. A processed log is never applied again.

Events (protocol document §3):

* ``change_external_contact``: ``add_external_contact`` / ``add_half_external_contact`` (fetch
  ``externalcontact/get``, upsert contact and relation, send the live code's welcome message with the
  ``WelcomeCode``, ``mark_tag`` its tags, tell the CDP, refresh statistics and rotation), ``edit_external_contact``
  (remark and tags; an edit of a relation never seen is treated as its add), ``del_external_contact`` (the
  employee deleted the customer; ``Source=DELETE_BY_TRANSFER`` for a transfer), ``del_follow_user`` (the
  customer deleted the employee), ``transfer_fail`` (the waiting transfer is marked refused or over the limit, ``transfers.py``);
* ``change_external_tag``: the corp tag library is mirrored again;
* ``change_external_chat``: the group is re-read and applied (``groups.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from siyu.channels.errors import RecipientUnreachable
from siyu.kernel import clock, leases, scheduled
from siyu.kernel.actor import Actor

from . import contacts, groups, livecodes, tags, transfers, welcome
from .callbacks import decrypt_log, event_time
from .corps import client_for
from .models import CallbackLog, Corp, DeletedBy

logger = logging.getLogger(__name__)

RETRY_ACTION = "wecom.callback.retry"
MAX_ATTEMPTS = 10


def process_callback(*, org_id: int, log_id: int) -> bool:
    """Apply one stored callback; True when it is (now or already) processed. Never raises for a failure of the
    event itself: that is recorded and retried; it raises only when the database itself fails."""
    actor = Actor.system(org_id, label="wecom")
    log = (CallbackLog.objects.in_org(actor).select_for_update().filter(pk=log_id)
           .select_related("corp").first())
    if log is None or log.processed_at is not None:
        return log is not None
    try:
        with transaction.atomic():  # a savepoint: a failed event leaves nothing half-applied
            message = decrypt_log(log)
            apply_event(log.corp, message)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the log and retried
        log.attempts += 1
        log.error = leases.describe(exc)
        log.save(update_fields=["attempts", "error", "updated_at"])
        if log.attempts < MAX_ATTEMPTS:
            scheduled.schedule(action=RETRY_ACTION, key=f"wecom.callback:{log.pk}:{log.attempts}",
                               due_at=clock.now() + leases.backoff(log.attempts), org_id=org_id,
                               args={"log_id": log.pk})
        logger.warning("wecom callback %s failed (attempt %s): %s", log.pk, log.attempts, type(exc).__name__)
        return False
    log.processed_at, log.error = clock.now(), ""
    log.attempts += 1
    log.save(update_fields=["processed_at", "error", "attempts", "updated_at"])
    return True


def apply_event(corp: Corp, message: dict[str, Any]) -> None:
    handler = _HANDLERS.get((message.get("Event", ""), message.get("ChangeType", "")))
    if handler is None:
        handler = _EVENT_HANDLERS.get(message.get("Event", ""), _ignore)
    handler(corp, message)


# --- change_external_contact ------------------------------------------------------------------------------------


def fetch_detail(corp: Corp, external_userid: str, userid: str) -> tuple[dict | None, dict | None]:
    """``externalcontact/get``: the contact and the follow entry of ``userid`` (following ``next_cursor``);
    ``(None, None)`` when WeCom says there is no relation (84061: deleted meanwhile, or a half relation)."""
    client = client_for(corp)
    cursor = ""
    contact: dict | None = None
    try:
        while True:
            page = client.get_external_contact(external_userid=external_userid, cursor=cursor)
            contact = page.get("external_contact") or contact
            for info in page.get("follow_user") or ():
                if info.get("userid") == userid:
                    return contact, info
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return contact, None
    except RecipientUnreachable:
        return None, None


def _on_add(corp: Corp, message: dict[str, Any]) -> None:
    userid, external_userid = message.get("UserID", ""), message.get("ExternalUserID", "")
    if not userid or not external_userid:
        return
    half = message.get("ChangeType") == "add_half_external_contact"
    employee = contacts.employee_for(corp, userid, follow_user=True)
    data, info = fetch_detail(corp, external_userid, userid)
    contact = contacts.upsert_contact(corp, data or {"external_userid": external_userid})
    relation, live = contacts.apply_add(corp, contact, employee, info or {}, at=event_time(message), half=half,
                                        state=message.get("State", ""))
    live_code = relation.live_code
    # The welcome message first: WeCom accepts its code only within 20 s of the event.
    welcome.send(corp, relation, welcome_code=message.get("WelcomeCode", ""),
                 welcome=live_code.welcome if live_code else {})
    if live and live_code and live_code.tag_ids:
        tags.mark_live_code_tags(corp, relation, live_code.tag_ids)
    contacts.announce(corp, relation)
    livecodes.after_relation_change(relation)


def _on_edit(corp: Corp, message: dict[str, Any]) -> None:
    userid, external_userid = message.get("UserID", ""), message.get("ExternalUserID", "")
    if not userid or not external_userid:
        return
    employee = contacts.employee_for(corp, userid, follow_user=True)
    data, info = fetch_detail(corp, external_userid, userid)
    if info is None:
        return  # the relation is gone already; its deletion event says so
    contact = contacts.upsert_contact(corp, data or {"external_userid": external_userid})
    relation = contact.follows.filter(employee=employee).first()
    if relation is None or relation.deleted or not relation.announced:
        # An edit of a relation Siyu never saw: its add callback was missed. Apply the add now.
        relation, live = contacts.apply_add(corp, contact, employee, info, at=event_time(message))
        if live:
            contacts.announce(corp, relation)
            livecodes.after_relation_change(relation)
        return
    relation.remark = str(info.get("remark") or "")[:120]
    relation.description = str(info.get("description") or "")[:300]
    relation.save(update_fields=["remark", "description", "updated_at"])
    contacts.sync_relation_tags(corp, relation, contacts.tag_ids_of(info))


def _on_delete(corp: Corp, message: dict[str, Any]) -> None:
    userid, external_userid = message.get("UserID", ""), message.get("ExternalUserID", "")
    if not userid or not external_userid:
        return
    deleted_by = contacts.DELETED_BY[message.get("ChangeType", "")]
    if message.get("Source") == "DELETE_BY_TRANSFER":
        deleted_by = DeletedBy.TRANSFER
    employee = contacts.employee_for(corp, userid)
    contact = contacts.upsert_contact(corp, {"external_userid": external_userid})
    relation, changed = contacts.apply_delete(corp, contact, employee, at=event_time(message),
                                              deleted_by=deleted_by)
    if changed:
        livecodes.after_relation_change(relation)


def _on_tag_change(corp: Corp, message: dict[str, Any]) -> None:
    tags.pull_corp_tags(corp)


def _on_chat_change(corp: Corp, message: dict[str, Any]) -> None:
    groups.on_chat_event(corp, message)


def _on_transfer_fail(corp: Corp, message: dict[str, Any]) -> None:
    transfers.on_transfer_fail(corp, message)


def _ignore(corp: Corp, message: dict[str, Any]) -> None:
    """Stored and marked processed: events Siyu does not act on (app messages, contact changes)."""


_HANDLERS: dict[tuple[str, str], Callable[[Corp, dict[str, Any]], None]] = {
    ("change_external_contact", "add_external_contact"): _on_add,
    ("change_external_contact", "add_half_external_contact"): _on_add,
    ("change_external_contact", "edit_external_contact"): _on_edit,
    ("change_external_contact", "del_external_contact"): _on_delete,
    ("change_external_contact", "del_follow_user"): _on_delete,
    ("change_external_contact", "transfer_fail"): _on_transfer_fail,
}
_EVENT_HANDLERS: dict[str, Callable[[Corp, dict[str, Any]], None]] = {
    "change_external_tag": _on_tag_change,
    "change_external_chat": _on_chat_change,
}


def retry(due: scheduled.DueAction) -> None:
    """The scheduled retry of a failed callback."""
    if due.org_id is not None:
        process_callback(org_id=due.org_id, log_id=int(due.args["log_id"]))

