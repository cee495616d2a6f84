"""Planning a broadcast: who of the snapshot gets it, through which employee, in which WeCom task.

Runs once (scheduled action ``wecom.broadcast.plan``) in one transaction with the policy row locked:

1. consent: only profiles the ledger allows for ``marketing`` on ``wecom`` now (``cdp.consent``; the snapshot
   may be older than a withdrawal) → others ``no_consent``;
2. reach: a live, two-way follow relation in the broadcast's corp with an active employee; the earliest one
   sends (WeCom's own choice when it picks a sender) → others ``no_contact``;
3. our cap: customers who already used ``max_per_window`` slots in the window → ``capped``;
4. WeCom's rule: external contacts that used the period's allowance from this corp → ``wecom_limit``;
5. the rest are ``planned`` (and now count against both limits) in tasks of one sender and ≤ 10 000 customers.

A killed worker rolls the whole plan back; the action then runs again from the start.
"""

from __future__ import annotations

import datetime as dt

from siyu.cdp import consent
from siyu.cdp.segments import snapshots
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.models import FollowRelation
from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor

from .models import Broadcast, BroadcastBatch, BroadcastRecipient, RecipientStatus
from .policy import contacts_at_wecom_limit, policy_of, profiles_at_cap

SEND = "wecom.broadcast.send"
CONSENT_CHUNK = 5000
BATCH_MAX = v.TEMPLATE_CUSTOMERS_MAX
INSERT_CHUNK = 2000


def send_key(batch: BroadcastBatch) -> str:
    return f"wecom.broadcast:{batch.broadcast_id}:batch:{batch.number}"


def _reach(actor: Actor, broadcast: Broadcast) -> dict[int, tuple[int, str, int]]:
    """profile id → (external contact id, external_userid, sender employee id) through the earliest live relation."""
    rows = (FollowRelation.objects.in_org(actor)
            .filter(corp_id=broadcast.corp_id, deleted=False, half=False, employee__status=1,
                    external_contact__profile__isnull=False)
            .order_by("added_at", "pk")
            .values_list("external_contact__profile_id", "external_contact_id", "external_contact__external_userid",
                         "employee_id"))
    reach: dict[int, tuple[int, str, int]] = {}
    for profile_id, contact_id, external_userid, employee_id in rows.iterator(chunk_size=5000):
        reach.setdefault(profile_id, (contact_id, external_userid, employee_id))
    return reach


def plan(broadcast: Broadcast, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Write the recipients and batches of a scheduled broadcast and schedule the sends; returns the counts."""
    now = now or clock.now()
    actor = Actor.system(broadcast.org_id, label="wecom.broadcast")
    policy = policy_of(actor, lock=True)
    members = snapshots.member_ids(broadcast.snapshot)
    allowed: set[int] = set()
    for i in range(0, len(members), CONSENT_CHUNK):
        allowed |= consent.allowed_profile_ids(actor=actor, profile_ids=members[i:i + CONSENT_CHUNK],
                                               purpose="marketing", channel="wecom")
    reach = _reach(actor, broadcast)
    capped = profiles_at_cap(actor, policy, now)
    wecom_full = contacts_at_wecom_limit(actor, policy, broadcast.corp_id, now)

    rows: list[BroadcastRecipient] = []
    by_sender: dict[int, list[BroadcastRecipient]] = {}
    for profile_id in members:
        target = reach.get(profile_id)
        row = BroadcastRecipient(org_id=broadcast.org_id, broadcast=broadcast, profile_id=profile_id,
                                 planned_at=now, status=RecipientStatus.PLANNED)
        if target is not None:
            row.external_contact_id, row.external_userid, row.sender_id = target
        if profile_id not in allowed:
            row.status = RecipientStatus.NO_CONSENT
        elif target is None:
            row.status = RecipientStatus.NO_CONTACT
        elif profile_id in capped:
            row.status = RecipientStatus.CAPPED
        elif target[0] in wecom_full:
            row.status = RecipientStatus.WECOM_LIMIT
        else:
            by_sender.setdefault(target[2], []).append(row)
        rows.append(row)

    batches: list[BroadcastBatch] = []
    for sender_id, group in sorted(by_sender.items()):
        group.sort(key=lambda r: r.external_userid)
        for i in range(0, len(group), BATCH_MAX):
            batch = BroadcastBatch(org_id=broadcast.org_id, broadcast=broadcast, number=len(batches) + 1,
                                   sender_id=sender_id, size=len(group[i:i + BATCH_MAX]))
            batches.append(batch)
            for row in group[i:i + BATCH_MAX]:
                row.batch = batch
    BroadcastBatch.objects.bulk_create(batches)
    for row in rows:  # bulk_create set the batches' primary keys after the rows were linked to them
        if row.batch is not None:
            row.batch_id = row.batch.pk
    BroadcastRecipient.objects.bulk_create(rows, batch_size=INSERT_CHUNK)
    for batch in batches:
        scheduled.schedule(action=SEND, key=send_key(batch), due_at=now, args={"batch_id": batch.pk},
                           org_id=broadcast.org_id)
    broadcast.status = Broadcast.Status.SENDING if batches else Broadcast.Status.DONE
    broadcast.planned_at = now
    if not batches:
        broadcast.handed_at = broadcast.finished_at = now
    broadcast.save(update_fields=["status", "planned_at", "handed_at", "finished_at"])
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
