"""CDP writes other than a profile's own fields: tags, consent, lifecycle (and the organisation's stage model),
merge reviews and unmerges. Profile create/update/delete/owner/identities are in ``profiles.py``.

Same rules: the permission is checked again here, records are found through the actor's scope (404 otherwise),
everything is validated before the first write, every write is audited in its transaction, nothing commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from siyu.iam.fieldsec import ensure_writable
from siyu.kernel import auditing, clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed

from . import consent, lifecycle, merging, search
from .models import (
    ConsentRecord,
    LifecycleStageDefinition,
    MergeLog,
    MergeReview,
    Profile,
    ProfileStatus,
    Tag,
)
from .profiles import check_stage, ensure_tag, require, visible_profile
from .resolution import live
from .timeline import add_entry

STAGE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_STAGES = 20

# --- tags --------------------------------------------------------------------------------------------------


def create_tag(*, actor: Actor, group: str, name: str) -> Tag:
    """A manual tag in a (new or existing) group; a tag that exists is returned as it is."""
    require(actor, "cdp.tag.manage")
    return ensure_tag(actor=actor, group=group, name=name)


# --- consent ------------------------------------------------------------------------------------------------


def record_consent(
    *, actor: Actor, profile_id: Any, purpose: str, granted: bool, channel: str = "", source: str = "console",
    notice_version: str = "", evidence: Mapping[str, Any] | None = None,
) -> ConsentRecord:
    """Append a grant or a withdrawal to the profile's ledger, with its evidence and the acting user."""
    require(actor, "cdp.consent.manage")
    profile = visible_profile(actor, profile_id)
    consent.ensure_default_purposes(actor=actor)
    return consent.record_consent(actor=actor, profile=profile, purpose=purpose, granted=granted, channel=channel,
                                  source=source, notice_version=notice_version, evidence=dict(evidence or {}))


# --- lifecycle ----------------------------------------------------------------------------------------------


def set_lifecycle_stage(*, actor: Actor, profile_id: Any, stage: str) -> bool:
    """Move the profile to ``stage`` (closing the open stage); False when it is there already."""
    require(actor, "cdp.profile.update")
    profile = visible_profile(actor, profile_id)
    ensure_writable(actor, "cdp.profile", ["lifecycle_stage"])
    check_stage(actor, stage)
    return lifecycle.set_stage(actor=actor, profile=profile, stage=stage)


def configure_stages(*, actor: Actor, stages: list[Mapping[str, Any]]) -> list[LifecycleStageDefinition]:
    """Rename, reorder, add and drop the organisation's lifecycle stages: ``stages`` is the whole new list in
    order (``key`` + ``label``). Keys never change (history refers to them); a stage that profiles are in, or
    have been in, cannot be dropped."""
    require(actor, "cdp.lifecycle.manage")
    lifecycle.ensure_default_stages(actor=actor)
    errors: dict[str, list[str]] = {}
    if not stages or len(stages) > MAX_STAGES:
        raise ValidationFailed("bad stages", fields={"stages": [f"1 to {MAX_STAGES} stages"]})
    seen: set[str] = set()
    for n, s in enumerate(stages):
        key, label = s.get("key"), s.get("label")
        if not isinstance(key, str) or not STAGE_KEY.match(key):
            errors[f"stages.{n}.key"] = ["lower-case letters, digits and _, starting with a letter"]
        elif key in seen:
            errors[f"stages.{n}.key"] = ["appears twice"]
        seen.add(key if isinstance(key, str) else "")
        if not isinstance(label, str) or not label.strip() or len(label.strip()) > 80:
            errors[f"stages.{n}.label"] = ["1 to 80 characters"]
    current = {d.key: d for d in LifecycleStageDefinition.objects.in_org(actor)}
    dropped = sorted(set(current) - seen)
    from .models import LifecycleTransition

    for key in dropped:
        if Profile.objects.in_org(actor).filter(lifecycle_stage=key).exists() or \
                LifecycleTransition.objects.in_org(actor).filter(stage=key).exists():
            errors.setdefault("stages", []).append(f"{key} is in use and cannot be removed")
    if errors:
        raise ValidationFailed("the stages are not valid", fields=errors)
    before = [[d.key, d.label] for d in sorted(current.values(), key=lambda d: d.order)]
    LifecycleStageDefinition.objects.in_org(actor).filter(key__in=dropped).delete()
    out = []
    for order, s in enumerate(stages):
        d = current.get(s["key"]) or LifecycleStageDefinition(org_id=actor.org_id, key=s["key"])
        d.label, d.order = s["label"].strip(), order
        d.save()
        out.append(d)
    after = [[d.key, d.label] for d in out]
    if before != after:
        auditing.record_write(actor, "update", "cdp.lifecycle_stage", actor.org_id, {"stages": [before, after]})
    return out


