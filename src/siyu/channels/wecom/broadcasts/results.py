"""Collecting what became of each customer (scheduled action ``wecom.broadcast.collect``, in rounds).

Per accepted task: ``get_groupmsg_task`` says whether the sender confirmed it in the client (status 2); then
``get_groupmsg_send_result`` pages the customers: 1 sent, 2 not a friend, 3 refused because the customer already
received WeCom's allowance, 0 not yet sent. 41063 ("still dispatching") leaves the task for the next round.
Rounds repeat every ``SIYU_WECOM_BROADCAST_COLLECT_SECONDS`` until every task is final or
``MAX_ROUNDS`` passed (a sender who never confirms leaves the customers ``accepted``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from siyu.channels.errors import ChannelUnavailable
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.client import WeComClient
from siyu.channels.wecom.corps import client_for
from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import PermissionDenied

from .models import Broadcast, BroadcastBatch, RecipientStatus
from .sending import COLLECT, collect_delay, collect_key

MAX_ROUNDS = 288  # one day at the default 5 minutes
STATUS = {1: RecipientStatus.SENT, 2: RecipientStatus.NOT_FRIEND, 3: RecipientStatus.REFUSED_LIMIT}
UPDATE_CHUNK = 500


def _task_confirmed(client: WeComClient, batch: BroadcastBatch) -> bool:
    cursor = ""
    while True:
        page = client.call("POST", "externalcontact/get_groupmsg_task", idempotent=True,
                           body={"msgid": batch.msgid, "limit": v.SEND_RESULT_LIMIT_MAX, "cursor": cursor})
        for task in page.get("task_list") or ():
            if task.get("userid") == batch.sender.userid:
                return int(task.get("status") or 0) == 2
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return False


def collect_batch(client: WeComClient, batch: BroadcastBatch) -> bool:
    """Apply WeCom's per-customer results to the batch; True when none is left unsent."""
    if not _task_confirmed(client, batch):
        return False
    found: dict[tuple[str, int], list[str]] = defaultdict(list)
    pending = 0
    cursor = ""
    while True:
        page = client.get_groupmsg_send_result(msgid=batch.msgid, userid=batch.sender.userid, cursor=cursor,
                                               limit=v.SEND_RESULT_LIMIT_MAX)
        for row in page.get("send_list") or ():
            status = STATUS.get(int(row.get("status") or 0))
            if status is None:
                pending += 1
                continue
            found[(status, int(row.get("send_time") or 0))].append(str(row.get("external_userid") or ""))
        cursor = page.get("next_cursor") or ""
        if not cursor:
            break
    for (status, send_time), externals in found.items():
        sent_at = dt.datetime.fromtimestamp(send_time, dt.UTC) if status == RecipientStatus.SENT and send_time else None
        for i in range(0, len(externals), UPDATE_CHUNK):
            batch.recipients.filter(external_userid__in=externals[i:i + UPDATE_CHUNK]).update(status=status,
                                                                                             sent_at=sent_at)
    return pending == 0


def collect(broadcast: Broadcast, *, round_no: int) -> None:
    actor = Actor.system(broadcast.org_id, label="wecom.broadcast")
    batches = list(BroadcastBatch.objects.in_org(actor).select_related("sender")
                   .filter(broadcast=broadcast, status=BroadcastBatch.Status.ACCEPTED, results_final=False))
    client = client_for(broadcast.corp) if batches else None
    open_batches = 0
    for batch in batches:
        try:
            final = collect_batch(client, batch)
        except ChannelUnavailable:  # 41063 still dispatching, busy: next round
            final = False
        if final:
            batch.results_final, batch.task_sent = True, True
            batch.save(update_fields=["results_final", "task_sent"])
        else:
            open_batches += 1
    now = clock.now()
    broadcast.collect_rounds = round_no
    if open_batches == 0 or round_no >= MAX_ROUNDS:
        broadcast.status, broadcast.finished_at = Broadcast.Status.DONE, now
    else:
        scheduled.schedule(action=COLLECT, key=collect_key(broadcast.pk, round_no + 1), due_at=now + collect_delay(),
                           args={"broadcast_id": broadcast.pk, "round": round_no + 1}, org_id=broadcast.org_id)
    broadcast.save(update_fields=["collect_rounds", "status", "finished_at"])


def collect_now(*, actor: Actor, broadcast: Broadcast) -> None:
    """"Collect results now" from the console: one round at once (the scheduled rounds carry on)."""
    if not actor.can("channels.broadcast.manage"):
        raise PermissionDenied("collecting results needs channels.broadcast.manage")
    record_write(actor, "collect", "channels.broadcast", broadcast.pk, {})
    if broadcast.status in (Broadcast.Status.HANDED, Broadcast.Status.DONE):
        collect(broadcast, round_no=broadcast.collect_rounds)
