"""Reads of the WeCom channel for the API and the console, already scoped to the actor's organisation (the edge
checks ``channels.wecom.read`` / ``channels.livecode.read``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from siyu.kernel.actor import Actor

from .corps import corp_of
from .models import CallbackLog, Corp, CorpTag, Employee, ExternalContact, LiveCode, SyncRun


def _corp_filter(qs: QuerySet, actor: Actor, corp_pk: Any) -> QuerySet:
    return qs.filter(corp=corp_of(actor, corp_pk)) if corp_pk not in (None, "") else qs


def corps(actor: Actor) -> QuerySet:
    return Corp.objects.in_org(actor).annotate(last_callback=Max("callback_logs__received_at")).order_by("pk")


def employees(actor: Actor, *, corp_pk: Any = None, q: str = "") -> QuerySet:
    qs = _corp_filter(Employee.objects.in_org(actor), actor, corp_pk).select_related("corp", "membership__user")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(userid__icontains=q))
    return qs.annotate(contacts=Count("follow_relations", filter=Q(follow_relations__deleted=False)))


def external_contacts(actor: Actor, *, corp_pk: Any = None, q: str = "") -> QuerySet:
    qs = _corp_filter(ExternalContact.objects.in_org(actor), actor, corp_pk).select_related("corp")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(external_userid=q))
    return qs


def follows_of(actor: Actor, contacts: list[ExternalContact]) -> dict[int, list]:
    """Follow relations of these contacts (one query), for lists."""
    from .models import FollowRelation

    out: dict[int, list] = {c.pk: [] for c in contacts}
    rows = FollowRelation.objects.in_org(actor).filter(external_contact__in=contacts).select_related(
        "employee", "live_code").order_by("added_at", "pk")
    for row in rows:
        out[row.external_contact_id].append(row)
    return out


def live_codes(actor: Actor, *, corp_pk: Any = None, include_deleted: bool = False) -> QuerySet:
    qs = _corp_filter(LiveCode.objects.in_org(actor), actor, corp_pk).select_related("corp")
    if not include_deleted:
        qs = qs.filter(is_active=True)
    return qs.annotate(members_count=Count("members"))


def callback_logs(actor: Actor, *, corp_pk: Any = None, failed: bool = False) -> QuerySet:
    qs = _corp_filter(CallbackLog.objects.in_org(actor), actor, corp_pk).select_related("corp")
    if failed:
        qs = qs.filter(processed_at__isnull=True).exclude(error="")
    return qs.defer("body")


def sync_runs(actor: Actor, corp: Corp) -> QuerySet:
    return SyncRun.objects.in_org(actor).filter(corp=corp).order_by("-pk")


def corp_tags(actor: Actor, corp: Corp) -> QuerySet:
    return CorpTag.objects.in_org(actor).filter(corp=corp, deleted=False).order_by("group_order", "group_name",
                                                                                   "order", "name")
