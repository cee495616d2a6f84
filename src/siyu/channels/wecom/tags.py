"""Corp tags both ways: WeCom's tag groups and tags ↔ CDP channel-reserved tag groups (``kind="channel"``,
``channel="wecom"``), and ``mark_tag`` when Siyu tags a customer.

* WeCom → Siyu: :func:`pull_corp_tags` reads ``get_corp_tag_list`` and mirrors every group and tag (``CorpTag``)
  with its CDP tag; tags gone from WeCom are marked deleted. A ``change_external_tag`` callback triggers it.
* Siyu → WeCom: :func:`create_corp_tags` calls ``add_corp_tag`` and mirrors the answer at once (WeCom sends no
  callback for changes made through the API); :func:`tag_contact` calls ``mark_tag`` on every live follow
  relation of the customer and adds/removes the CDP tags with source ``wecom``. CDP groups reserved for WeCom
  refuse tags from any other source, so a WeCom tag on a profile always means a WeCom tag on the customer.

A CDP group is named ``<corp name>·<WeCom group name>`` so two corps' groups of the same name stay apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from siyu.cdp import tags as cdp_tags
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import ValidationFailed

from .contacts import SOURCE, current_profile, system_actor
from .corps import client_for, require
from .models import Corp, CorpTag, FollowRelation
from .selectors import external_contact_of


def cdp_group_name(corp: Corp, group_name: str) -> str:
    return f"{(corp.name or corp.corp_id)[:40]}·{group_name}"[:80]


def cdp_tag_for(corp: Corp, row: CorpTag):
    """The CDP tag of a corp tag (created in the WeCom-reserved group on first use)."""
    tag = cdp_tags.get_or_create_tag(actor=system_actor(corp), group=cdp_group_name(corp, row.group_name),
                                     name=row.name[:80], kind="channel", channel=SOURCE)
    if row.cdp_tag_id != tag.pk:
        row.cdp_tag_id = tag.pk
        row.save(update_fields=["cdp_tag_id", "updated_at"])
    return tag


def _mirror_group(corp: Corp, group: Mapping[str, Any]) -> list[CorpTag]:
    qs = CorpTag.objects.in_org(system_actor(corp))
    rows = []
    for tag in group.get("tag") or ():
        row, _ = qs.get_or_create(corp=corp, tag_id=str(tag.get("id"))[:64],
                                  defaults={"org_id": corp.org_id, "name": "", "group_id": "", "group_name": ""})
        row.name = str(tag.get("name") or "")[:60]
        row.group_id = str(group.get("group_id") or "")[:64]
        row.group_name = str(group.get("group_name") or "")[:60]
        row.order = int(tag.get("order") or 0)
        row.group_order = int(group.get("order") or 0)
        row.deleted = bool(tag.get("deleted")) or bool(group.get("deleted"))
        row.save()
        if not row.deleted and row.name and row.group_name:
            cdp_tag_for(corp, row)
        rows.append(row)
    return rows


def pull_corp_tags(corp: Corp) -> dict[str, int]:
    """Mirror WeCom's whole tag library; returns counts (``tags``, ``deleted``)."""
    data = client_for(corp).get_corp_tag_list()
    seen: set[str] = set()
    for group in data.get("tag_group") or ():
        seen.update(row.tag_id for row in _mirror_group(corp, group))
    gone = CorpTag.objects.in_org(system_actor(corp)).filter(corp=corp, deleted=False).exclude(tag_id__in=seen)
    deleted = gone.update(deleted=True)
    return {"tags": len(seen), "deleted": deleted}


