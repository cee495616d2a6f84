"""Reads of profiles and what hangs off them, already scoped to what the actor may see.

Lists are querysets plus the ordering ``kernel.pagination.paginate`` takes (keyset, never OFFSET). Filters on
standard and custom fields go through the platform's ``apply_filters`` (metadata-driven, field security aware).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound, ValidationFailed
from siyu.kernel.pagination import Page, paginate
from siyu.platform.filtering import Filter, apply_filters
from siyu.platform.selectors import ObjectMeta, object_meta

from . import consent, lifecycle, search
from .identifiers import normalise
from .models import (
    ConsentPurpose,
    ConsentRecord,
    Identity,
    LifecycleStageDefinition,
    LifecycleTransition,
    MergeLog,
    MergeReview,
    Profile,
    ProfileKind,
    ProfileStatus,
    ProfileTag,
    Tag,
    TimelineEntry,
)
from .profiles import OBJECT, visible_profile

MAX_SEARCH = 50


def profile_meta(actor: Actor) -> ObjectMeta:
    """The platform's description of ``cdp.profile`` for this organisation (standard + custom fields)."""
    return object_meta(actor, OBJECT)


def active_profiles(actor: Actor) -> QuerySet:
    """Live profiles in the actor's scope (merged and deleted ones are not listed)."""
    return Profile.objects.visible_to(actor).filter(status=ProfileStatus.ACTIVE)


def visible_profile_pks(actor: Actor) -> QuerySet:
    """The pks of the profiles in the actor's scope and of the profiles merged into them, as a subquery (for
    another context's scope rule, e.g. WeCom contacts, whose profile link is refreshed only on their next add)."""
    visible = Profile.objects.visible_to(actor).values("pk")
    return Profile.objects.in_org(actor).filter(Q(pk__in=visible) | Q(merged_into__in=visible)).values("pk")


@dataclass(frozen=True)
class ProfileQuery:
    filters: tuple[Filter, ...] = ()
    sort: str | None = None
    kind: str | None = None
    tag_id: int | None = None
    lifecycle_stage: str | None = None
    owner_id: int | None = None
    account_id: int | None = None
    q: str | None = None  # an identifier (exact) or a name (fuzzy)


def list_profiles(actor: Actor, meta: ObjectMeta, query: ProfileQuery) -> tuple[QuerySet, list[str]]:
    """Profiles matching ``query`` and the keyset ordering (newest first unless sorted)."""
    qs = active_profiles(actor)
    if query.kind:
        if query.kind not in ProfileKind.values:
            raise ValidationFailed("bad kind", fields={"kind": [f"one of {', '.join(ProfileKind.values)}"]})
        qs = qs.filter(kind=query.kind)
    if query.tag_id is not None:
        qs = qs.filter(pk__in=ProfileTag.objects.in_org(actor).filter(tag_id=query.tag_id).values("profile_id"))
    if query.lifecycle_stage:
        qs = qs.filter(lifecycle_stage=query.lifecycle_stage)
    if query.owner_id is not None:
        qs = qs.filter(owner_id=query.owner_id)
    if query.account_id is not None:
        qs = qs.filter(account_id=query.account_id)
    if query.q and query.q.strip():
        exact = search.identifier_candidates(actor, query.q.strip())
        qs = search.profiles_with(qs, actor, exact) if _any_holder(actor, exact) else search.name_matches(
            qs, query.q).order_by()
    qs, order = apply_filters(qs, actor=actor, meta=meta, filters=list(query.filters), sort=query.sort)
    return qs, order or ["-id"]


def _any_holder(actor: Actor, identifiers) -> bool:
    return bool(identifiers) and search.profiles_with(active_profiles(actor), actor, identifiers).exists()


def page_profiles(actor: Actor, meta: ObjectMeta, query: ProfileQuery, *, cursor: str | None, limit: int) -> Page:
    qs, order = list_profiles(actor, meta, query)
    return paginate(qs, order=order, cursor=cursor, limit=limit)


def profile_detail(actor: Actor, profile_id: Any) -> Profile:
    """One profile with what its page shows, in three queries (the profile with owner and account, its
    identities, its tags); another organisation's, an out-of-scope or a deleted profile is not found."""
    try:
        pk = int(profile_id)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    profile = _with_detail(Profile.objects.visible_to(actor).exclude(status=ProfileStatus.DELETED).filter(pk=pk)).first()
    if profile is None:
        raise NotFound("not found")
    return profile


def _with_detail(qs: QuerySet) -> QuerySet:
    """``qs`` loading what the 360° header shows: owner and account joined, identities and tags prefetched."""
    links = ProfileTag.objects.select_related("tag__group").order_by("tag__group__order", "tag__group__name",
                                                                      "tag__order", "tag__name")
    return qs.select_related("owner", "account").prefetch_related(
        Prefetch("identities", Identity.objects.order_by("type", "pk")), Prefetch("tag_links", links))


def identity_of(actor: Actor, profile: Profile, identity_id: Any) -> Identity:
    try:
        pk = int(identity_id)
    except (TypeError, ValueError):
        raise NotFound("not found") from None
    row = Identity.objects.in_org(actor).filter(profile=profile, pk=pk).first()
    if row is None:
        raise NotFound("not found")
    return row


# --- search --------------------------------------------------------------------------------------------------


