"""Alerts reach the people they name: a WeCom app message (``message/send`` through the channel adapter) to the
employee and their department's manager, for each of them who is a member of the corp (``user:<id>`` recipients).

Runs in the outbox worker on ``ArchiveAlertRaised``; the adapter's send-once ledger (key per alert and user)
makes a redelivered event send nothing twice. A corp without an app (agent id) cannot send app messages: the
alert stays on the archive page only. No chat content is sent — only what happened and with whom."""

from __future__ import annotations

from siyu.channels.ports import MessageContent, Recipient, SendStatus
from siyu.channels.wecom.adapter import USER_PREFIX, WeComAdapter
from siyu.kernel.actor import Actor

from .events import ArchiveAlertRaised
from .models import ArchiveAlert


def _text(alert: ArchiveAlert) -> str:
    customer = alert.profile.name if alert.profile_id and alert.profile else ""
    employee = alert.employee.name if alert.employee_id and alert.employee else ""
    if alert.kind == ArchiveAlert.Kind.REPLY_TIMEOUT:
        return (f"客户等待回复超时 / A customer is waiting for a reply: {customer}"
                f"（{employee}，{alert.detail} 分钟 / minutes）")
    return f"会话敏感词提醒 / Sensitive word in a conversation: “{alert.detail}” — {customer}（{employee}）"


def announce(event: ArchiveAlertRaised) -> int:
    """Send the alert to its people; returns how many app messages were handed to WeCom."""
    actor = Actor.system(event.org_id, label="wecom.archive.notify")
    alert = (ArchiveAlert.objects.in_org(actor).select_related("corp", "employee", "profile")
             .filter(pk=event.alert_id).first())
    if alert is None or not event.notify_user_ids or not alert.corp.agent_id or not alert.corp.is_active:
        return 0
    adapter = WeComAdapter(alert.corp)
    content = MessageContent(text=_text(alert))
    sent = 0
    for user_id in event.notify_user_ids:  # "user:<id>": the adapter finds the corp member mapped to that user
        result = adapter.send_direct(idempotency_key=f"wecom.archive.alert:{alert.pk}:{user_id}",
                                     recipient=Recipient(address=f"{USER_PREFIX}{user_id}"), content=content)
        sent += result.results[0].status == SendStatus.SENT
    return sent
