"""Identity resolution: from a set of identifiers to exactly one live profile, merging when the rules say so.

Concurrency: resolutions that touch the same identifiers are serialised with transaction-scoped advisory locks
on PostgreSQL (keyed by the identifiers' blind indexes, taken in sorted order so two resolutions never deadlock)
and by SQLite's single writer; the unique constraint on identities is the last line of defence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write

from .identifiers import Identifier
from .merging import merge_profiles
from .models import Identity, IdentityBlocklist, MergeReview, Profile, ProfileStatus
from .rules import BUILTIN_BLOCKLIST, MAX_IDENTITIES_PER_MERGE, rule_for


@dataclass
class Resolution:
    profile: Profile
    created: bool = False
    merged_ids: list[int] = field(default_factory=list)
    review: MergeReview | None = None
    attached: list[Identifier] = field(default_factory=list)


def _lock(org_id: int, ids: Iterable[Identifier]) -> None:
    if connection.vendor != "postgresql":
        return
    keys = sorted({int.from_bytes(hashlib.sha256(f"{org_id}:{i.type}:{i.index}".encode()).digest()[:8], "big", signed=True)
                   for i in ids})
    with connection.cursor() as cur:
        for k in keys:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [k])


def live(profile: Profile) -> Profile:
    """Follow merged_into to the surviving profile."""
    seen = set()
    while profile.status == ProfileStatus.MERGED and profile.merged_into_id and profile.pk not in seen:
        seen.add(profile.pk)
        profile = Profile.objects.get(pk=profile.merged_into_id)
    return profile


def blocklisted(actor: Actor, ids: list[Identifier]) -> set[Identifier]:
    """The identifiers that must never link two records (built-in list plus the organisation's own)."""
    out = {i for i in ids if (i.type, i.value) in BUILTIN_BLOCKLIST}
    idx = {(i.type, i.index): i for i in ids}
    hits = IdentityBlocklist.objects.in_org(actor).filter(value_index__in=[k[1] for k in idx]).values_list(
        "type", "value_index")
    out.update(idx[(t, v)] for t, v in hits if (t, v) in idx)
    return out


def find_profiles(actor: Actor, ids: list[Identifier]) -> dict[Identifier, Profile]:
    """The live profile owning each identifier that already exists (one query plus merged_into hops)."""
    if not ids:
        return {}
    by_index = {(i.type, i.namespace, i.index): i for i in ids}
    rows = (
        Identity.objects.in_org(actor).filter(value_index__in=[i.index for i in ids]).select_related("profile")
    )
    found: dict[Identifier, Profile] = {}
    for row in rows:
        ident = by_index.get((row.type, row.namespace, row.value_index))
        if ident is not None:
            found[ident] = live(row.profile)
    return found


def _type_counts(profile_ids: list[int]) -> dict[int, dict[str, set[str]]]:
    out: dict[int, dict[str, set[str]]] = {}
    for pid, t, v in Identity.objects.filter(profile_id__in=profile_ids).values_list("profile_id", "type", "value_index"):
        out.setdefault(pid, {}).setdefault(t, set()).add(v)
    return out


def _merge_blocker(actor: Actor, profiles: list[Profile], ids: list[Identifier]) -> str | None:
    """Why these profiles must not merge automatically (None when they may)."""
    counts = _type_counts([p.pk for p in profiles])
    union: dict[str, set[str]] = {}
    for per in counts.values():
        for t, vals in per.items():
            union.setdefault(t, set()).update(vals)
    for i in ids:
        union.setdefault(i.type, set()).add(i.index)
    if sum(len(v) for v in union.values()) > MAX_IDENTITIES_PER_MERGE:
        return "too_many_identities"
    for t, vals in union.items():
        if len(vals) > rule_for(t).max_per_profile:
            return f"conflicting_{t}"
    return None


def _attach(actor: Actor, profile: Profile, ids: list[Identifier], source: str) -> list[Identifier]:
    existing = _type_counts([profile.pk]).get(profile.pk, {})
    new = []
    for i in ids:
        have = existing.setdefault(i.type, set())
        if i.index in have:
            continue
        if len(have) >= rule_for(i.type).max_per_profile:
            continue  # over the type's limit: keep the profile as it is rather than guess
        have.add(i.index)
        new.append(Identity(org_id=profile.org_id, profile=profile, type=i.type, namespace=i.namespace,
                            value=i.encrypted(), value_index=i.index, source=source))
    if new:
        Identity.objects.bulk_create(new)
        profile.identity_count = profile.identity_count + len(new)
        profile.save(update_fields=["identity_count", "updated_at"])
    return [i for i in ids if any(n.value_index == i.index and n.type == i.type for n in new)]


def resolve_profile(
    *, actor: Actor, identifiers: list[Identifier], source: str = "", create: bool = True,
    defaults: dict | None = None,
) -> Resolution | None:
    """The one profile these identifiers belong to, creating, linking or merging as the rules say.

    Returns None only when nothing matched and ``create`` is False. Merges the guard refuses (too many
    identities, conflicting single-valued ids) and any link through a blocklisted identifier are queued as a
    ``MergeReview`` instead of happening.
    """
    ids = list(dict.fromkeys(identifiers))
    with transaction.atomic():
        _lock(actor.org_id, ids)
        blocked = blocklisted(actor, ids)
        usable = [i for i in ids if i not in blocked]
        found = find_profiles(actor, usable)
        blocked_found = find_profiles(actor, list(blocked)) if blocked else {}
        if not found:
            if not create:
                return None
            now = clock.now()
            profile = Profile.objects.create(org_id=actor.org_id, source=source, first_seen_at=now,
                                             last_seen_at=now, **(defaults or {}))
            result = Resolution(profile, created=True)
            record_write(actor, "create", "cdp.profile", profile.pk, {"source": [None, source]})
        else:
            strong = {p.pk: p for i, p in found.items() if rule_for(i.type).merges}
            weak = {p.pk: p for i, p in found.items() if not rule_for(i.type).merges}
            # Anonymous-only profiles reached through weak ids fold into the known one (anonymous -> identified).
            targets = dict(strong)
            for pk, p in weak.items():
                if pk not in targets and not _has_strong(p):
                    targets[pk] = p
            if not targets:
                targets = dict(weak)
            ordered = sorted(targets.values(), key=lambda p: p.pk)
            result = Resolution(ordered[0])
            if len(ordered) > 1:
                blocker = _merge_blocker(actor, ordered, usable)
                if blocker:
                    result.review = _review(actor, [p.pk for p in ordered], blocker, ids, source)
                    return result
                for other in ordered[1:]:
                    merge_profiles(actor=actor, survivor=result.profile, merged=other,
                                   reason=f"shared identifier ({source})")
                    result.merged_ids.append(other.pk)
                result.profile.refresh_from_db()
        others = sorted({p.pk for p in blocked_found.values()} - {result.profile.pk})
        if others:
            result.review = _review(actor, [result.profile.pk, *others], "blocklisted", ids, source)
        attachable = [i for i in usable if i not in found] + [i for i in blocked if i not in blocked_found]
        result.attached = _attach(actor, result.profile, attachable, source)
        return result


def _review(actor: Actor, profile_ids: list[int], reason: str, ids: list[Identifier], source: str) -> MergeReview:
    return MergeReview.objects.create(
        org_id=actor.org_id, profiles=profile_ids, reason=reason,
        trigger={"identifiers": [[i.type, i.masked()] for i in ids], "source": source},
    )


def _has_strong(profile: Profile) -> bool:
    return Identity.objects.filter(profile=profile).exclude(type__in=["anonymous_id", "device_id"]).exists()
