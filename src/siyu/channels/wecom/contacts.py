"""External contacts and follow relations: upserts from WeCom's answers, ordering rules for adds and deletions
that arrive out of order, and telling the CDP (profile through identity resolution, tags, source and channel,
timeline) exactly once per add.

Callbacks (``processing.py``) and syncs (``sync.py``) both end here, so a relation a missed callback left out and
a reconcile found later gets the same profile, tags and timeline entry, and one found by both gets them once:
``FollowRelation.announced`` records that the CDP was told about the current add.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction

from siyu.cdp import profiles as cdp_profiles
from siyu.cdp import tags as cdp_tags
from siyu.cdp.resolution import live
from siyu.cdp.timeline import add_entry
from siyu.kernel import clock, encrypted, events
from siyu.kernel.actor import Actor

from . import timeline_kinds
from .events import ContactAdded, ContactDeleted
from .models import Corp, CorpTag, DeletedBy, Employee, ExternalContact, FollowRelation, LiveCode

SOURCE = "wecom"


def system_actor(corp: Corp) -> Actor:
    """Callbacks and syncs act for the whole organisation of the corp (no person is acting)."""
    return Actor.system(corp.org_id, label="wecom")


def at_from(value: Any) -> dt.datetime | None:
    """WeCom's second timestamps (``createtime``) as aware datetimes."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC) if seconds > 0 else None


# --- upserts --------------------------------------------------------------------------------------------------


def employee_for(corp: Corp, userid: str, *, follow_user: bool | None = None) -> Employee:
    """The employee with ``userid`` (a stub when a callback names one the employee sync has not seen yet)."""
    qs = Employee.objects.in_org(system_actor(corp))
    employee, _ = qs.get_or_create(corp=corp, userid=userid[:64], defaults={"org_id": corp.org_id})
    if follow_user and not employee.is_follow_user:
        employee.is_follow_user = True
        employee.save(update_fields=["is_follow_user", "updated_at"])
    return employee


def upsert_contact(corp: Corp, data: Mapping[str, Any]) -> ExternalContact:
    """Create or refresh an external contact from WeCom's ``external_contact`` object (or just its id).

    A new contact is inserted with its details (one INSERT, not an INSERT and then an UPDATE of the same row)."""
    external_userid = str(data.get("external_userid") or "")[:64]
    qs = ExternalContact.objects.in_org(system_actor(corp))
    if "name" not in data:  # only the id is known (a deletion, or a contact WeCom no longer shows)
        contact, _ = qs.get_or_create(corp=corp, external_userid=external_userid, defaults={"org_id": corp.org_id})
        return contact
    contact = qs.filter(corp=corp, external_userid=external_userid).first()
    new = contact is None
    if new:
        contact = ExternalContact(org_id=corp.org_id, corp=corp, external_userid=external_userid)
    contact.name = str(data.get("name") or "")[:120]
    contact.type = _int(data.get("type"), 1)
    contact.gender = _int(data.get("gender"), 0)
    contact.avatar = str(data.get("avatar") or "")[:500]
    contact.corp_name = str(data.get("corp_name") or "")[:120]
    contact.position = str(data.get("position") or "")[:120]
    encrypted.set_encrypted(contact, "unionid", str(data.get("unionid") or ""))
    contact.detail_synced_at = clock.now()
    if new and not _inserted(contact):
        return upsert_contact(corp, data)  # another job inserted it meanwhile: refresh that row
    if not new:
        contact.save()
    return contact