def lookup(actor: Actor, *, type: str, value: str, namespace: str = "") -> Profile:
    """The live profile holding exactly this identifier (blind index), in the actor's scope, loaded as
    :func:`profile_detail` loads it (so the answer needs no second read of the profile); else 404."""
    if not type or not value:
        raise NotFound("no profile with this identifier")
    ident = normalise(type, value, namespace)
    profile = _with_detail(search.profiles_with(active_profiles(actor), actor, [ident])).first()
    if profile is None:
        raise NotFound("no profile with this identifier")
    return profile


def search_profiles(actor: Actor, q: str, *, limit: int = 20) -> tuple[str, list[Profile]]:
    """The search box: ("exact", holders) when ``q`` is an identifier someone holds, else ("name", matches)."""
    q = (q or "").strip()
    if not q:
        return "name", []
    limit = max(1, min(limit, MAX_SEARCH))
    exact = search.identifier_candidates(actor, q)
    if exact:
        found = list(search.profiles_with(active_profiles(actor), actor, exact).order_by("-pk")[:limit])
        if found:
            return "exact", found
    return "name", search.best_name_matches(active_profiles(actor), q, limit=limit)


# --- tags, consent, lifecycle, timeline ---------------------------------------------------------------------------


def tags_for(actor: Actor) -> QuerySet:
    """Every tag of the organisation with its group, in display order (reference data: org-wide)."""
    return Tag.objects.in_org(actor).select_related("group").order_by("group__order", "group__name", "order", "name")


def consent_purposes(actor: Actor) -> list[ConsentPurpose]:
    consent.ensure_default_purposes(actor=actor)
    return list(ConsentPurpose.objects.in_org(actor).order_by("pk"))


@dataclass(frozen=True)
class ConsentState:
    purpose: ConsentPurpose
    channel: str  # "" = every channel of the purpose
    granted: bool | None  # None: no record
    record: ConsentRecord | None


def consent_status(actor: Actor, profile: Profile) -> list[ConsentState]:
    """What the ledger says now per purpose and channel, by the same rule as ``consent.may_contact``: the latest
    record for the channel or for all channels. One query over the profile's records."""
    purposes = consent_purposes(actor)
    latest: dict[tuple[int, str], ConsentRecord] = {}
    for rec in ConsentRecord.objects.in_org(actor).filter(profile=profile).order_by("at", "pk"):
        latest[(rec.purpose_id, rec.channel)] = rec
    out = []
    for p in purposes:
        for channel in ["", *p.channels]:
            candidates = [r for r in (latest.get((p.pk, channel)), latest.get((p.pk, ""))) if r is not None]
            rec = max(candidates, key=lambda r: (r.at, r.pk)) if candidates else None
            out.append(ConsentState(p, channel, rec.granted if rec else None, rec))
    return out


def consent_history(actor: Actor, profile: Profile, *, limit: int = 200) -> list[ConsentRecord]:
    return list(ConsentRecord.objects.in_org(actor).filter(profile=profile).select_related("purpose")
                .order_by("-at", "-pk")[:limit])


def stages(actor: Actor) -> list[LifecycleStageDefinition]:
    """The organisation's lifecycle stages in order (the defaults are created on first use)."""
    lifecycle.ensure_default_stages(actor=actor)
    return list(LifecycleStageDefinition.objects.in_org(actor).order_by("order", "pk"))


def lifecycle_history(actor: Actor, profile: Profile) -> list[LifecycleTransition]:
    return list(LifecycleTransition.objects.in_org(actor).filter(profile=profile).order_by("entered_at", "pk"))


def timeline_page(actor: Actor, profile: Profile, *, cursor: str | None, limit: int = 20) -> Page:
    """Newest first; the cursor continues below the last entry shown."""
    qs = TimelineEntry.objects.in_org(actor).filter(profile=profile)
    return paginate(qs, order=["-at"], cursor=cursor, limit=limit)


# --- accounts ----------------------------------------------------------------------------------------------------


def account_of(actor: Actor, account_id: Any) -> Profile:
    account = visible_profile(actor, account_id, active=False)
    if account.kind != ProfileKind.COMPANY:
        raise NotFound("not found")
    return account


def contacts_of(actor: Actor, account: Profile) -> QuerySet:
    return active_profiles(actor).filter(account=account)


# --- merges ------------------------------------------------------------------------------------------------------


def merge_reviews(actor: Actor, *, status: str | None = MergeReview.Status.PENDING) -> QuerySet:
    qs = MergeReview.objects.in_org(actor)
    if status:
        if status not in MergeReview.Status.values:
            raise ValidationFailed("bad status", fields={"status": [", ".join(MergeReview.Status.values)]})
        qs = qs.filter(status=status)
    return qs


def reviews_in_scope(actor: Actor, reviews: list[MergeReview]) -> list[MergeReview]:
    """Only reviews whose every profile the actor may see (a review names customers and masked identifiers)."""
    ids = {pk for r in reviews for pk in r.profiles}
    visible = set(Profile.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))
    return [r for r in reviews if set(r.profiles) <= visible]


def review_profiles(actor: Actor, reviews: list[MergeReview]) -> dict[int, Profile]:
    ids = {pk for r in reviews for pk in r.profiles}
    return {p.pk: p for p in Profile.objects.visible_to(actor).filter(pk__in=ids)}


def merge_logs(actor: Actor) -> QuerySet:
    visible = Profile.objects.visible_to(actor).values("pk")
    return MergeLog.objects.in_org(actor).filter(survivor_id__in=visible).select_related("survivor", "merged")
