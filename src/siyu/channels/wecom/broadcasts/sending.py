"""Handing one task (batch) to WeCom with ``add_msg_template``, exactly once.

WeCom's ``add_msg_template`` has no idempotency key. The send runs inside the scheduled action's transaction, so
a worker killed after WeCom accepted the task but before the commit leaves the batch ``pending`` with the task
existing in WeCom. Any run after the first (``attempt > 1``) therefore looks for that task before sending again:
``get_groupmsg_list_v2`` lists the sender's tasks since the plan with the same text that no batch of ours owns,
and ``get_groupmsg_send_result`` (one row, the task's smallest ``external_userid``) tells which batch it was —
batches of one broadcast never share a customer. A found task is adopted instead of sent again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from siyu.channels.errors import ChannelRejected, RecipientUnreachable
from siyu.channels.wecom.client import WeComClient
from siyu.channels.wecom.corps import client_for
from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor

from . import message
from .models import Broadcast, BroadcastBatch, RecipientStatus

COLLECT = "wecom.broadcast.collect"
LIST_WINDOW = dt.timedelta(days=30)  # get_groupmsg_list_v2 accepts at most one month


def collect_key(broadcast_id: int, round_no: int) -> str:
    return f"wecom.broadcast:{broadcast_id}:collect:{round_no}"


def collect_delay() -> dt.timedelta:
    from django.conf import settings

    return dt.timedelta(seconds=int(getattr(settings, "SIYU_WECOM_BROADCAST_COLLECT_SECONDS", 300)))


def _tasks_since(client: WeComClient, sender: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = client.call("POST", "externalcontact/get_groupmsg_list_v2", idempotent=True, body={
            "chat_type": "single", "start_time": int(start.timestamp()), "end_time": int(end.timestamp()) + 1,
            "creator": sender, "limit": 100, "cursor": cursor})
        items.extend(page.get("group_msg_list") or ())
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return items


def find_sent(client: WeComClient, batch: BroadcastBatch, actor: Actor) -> str:
    """The msgid of the task an interrupted earlier attempt created for ``batch``, or ``""``."""
    broadcast = batch.broadcast
    now = clock.now()
    start = max((broadcast.planned_at or broadcast.created_at) - dt.timedelta(minutes=5), now - LIST_WINDOW)
    candidates = [str(item["msgid"]) for item in _tasks_since(client, batch.sender.userid, start, now)
                  if item.get("msgid") and ((item.get("text") or {}).get("content") or "") == broadcast.text]
    if not candidates:
        return ""
    # Only the listed tasks are looked up, not every msgid the corp's broadcasts ever owned.
    owned = set(BroadcastBatch.objects.in_org(actor).filter(broadcast__corp_id=broadcast.corp_id,
                                                            msgid__in=candidates).values_list("msgid", flat=True))
    mine = set(batch.recipients.values_list("external_userid", flat=True))
    for msgid in candidates:
        if msgid in owned:
            continue
        first = client.get_groupmsg_send_result(msgid=msgid, userid=batch.sender.userid, limit=1)
        rows = first.get("send_list") or ()
        if rows and rows[0].get("external_userid") in mine:
            return msgid
    return ""


def send_batch(batch: BroadcastBatch, *, attempt: int) -> None:
    """Hand ``batch`` to WeCom (or adopt the task an earlier attempt created). Transient WeCom failures raise, so
    the scheduled action is retried with backoff; a final refusal marks the batch and its customers failed."""
    actor = Actor.system(batch.org_id, label="wecom.broadcast")
    broadcast = Broadcast.objects.in_org(actor).select_for_update().get(pk=batch.broadcast_id)
    batch = BroadcastBatch.objects.in_org(actor).select_related("sender", "broadcast__corp").get(pk=batch.pk)
    if batch.status != BroadcastBatch.Status.PENDING or broadcast.status != Broadcast.Status.SENDING:
        return
    client = client_for(broadcast.corp)
    now = clock.now()
    msgid = find_sent(client, batch, actor) if attempt > 1 else ""
    recipients = batch.recipients.filter(status=RecipientStatus.PLANNED)
    failed: set[str] = set()
    if msgid:
        batch.reconciled = True
    else:
        externals = sorted(recipients.values_list("external_userid", flat=True))
        text, attachments = message.to_wecom(broadcast.text, broadcast.attachments)
        try:
            answer = client.add_msg_template(chat_type="single", external_userid=externals,
                                             sender=batch.sender.userid, text=text, attachments=attachments)
        except RecipientUnreachable as exc:
            _fail(batch, recipients, RecipientStatus.NOT_FRIEND, exc)
            finish_if_handed(broadcast, now)
            return
        except ChannelRejected as exc:  # final: 41048 no sendable customer, a parameter WeCom refuses
            _fail(batch, recipients, RecipientStatus.FAILED, exc)
            finish_if_handed(broadcast, now)
            return
        msgid = str(answer.get("msgid") or "")
        failed = set(answer.get("fail_list") or ())
    if failed:
        recipients.filter(external_userid__in=list(failed)).update(status=RecipientStatus.NOT_FRIEND)
    recipients.update(status=RecipientStatus.ACCEPTED)
    batch.status, batch.msgid, batch.handed_at = BroadcastBatch.Status.ACCEPTED, msgid, now
    batch.save(update_fields=["status", "msgid", "handed_at", "reconciled"])
    finish_if_handed(broadcast, now)


def _fail(batch: BroadcastBatch, recipients, status: str, exc: Exception) -> None:
    recipients.update(status=status)
    batch.status, batch.error, batch.results_final = BroadcastBatch.Status.FAILED, str(exc)[:500], True
    batch.save(update_fields=["status", "error", "results_final"])


def finish_if_handed(broadcast: Broadcast, now: dt.datetime) -> None:
    """Once no batch is pending: the broadcast is handed over and the first collection of results is scheduled."""
    if broadcast.batches.filter(status=BroadcastBatch.Status.PENDING).exists():
        return
    broadcast.status, broadcast.handed_at = Broadcast.Status.HANDED, now
    broadcast.save(update_fields=["status", "handed_at"])
    scheduled.schedule(action=COLLECT, key=collect_key(broadcast.pk, 1), due_at=now + collect_delay(),
                       args={"broadcast_id": broadcast.pk, "round": 1}, org_id=broadcast.org_id)
