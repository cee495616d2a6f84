"""Ingestion by sequence cursor: fetch records after ``cursor_seq`` from the source, keep only 1:1 messages of
customers who consented to conversation archiving (the CDP ledger, purpose ``conversation_archive`` on
``wecom``, at the message's time), store their content encrypted, put an entry on the customer's timeline and run
the alert rules.

Each fetched batch is applied in one transaction together with the cursor move, so a killed worker leaves the
cursor where it was and the batch is fetched and applied again; ``(corp, msgid)`` is unique besides. The fetch
itself (HTTP, or the native SDK) runs outside the transaction.

``agree`` / ``disagree`` records (§4.3) are the customer's own answer to WeCom's archiving notice: they are written
to the consent ledger (source ``wecom.msgaudit``, at the time WeCom gives), so they govern what follows them.
Group chats (``roomid``) are skipped: their consent is per room (``check_room_agree``), not handled yet.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from django.db import transaction

from siyu.cdp import consent
from siyu.cdp.timeline import add_entry
from siyu.channels.wecom.models import Employee, ExternalContact
from siyu.kernel import clock, encrypted
from siyu.kernel.actor import Actor

from . import alerts
from .models import ArchiveConfig, ArchivedMessage
from .sources import FETCH_LIMIT, ArchiveSource, ChatRecord, source_for
from .timeline_kinds import CHAT_MESSAGE

PURPOSE = "conversation_archive"
CHANNEL = "wecom"
CONSENT_SOURCE = "wecom.msgaudit"


def _at(ms: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ms or 0) / 1000, dt.UTC)


def ingest(config: ArchiveConfig, *, source: ArchiveSource | None = None, max_batches: int = 20) -> Counter:
    """Fetch and apply up to ``max_batches`` batches; returns what happened to the records (``stored``,
    ``no_consent``, ``group``, ``internal``, ``consent``, ``other``, ``alerts``)."""
    actor = Actor.system(config.org_id, label="wecom.archive")
    source = source or source_for(config)
    counts: Counter = Counter()
    with transaction.atomic():
        consent.ensure_default_purposes(actor=actor)  # the ledger needs the conversation_archive purpose
    for _ in range(max_batches):
        records = source.fetch(seq=config.cursor_seq, limit=FETCH_LIMIT)
        if not records:
            break
        with transaction.atomic():
            current = ArchiveConfig.objects.in_org(actor).select_for_update().select_related("corp").get(pk=config.pk)
            fresh = [r for r in records if r.seq > current.cursor_seq]  # another run applied some meanwhile
            _apply(actor, current, fresh, counts)
            current.cursor_seq = max([current.cursor_seq, *(r.seq for r in records)])
            current.last_run_at, current.last_error = clock.now(), ""
            current.save(update_fields=["cursor_seq", "last_run_at", "last_error"])
        config = current
        if len(records) < FETCH_LIMIT:
            break
    return counts


class _Batch:
    """Lookups for one batch: employees and contacts by id, the msgids already stored, the last direction of each
    conversation (one query each, not one per record)."""

    def __init__(self, actor: Actor, config: ArchiveConfig, records: list[ChatRecord]):
        parties: set[str] = set()
        for r in records:
            parties.add(str(r.message.get("from") or ""))
            parties.update(str(x) for x in r.message.get("tolist") or ())
        self.employees = {e.userid: e for e in Employee.objects.in_org(actor).filter(corp=config.corp)
                          .select_related("membership__department")}
        self.contacts = {c.external_userid: c for c in ExternalContact.objects.in_org(actor)
                         .filter(corp=config.corp, external_userid__in=parties).select_related("profile")}
        self.stored = set(ArchivedMessage.objects.in_org(actor).filter(
            corp=config.corp, msgid__in=[r.msgid for r in records]).values_list("msgid", flat=True))
        self.last: dict[tuple[int, int], str | None] = {}
        self.actor = actor

    def previous_direction(self, employee: Employee, contact: ExternalContact, at: dt.datetime) -> str | None:
        key = (employee.pk, contact.pk)
        if key not in self.last:
            prev = (ArchivedMessage.objects.in_org(self.actor).filter(employee=employee, external_contact=contact,
                                                                      msgtime__lte=at)
                    .order_by("-msgtime", "-pk").values_list("direction", flat=True).first())
            self.last[key] = prev
        return self.last[key]


def _apply(actor: Actor, config: ArchiveConfig, records: list[ChatRecord], counts: Counter) -> None:
    if not records:
        return
    batch = _Batch(actor, config, records)
    rules = alerts.active_rules(actor)
    for record in records:
        msg = record.message
        if msg.get("action", "send") != "send" or not msg.get("msgtype"):
            counts["other"] += 1
            continue
        if msg.get("roomid"):
            counts["group"] += 1
            continue
        sender = str(msg.get("from") or "")
        parties = [sender, *(str(x) for x in msg.get("tolist") or ())]
        contact = next((batch.contacts[p] for p in parties if p in batch.contacts), None)
        employee = next((batch.employees[p] for p in parties if p in batch.employees), None)
        if contact is None or employee is None or contact.profile is None:
            counts["internal"] += 1
            continue
        msgtype = str(msg["msgtype"])
        at = _at(msg.get("msgtime"))
        if msgtype in ("agree", "disagree"):
            payload = msg.get(msgtype) or {}
            consent.record_consent(actor=actor, profile=contact.profile, purpose=PURPOSE, channel=CHANNEL,
                                   granted=msgtype == "agree", source=CONSENT_SOURCE,
                                   at=_at(payload.get(f"{msgtype}_time") or msg.get("msgtime")),
                                   evidence={"msgid": record.msgid, "seq": record.seq, "userid": employee.userid})
            counts["consent"] += 1
            continue
        if not consent.may_contact(actor=actor, profile=contact.profile, purpose=PURPOSE, channel=CHANNEL,
                                   at=at).allowed:
            counts["no_consent"] += 1
            continue
        if record.msgid in batch.stored:
            counts["duplicate"] += 1
            continue
        direction = ArchivedMessage.Direction.IN if sender == contact.external_userid else ArchivedMessage.Direction.OUT
        message = ArchivedMessage(org_id=config.org_id, corp=config.corp, seq=record.seq, msgid=record.msgid,
                                  external_contact=contact, profile=contact.profile, employee=employee,
                                  direction=direction, msgtype=msgtype[:32], msgtime=at)
        encrypted.set_encrypted(message, "content", json.dumps(msg.get(msgtype) or {}, ensure_ascii=False))
        previous = batch.previous_direction(employee, contact, at)  # before this message is written
        message.save()
        batch.stored.add(record.msgid)
        batch.last[(employee.pk, contact.pk)] = direction
        add_entry(profile=contact.profile, kind=CHAT_MESSAGE, at=at, ref_type="wecom.archive.message",
                  ref_id=str(message.pk), data={"employee": employee.name or employee.userid,
                                                "direction": direction, "msgtype": msgtype})
        counts["stored"] += 1
        text = str((msg.get("text") or {}).get("content") or "") if msgtype == "text" else ""
        if text and rules:
            counts["alerts"] += alerts.check_words(actor, message, text, rules)
        alerts.start_waiting(config, message, previous)


def content_of(message: ArchivedMessage) -> dict[str, Any]:
    """The decrypted payload. For code paths; people read through ``selectors.conversation`` (audited)."""
    text = encrypted.reveal(message, "content")
    return json.loads(text) if text else {}