# --- merge reviews and the merge log --------------------------------------------------------------------------


def _review(actor: Actor, review_id: Any) -> MergeReview:
    try:
        pk = int(review_id)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    review = MergeReview.objects.in_org(actor).filter(pk=pk).first()
    if review is None:
        raise NotFound("not found")
    return review


def _review_profiles(actor: Actor, review: MergeReview) -> list[Profile]:
    """The live profiles a review joins; every one must be in the actor's scope, else the review is not
    theirs to decide (404, as for any record out of scope)."""
    profiles = {}
    for p in Profile.objects.in_org(actor).filter(pk__in=review.profiles):
        p = live(p)
        profiles[p.pk] = p
    visible = set(Profile.objects.visible_to(actor).filter(pk__in=list(profiles)).values_list("pk", flat=True))
    if not profiles or set(profiles) - visible:
        raise NotFound("not found")
    return sorted(profiles.values(), key=lambda p: p.pk)


def approve_review(*, actor: Actor, review_id: Any) -> MergeReview:
    """Do the merge the guard held back: every profile of the review into the oldest, each with a merge log."""
    require(actor, "cdp.profile.merge")
    review = _review(actor, review_id)
    profiles = _review_profiles(actor, review)
    if review.status != MergeReview.Status.PENDING:
        raise Conflict("this review was already decided", code="review_decided")
    survivor = profiles[0]
    for other in profiles[1:]:
        if other.status != ProfileStatus.ACTIVE:
            continue
        merging.merge_profiles(actor=actor, survivor=survivor, merged=other, reason=f"merge review #{review.pk}")
        add_entry(profile=survivor, kind="profile.merged", ref_type="cdp.merge_review", ref_id=str(review.pk),
                  data={"merged": other.pk})
        survivor.refresh_from_db()
    _decide(actor, review, MergeReview.Status.APPROVED)
    search.index_profiles(profiles)
    return review


def reject_review(*, actor: Actor, review_id: Any) -> MergeReview:
    """Keep the profiles apart."""
    require(actor, "cdp.profile.merge")
    review = _review(actor, review_id)
    _review_profiles(actor, review)
    if review.status != MergeReview.Status.PENDING:
        raise Conflict("this review was already decided", code="review_decided")
    _decide(actor, review, MergeReview.Status.REJECTED)
    return review


def _decide(actor: Actor, review: MergeReview, status: str) -> None:
    review.status, review.decided_by_id, review.decided_at = status, actor.user_id, clock.now()
    review.save(update_fields=["status", "decided_by_id", "decided_at", "updated_at"])
    auditing.record_write(actor, "approve" if status == MergeReview.Status.APPROVED else "reject",
                          "cdp.merge_review", review.pk, {"status": [MergeReview.Status.PENDING, status]},
                          profiles=review.profiles)


def undo_merge(*, actor: Actor, merge_id: Any) -> MergeLog:
    """Unmerge: both profiles as they were before (rows moved by the merge go back; later ones stay)."""
    require(actor, "cdp.profile.merge")
    try:
        pk = int(merge_id)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    log = MergeLog.objects.in_org(actor).filter(pk=pk).first()
    if log is None or not Profile.objects.visible_to(actor).filter(pk=log.survivor_id).exists():
        raise NotFound("not found")
    if log.undone_at is not None:
        raise Conflict("this merge was already undone", code="merge_undone")
    if Profile.objects.in_org(actor).filter(pk=log.survivor_id, status=ProfileStatus.MERGED).exists():
        raise Conflict("the surviving profile was merged again: undo that merge first", code="merge_stacked")
    merging.unmerge(actor=actor, log=log)
    add_entry(profile=log.survivor, kind="profile.unmerged", ref_type="cdp.merge", ref_id=str(log.pk),
              data={"merged": log.merged_id})
    search.index_profiles([log.survivor, log.merged])
    return log