def create_corp_tags(*, actor: Actor, corp: Corp, group_name: str, names: Sequence[str]) -> list[CorpTag]:
    """Add tags (and their group when new) in WeCom, then mirror them; the client checks WeCom's limits."""
    require(actor, "channels.wecom.manage")
    names = [n.strip() for n in names if n and n.strip()]
    group_name = (group_name or "").strip()
    if not names:
        raise ValidationFailed("no tag names", fields={"names": ["required"]})
    existing = CorpTag.objects.in_org(actor).filter(corp=corp, group_name=group_name, deleted=False).first()
    kwargs = {"group_id": existing.group_id} if existing else {"group_name": group_name}
    answer = client_for(corp).add_corp_tag(tags=[{"name": n} for n in names], **kwargs)
    group = dict(answer.get("tag_group") or {})
    group.setdefault("group_name", group_name)
    rows = _mirror_group(corp, group)
    record_write(actor, "create", "wecom.corp_tag", corp.pk,
                 {"tags": [None, sorted(f"{group_name}/{r.name}" for r in rows)]})
    return rows


def tags_of(actor: Actor, corp: Corp, tag_ids: Sequence[str]) -> list[CorpTag]:
    """Live corp tags by WeCom id; an unknown id is a 422 naming it."""
    wanted = [str(t) for t in tag_ids]
    rows = list(CorpTag.objects.in_org(actor).filter(corp=corp, tag_id__in=wanted, deleted=False))
    unknown = sorted(set(wanted) - {r.tag_id for r in rows})
    if unknown:
        raise ValidationFailed("unknown tags", fields={"tag_ids": [f"no corp tag {t}" for t in unknown]})
    return rows


def tag_contact(*, actor: Actor, contact_pk: Any, add: Sequence[str] = (), remove: Sequence[str] = ()) -> int:
    """Add and/or remove corp tags (WeCom ids) on a customer: ``mark_tag`` for each live follow relation, then
    the same tags on the CDP profile. Returns how many relations were marked."""
    require(actor, "channels.wecom.manage")
    contact = external_contact_of(actor, contact_pk)  # outside the actor's customer scope: not found
    corp = contact.corp
    adding, removing = tags_of(actor, corp, add), tags_of(actor, corp, remove)
    if not adding and not removing:
        raise ValidationFailed("nothing to do", fields={"add": ["add or remove at least one tag"]})
    relations = list(FollowRelation.objects.in_org(actor).filter(external_contact=contact, deleted=False)
                     .select_related("employee"))
    client = client_for(corp)
    for relation in relations:
        client.mark_tag(userid=relation.employee.userid, external_userid=contact.external_userid,
                        add_tag=[t.tag_id for t in adding], remove_tag=[t.tag_id for t in removing])
        relation.tag_ids = sorted((set(relation.tag_ids) | {t.tag_id for t in adding})
                                  - {t.tag_id for t in removing})
        relation.save(update_fields=["tag_ids", "updated_at"])
    profile = current_profile(contact)
    if profile is not None:
        if adding:
            cdp_tags.add_tags(actor=actor, profile=profile, tags=[cdp_tag_for(corp, t) for t in adding],
                              source=SOURCE)
        if removing:
            cdp_tags.remove_tags(actor=actor, profile=profile, tags=[cdp_tag_for(corp, t) for t in removing],
                                 source=SOURCE)
    record_write(actor, "update", "wecom.external_contact", contact.pk,
                 {"tags": [sorted(t.tag_id for t in removing) or None, sorted(t.tag_id for t in adding) or None]})
    return len(relations)


def mark_live_code_tags(corp: Corp, relation: FollowRelation, tag_ids: Sequence[str]) -> list[str]:
    """``mark_tag`` the live code's tags the relation lacks in WeCom; returns the ids added."""
    missing = sorted(set(tag_ids) - set(relation.tag_ids))
    live = [t.tag_id for t in CorpTag.objects.in_org(system_actor(corp)).filter(corp=corp, tag_id__in=missing,
                                                                                deleted=False)]
    if not live or relation.deleted or relation.half:
        return []
    client_for(corp).mark_tag(userid=relation.employee.userid,
                              external_userid=relation.external_contact.external_userid, add_tag=live)
    relation.tag_ids = sorted(set(relation.tag_ids) | set(live))
    relation.save(update_fields=["tag_ids", "updated_at"])
    return live
