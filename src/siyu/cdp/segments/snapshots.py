"""Frozen member lists for broadcasts: the rule evaluated now, written set-based, never changed afterwards.

A snapshot may be narrowed to the profiles that may be contacted for a consent purpose on a channel (the same
consent condition the rule builder offers, i.e. :func:`cdp.consent.may_contact`'s rule), so a broadcast reads
a list that was already checked when it was frozen.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import F

from siyu.kernel import clock
from siyu.kernel.actor import Actor

from ..models import Segment, SegmentSnapshot, SegmentSnapshotMember
from .compiler import Compiler, tune_session
from .rules import Group, Node, Validator


def take(actor: Actor, segment: Segment, *, label: str = "", consent_purpose: str = "", channel: str = "") -> SegmentSnapshot:
    """Evaluate ``segment`` over the whole organisation now and freeze the result (optionally only profiles
    with consent for ``consent_purpose`` on ``channel``)."""
    system = Actor.system(actor.org_id)
    validator = Validator(system)
    node: Node = validator.parse(segment.rules)
    if consent_purpose:
        consent = validator.parse({"type": "consent", "purpose": consent_purpose, "channel": channel},
                                  path="consent")
        node = Group("and", (node, consent))
    tune_session()
    snapshot = SegmentSnapshot.objects.create(org_id=actor.org_id, segment=segment, purpose=label[:120])
    target = Compiler(system, now=clock.now()).profiles(node).values(pid=F("pk"))
    sql, params = target.query.sql_with_params()
    table = connection.ops.quote_name(SegmentSnapshotMember._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(f"INSERT INTO {table} (snapshot_id, profile_id) SELECT %s, t.pid FROM ({sql}) t",  # noqa: S608
                    [snapshot.pk, *params])
        count = cur.rowcount
    SegmentSnapshot.objects.filter(pk=snapshot.pk).update(member_count=count)
    snapshot.member_count = count
    return snapshot


def member_ids(snapshot: SegmentSnapshot) -> list[int]:
    """Every profile id of the snapshot, ascending (for a broadcast that sends to all of them)."""
    return list(SegmentSnapshotMember.objects.filter(snapshot=snapshot).order_by("profile_id")
                .values_list("profile_id", flat=True))
