"""Reads of the WeCom channel for the API and the console, already scoped to the actor's organisation (the edge
checks ``channels.wecom.read`` / ``channels.livecode.read``); external contacts also to the actor's data scope on
customers (``ExternalContact.scope_condition``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound

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
    """The contacts the actor may see: all of the organisation's, or with a narrower customer scope those its
    members follow and those whose profile the actor may see."""
    qs = _corp_filter(ExternalContact.objects.visible_to(actor), actor, corp_pk).select_related("corp")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(external_userid=q))
    return qs


def external_contact_of(actor: Actor, contact_pk: Any) -> ExternalContact:
    """One contact in the actor's scope; another organisation's, or one outside the scope, is not found."""
    try:
        pk = int(contact_pk)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    contact = ExternalContact.objects.visible_to(actor).filter(pk=pk).select_related("corp").first()
    if contact is None:
        raise NotFound("not found")
    return contact


def visible_contact_ids(actor: Actor) -> QuerySet:
    """The ids of the contacts the actor may see, as a subquery for rows that point at a contact (group members,
    transfers, follow relations)."""
    return ExternalContact.objects.visible_to(actor).values("pk")


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


def corp_tag_names(actor: Actor, corp: Corp, tag_ids: set[str]) -> dict[str, str]:
    """Corp tag id -> name (deleted tags too: a relation may still carry one), for a page naming a relation's tags."""
    if not tag_ids:
        return {}
    return dict(CorpTag.objects.in_org(actor).filter(corp=corp, tag_id__in=tag_ids).values_list("tag_id", "name"))
