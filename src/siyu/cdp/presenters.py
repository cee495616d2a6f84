"""Profiles and what hangs off them as plain dictionaries for the API and the console: field security applied
(hidden fields left out), identifiers always masked (revealing is a separate, audited request)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from siyu.kernel import crypto
from siyu.kernel.actor import Actor
from siyu.platform.selectors import ObjectMeta
from siyu.platform.serialization import serialize_record

from . import timeline
from .identifiers import MASK_KIND
from .models import Identity, MergeLog, MergeReview, Profile

OBJECT = "cdp.profile"

# Labels of the timeline kinds the CDP registers, marked so that the catalogue has them (they are shown with
# gettext at render time; kinds other contexts register bring their own translations).
TIMELINE_LABELS = [
    gettext_noop("Event"), gettext_noop("Tag added"), gettext_noop("Tag removed"), gettext_noop("Consent granted"),
    gettext_noop("Consent withdrawn"), gettext_noop("Lifecycle stage changed"), gettext_noop("Profiles merged"),
    gettext_noop("Profile created"), gettext_noop("Profile updated"), gettext_noop("Owner changed"),
    gettext_noop("Identifier added"), gettext_noop("Identifier removed"), gettext_noop("Merge undone"),
]
STAGE_LABELS = [gettext_noop("Lead acquisition"), gettext_noop("Nurturing"), gettext_noop("Opportunity"),
                gettext_noop("Order"), gettext_noop("Service"), gettext_noop("Repurchase")]
REVIEW_STATUS_LABELS = [gettext_noop("Pending"), gettext_noop("Approved"), gettext_noop("Rejected")]
PURPOSE_LABELS = [gettext_noop("Marketing messages"), gettext_noop("Profiling and personalisation"),
                  gettext_noop("WeCom conversation archiving"), gettext_noop("Sensitive personal information")]


def masked_identity(row: Identity) -> str:
    return crypto.mask(crypto.decrypt(row.value, context=f"cdp.identity.{row.type}"), MASK_KIND.get(row.type, "text"))


def identity_data(row: Identity) -> dict[str, Any]:
    return {"id": row.pk, "type": row.type, "namespace": row.namespace, "masked": masked_identity(row),
            "source": row.source, "created_at": row.created_at}


def profile_data(actor: Actor, meta: ObjectMeta, p: Profile) -> dict[str, Any]:
    """The list form: standard fields and custom fields (``custom``), minus what the actor may not see."""
    out = serialize_record(actor, meta, p)
    out["custom"] = out.pop("data")
    out["status"] = p.status
    return out


def profile_detail_data(actor: Actor, meta: ObjectMeta, p: Profile) -> dict[str, Any]:
    """The 360° header: the list form plus identities (masked), tags, owner, account and merge state."""
    hidden = actor.hidden_fields(OBJECT)
    out = profile_data(actor, meta, p)
    out["merged_into_id"] = p.merged_into_id
    if "identities" not in hidden:
        out["identities"] = [identity_data(i) for i in p.identities.all()]
    if "tags" not in hidden:
        out["tags"] = [tag_data(link.tag) for link in p.tag_links.all()]
    if "owner_id" not in hidden:
        out["owner"] = {"id": p.owner.pk, "name": p.owner.name or p.owner.email} if p.owner else None
    if "account_id" not in hidden:
        out["account"] = {"id": p.account.pk, "name": p.account.name} if p.account else None
    return out


def tag_data(tag) -> dict[str, Any]:
    return {"id": tag.pk, "group": tag.group.name, "name": tag.name, "group_kind": tag.group.kind,
            "channel": tag.group.channel}


def timeline_data(entry, actor=None) -> dict[str, Any]:
    kind = timeline.kind_of(entry.kind)
    try:
        summary = str(kind.summary(entry.data or {}))
    except Exception:  # noqa: BLE001 - one badly shaped entry must not break the page
        summary = ""
    link = None
    if kind.link and actor is not None and (not kind.link_permission or actor.can(kind.link_permission)):
        try:
            link = kind.link(entry.profile_id, entry.data or {})
        except Exception:  # noqa: BLE001 - as above
            link = None
    return {"id": entry.pk, "kind": entry.kind, "label": kind.label, "icon": kind.icon, "summary": summary,
            "at": entry.at, "ref_type": entry.ref_type, "ref_id": entry.ref_id, "link": link}


def consent_record_data(rec) -> dict[str, Any]:
    return {"id": rec.pk, "purpose": rec.purpose.key, "channel": rec.channel, "granted": rec.granted, "at": rec.at,
            "source": rec.source, "notice_version": rec.notice_version, "actor_user_id": rec.actor_user_id,
            "evidence": rec.evidence}


def consent_state_data(state) -> dict[str, Any]:
    return {"purpose": state.purpose.key, "label": state.purpose.label, "channel": state.channel,
            "granted": state.granted, "at": state.record.at if state.record else None,
            "source": state.record.source if state.record else None}


def stage_data(d) -> dict[str, Any]:
    return {"key": d.key, "label": d.label, "order": d.order}


def transition_data(t) -> dict[str, Any]:
    return {"stage": t.stage, "entered_at": t.entered_at, "exited_at": t.exited_at}


def review_data(r: MergeReview) -> dict[str, Any]:
    return {"id": r.pk, "profiles": list(r.profiles), "reason": r.reason, "status": r.status,
            "identifiers": [list(i) for i in (r.trigger or {}).get("identifiers", [])],
            "source": (r.trigger or {}).get("source", ""), "created_at": r.created_at, "decided_at": r.decided_at,
            "decided_by_id": r.decided_by_id}


def merge_data(m: MergeLog) -> dict[str, Any]:
    return {"id": m.pk, "survivor_id": m.survivor_id, "merged_id": m.merged_id, "reason": m.reason,
            "created_at": m.created_at, "undone_at": m.undone_at, "actor_user_id": m.actor_user_id,
            "survivor_name": m.survivor.name, "merged_name": m.merged.name}
