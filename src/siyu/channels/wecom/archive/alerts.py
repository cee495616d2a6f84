"""Alert rules over archived messages: sensitive words (on ingestion) and the reply timeout (a scheduled check).

Each alert is written once per (message, kind, rule) — a re-run of an ingestion batch or of the check cannot
raise it twice — names the employee's Siyu user and their department's manager, and is announced with the
``ArchiveAlertRaised`` domain event (outbox)."""

from __future__ import annotations

import datetime as dt
import unicodedata

from django.db import IntegrityError, transaction

from siyu.channels.wecom.models import Employee
from siyu.kernel import clock, events, scheduled
from siyu.kernel.actor import Actor

from .events import ArchiveAlertRaised
from .hours import deadline
from .models import ArchiveAlert, ArchiveConfig, ArchivedMessage, SensitiveWordRule

REPLY_CHECK = "wecom.archive.reply_check"


def _fold(text: str) -> str:
    # Full-width and compatibility forms fold to their plain form, case too: "ＶＸ" and "vx" are the same word.
    return unicodedata.normalize("NFKC", text).casefold()


def notify_users(employee: Employee | None) -> list[int]:
    """The employee's Siyu user and their department's manager (when known and different)."""
    if employee is None or employee.membership_id is None:
        return []
    membership = employee.membership
    users = [membership.user_id]
    department = getattr(membership, "department", None)
    manager_id = getattr(department, "manager_id", None) if department else None
    if manager_id and manager_id not in users:
        users.append(manager_id)
    return users


def raise_alert(*, kind: str, message: ArchivedMessage, rule: SensitiveWordRule | None = None,
                detail: str = "") -> ArchiveAlert | None:
    key = f"{message.corp_id}:{message.msgid}" + (f":{rule.pk}" if rule else "")
    users = notify_users(message.employee)
    try:
        with transaction.atomic():
            alert = ArchiveAlert.objects.create(
                org_id=message.org_id, kind=kind, corp_id=message.corp_id, message=message, message_key=key[:160],
                profile_id=message.profile_id, employee=message.employee, rule=rule, detail=detail[:200],
                notify_user_ids=users)
    except IntegrityError:  # raised before (a re-run): once only
        return None
    events.emit(ArchiveAlertRaised(org_id=message.org_id, alert_id=alert.pk, kind=kind, notify_user_ids=users))
    return alert


def check_words(actor: Actor, message: ArchivedMessage, text: str, rules: list[SensitiveWordRule]) -> int:
    folded = _fold(text)
    raised = 0
    for rule in rules:
        if rule.applies_to in ("both", message.direction) and _fold(rule.word) in folded:
            raised += raise_alert(kind=ArchiveAlert.Kind.SENSITIVE_WORD, message=message, rule=rule,
                                  detail=rule.word) is not None
    return raised


def active_rules(actor: Actor) -> list[SensitiveWordRule]:
    return list(SensitiveWordRule.objects.in_org(actor).filter(is_active=True).order_by("pk"))


def reply_check_key(message: ArchivedMessage) -> str:
    return f"wecom.archive:reply:{message.corp_id}:{message.msgid}"


def start_waiting(config: ArchiveConfig, message: ArchivedMessage, previous_direction: str | None) -> None:
    """A customer's message that follows an employee's (or opens the conversation) starts the clock."""
    if message.direction != ArchivedMessage.Direction.IN or previous_direction == ArchivedMessage.Direction.IN:
        return
    due = deadline(message.msgtime, config.reply_timeout_minutes, work_start=config.work_start,
                   work_end=config.work_end, work_days=config.work_days)
    scheduled.schedule(action=REPLY_CHECK, key=reply_check_key(message), due_at=due,
                       args={"message_id": message.pk}, org_id=message.org_id)


def check_reply(actor: Actor, message_id: int, now: dt.datetime | None = None) -> ArchiveAlert | None:
    """Due: alert unless the employee answered after the customer's message (the message may be purged)."""
    message = (ArchivedMessage.objects.in_org(actor).select_related("employee__membership__department")
               .filter(pk=message_id).first())
    if message is None or message.employee is None:
        return None
    answered = ArchivedMessage.objects.in_org(actor).filter(
        corp_id=message.corp_id, employee=message.employee, external_contact=message.external_contact,
        direction=ArchivedMessage.Direction.OUT, msgtime__gte=message.msgtime).exists()
    if answered:
        return None
    waited = int(((now or clock.now()) - message.msgtime).total_seconds() // 60)
    return raise_alert(kind=ArchiveAlert.Kind.REPLY_TIMEOUT, message=message, detail=f"{waited} min")