def _inserted(row) -> bool:
    """Insert ``row`` in a savepoint; False when a concurrent job inserted the same unique key first (the
    caller then reads and updates that row, as ``get_or_create`` would have)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        row.pk = None
        return False
    return True


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def tag_ids_of(info: Mapping[str, Any]) -> list[str]:
    """Corp tag ids of a follow entry: ``tags[{tag_id, type}]`` (externalcontact/get) or ``tag_id[]`` (batch)."""
    if isinstance(info.get("tag_id"), list):
        return sorted({str(t) for t in info["tag_id"] if t})
    return sorted({str(t.get("tag_id")) for t in info.get("tags") or () if isinstance(t, Mapping)
                   and t.get("tag_id") and int(t.get("type") or 1) == 1})


def live_code_for_state(corp: Corp, state: str) -> LiveCode | None:
    if not state:
        return None
    return LiveCode.objects.in_org(system_actor(corp)).filter(corp=corp, state=state).first()


def apply_add(corp: Corp, contact: ExternalContact, employee: Employee, info: Mapping[str, Any], *,
              at: dt.datetime | None, half: bool = False, state: str = "") -> tuple[FollowRelation, bool]:
    """Record that ``contact`` added ``employee`` (callback time or the follow entry's ``createtime`` ``at``).

    Returns the relation and whether it is live after this add. An add older than a deletion already applied
    leaves the relation deleted (the deletion came later in reality); a newer one revives it as a new add."""
    qs = FollowRelation.objects.in_org(system_actor(corp))
    relation = qs.filter(employee=employee, external_contact=contact).first()
    new = relation is None
    if new:  # built here and inserted once below, with what this add says (not an INSERT and then an UPDATE)
        relation = FollowRelation(org_id=corp.org_id, corp=corp, employee=employee, external_contact=contact)
    added_at = at_from(info.get("createtime")) or at or clock.now()
    state = str(info.get("state") or state or relation.state or "")[:30]
    # An add older than (or as old as) the deletion already applied: the deletion is the newer fact.
    stale = relation.deleted and relation.event_at is not None and added_at <= relation.event_at
    if relation.deleted and not stale:  # added again after a deletion: a new add
        relation.deleted, relation.deleted_at, relation.deleted_by = False, None, ""
        relation.announced, relation.welcome_status, relation.added_at = False, "", None
    if relation.added_at is None:
        relation.added_at = added_at
    if info:
        relation.remark = str(info.get("remark") or "")[:120]
        relation.description = str(info.get("description") or "")[:300]
        if info.get("add_way") is not None:
            relation.add_way = _int(info.get("add_way"), 0)
        relation.oper_userid = str(info.get("oper_userid") or "")[:64]
        relation.tag_ids = tag_ids_of(info)
    relation.state = state
    relation.live_code = live_code_for_state(corp, state) or relation.live_code
    relation.half = half and not relation.deleted
    if not stale:
        relation.event_at = max(filter(None, (relation.event_at, added_at)))
    if new and not _inserted(relation):  # another job inserted it meanwhile: apply this add to that row
        return apply_add(corp, contact, employee, info, at=at, half=half, state=state)
    if not new:
        relation.save()
    return relation, not relation.deleted


def apply_delete(corp: Corp, contact: ExternalContact, employee: Employee, *, at: dt.datetime | None,
                 deleted_by: str) -> tuple[FollowRelation, bool]:
    """Record the end of a relation; returns it and whether this call deleted it (False: already deleted, or a
    deletion older than an add already applied)."""
    qs = FollowRelation.objects.in_org(system_actor(corp))
    relation, _ = qs.get_or_create(employee=employee, external_contact=contact,
                                   defaults={"org_id": corp.org_id, "corp": corp})
    at = at or clock.now()
    if relation.deleted:
        return relation, False
    if relation.event_at is not None and at < relation.event_at:
        return relation, False  # the customer added again after this deletion
    relation.deleted, relation.deleted_at, relation.deleted_by = True, at, deleted_by
    relation.event_at, relation.half = at, False
    relation.save()
    _announce_deletion(corp, relation)
    return relation, True


# --- telling the CDP ---------------------------------------------------------------------------------------------


def announce(corp: Corp, relation: FollowRelation) -> bool:
    """Resolve the contact's profile and give it the add: tags (the relation's corp tags and the live code's),
    source and channel where blank, a ``WeCom Contact Added`` timeline entry and a ``ContactAdded`` event. Once
    per add: False when this add was already announced."""
    if relation.announced:
        return False
    contact = relation.external_contact
    employee = relation.employee
    live_code = relation.live_code
    profile = resolve_profile(corp, contact, employee=employee, live_code=live_code)
    wanted = set(relation.tag_ids) | set(live_code.tag_ids if live_code else ())
    _add_cdp_tags(corp, profile, wanted)
    add_entry(profile=profile, kind=timeline_kinds.CONTACT_ADDED, at=relation.added_at or clock.now(),
              ref_type="wecom.follow_relation", ref_id=str(relation.pk),
              data={"corp": corp.corp_id, "employee": employee.name or employee.userid, "userid": employee.userid,
                    "state": relation.state, "live_code": live_code.name if live_code else "",
                    "add_way": relation.add_way})
    relation.announced = True
    relation.save(update_fields=["announced", "updated_at"])
    events.emit(ContactAdded(org_id=corp.org_id, corp_id=corp.corp_id, external_userid=contact.external_userid,
                             userid=employee.userid, profile_id=profile.pk, state=relation.state,
                             live_code_id=live_code.pk if live_code else None))
    return True


def resolve_profile(corp: Corp, contact: ExternalContact, *, employee: Employee | None = None,
                    live_code: LiveCode | None = None):
    """The contact's CDP profile through its ``external_userid`` (namespaced by the corp) and ``unionid``
    identities, created when none matches; blank name, source, channel and owner are filled in."""
    identifiers: list[dict[str, str]] = [
        {"type": "wecom_external_userid", "value": contact.external_userid, "namespace": corp.corp_id}]
    unionid = encrypted.reveal(contact, "unionid")
    if unionid:
        identifiers.append({"type": "unionid", "value": unionid})
    owner = employee.membership.user_id if employee and employee.membership_id and employee.membership.is_active \
        else None
    # WeChat nicknames may carry control characters the CDP refuses; the profile gets the printable part.
    name = "".join(c for c in contact.name if c.isprintable()).strip()
    data = {"name": name or None,
            "source": (live_code.source_label if live_code else "") or SOURCE,
            "channel": (live_code.channel_label or live_code.name) if live_code else None}
    written = cdp_profiles.create_profile(actor=system_actor(corp), data=data, identifiers=identifiers,
                                          owner_id=owner, source=SOURCE)
    profile = written.profile
    if contact.profile_id != profile.pk:
        contact.profile = profile
        contact.save(update_fields=["profile", "updated_at"])
    return profile


def current_profile(contact: ExternalContact):
    """The live profile the contact is linked to (following merges), or None before its first add."""
    return live(contact.profile) if contact.profile_id else None


def _cdp_tags(corp: Corp, tag_ids: Iterable[str]) -> list:
    """The CDP tags (channel-reserved group per WeCom tag group) of known, live corp tags."""
    from .tags import cdp_tag_for  # tags.py imports this module

    tag_ids = list(tag_ids)
    if not tag_ids:
        return []  # most contacts carry no corp tag: no query
    rows = CorpTag.objects.in_org(system_actor(corp)).filter(corp=corp, tag_id__in=tag_ids, deleted=False)
    return [cdp_tag_for(corp, row) for row in rows.order_by("group_order", "order", "pk")]


def _add_cdp_tags(corp: Corp, profile, tag_ids: Iterable[str]) -> None:
    tags = _cdp_tags(corp, tag_ids)
    if tags:
        cdp_tags.add_tags(actor=system_actor(corp), profile=profile, tags=tags, source=SOURCE)


def sync_relation_tags(corp: Corp, relation: FollowRelation, new_tag_ids: Iterable[str]) -> None:
    """The relation's corp tags changed in WeCom (a member edited them in the client): mirror on the profile.
    A tag is removed from the profile only when no other live relation of the contact still carries it."""
    new = sorted(set(new_tag_ids))
    old = set(relation.tag_ids)
    relation.tag_ids = new
    relation.save(update_fields=["tag_ids", "updated_at"])
    profile = current_profile(relation.external_contact)
    if profile is None:
        return
    _add_cdp_tags(corp, profile, set(new) - old)
    others = FollowRelation.objects.in_org(system_actor(corp)).filter(external_contact_id=relation.external_contact_id,
                                                                      deleted=False) \
        .exclude(pk=relation.pk).values_list("tag_ids", flat=True)
    still = {t for ids in others for t in ids}
    gone = _cdp_tags(corp, old - set(new) - still)
    if gone:
        cdp_tags.remove_tags(actor=system_actor(corp), profile=profile, tags=gone, source=SOURCE)


def _announce_deletion(corp: Corp, relation: FollowRelation) -> None:
    contact = relation.external_contact
    profile = current_profile(contact)
    if profile is None:
        return
    employee = relation.employee
    add_entry(profile=profile, kind=timeline_kinds.CONTACT_DELETED, at=relation.deleted_at or clock.now(),
              ref_type="wecom.follow_relation", ref_id=str(relation.pk),
              data={"corp": corp.corp_id, "employee": employee.name or employee.userid, "userid": employee.userid,
                    "deleted_by": relation.deleted_by})
    events.emit(ContactDeleted(org_id=corp.org_id, corp_id=corp.corp_id, external_userid=contact.external_userid,
                               userid=employee.userid, deleted_by=relation.deleted_by, profile_id=profile.pk))


DELETED_BY = {"del_follow_user": DeletedBy.CUSTOMER, "del_external_contact": DeletedBy.EMPLOYEE}
