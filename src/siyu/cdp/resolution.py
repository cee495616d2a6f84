"""Identity resolution: from a set of identifiers to exactly one live profile, merging when the rules say so.

Concurrency: resolutions that touch the same identifiers are serialised with transaction-scoped advisory locks
on PostgreSQL (keyed by the identifiers' blind indexes, taken in sorted order so two resolutions never deadlock)
and by SQLite's single writer; the unique constraint on identities is the last line of defence.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL

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


def _lock_keys(org_id: int, ids: Iterable[Identifier]) -> list[int]:
    return sorted({int.from_bytes(hashlib.sha256(f"{org_id}:{i.type}:{i.index}".encode()).digest()[:8], "big",
                                  signed=True) for i in ids})


def _lock(org_id: int, ids: Iterable[Identifier]) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        for k in _lock_keys(org_id, ids):
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [k])


def lock_many(org_id: int, ids: Iterable[Identifier]) -> None:
    """The same locks as :func:`resolve_profile` takes, for many identifiers in one statement (the keys in
    sorted order, as ``unnest`` yields them, so it never deadlocks with a resolution)."""
    keys = _lock_keys(org_id, ids)
    if connection.vendor != "postgresql" or not keys:
        return
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys])


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


def _attach(actor: Actor, profile: Profile, ids: list[Identifier], source: str, *,
            fresh: bool = False) -> list[Identifier]:
    """Give ``profile`` the identifiers it lacks, within each type's limit. ``fresh``: the profile was created in
    this transaction and has none yet (no need to read them)."""
    existing = {} if fresh else _type_counts([profile.pk]).get(profile.pk, {})
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
        result.attached = _attach(actor, result.profile, attachable, source, fresh=result.created)
        return result


def _review(actor: Actor, profile_ids: list[int], reason: str, ids: list[Identifier], source: str) -> MergeReview:
    return MergeReview.objects.create(
        org_id=actor.org_id, profiles=profile_ids, reason=reason,
        trigger={"identifiers": [[i.type, i.masked()] for i in ids], "source": source},
    )


def _has_strong(profile: Profile) -> bool:
    return Identity.objects.filter(profile=profile).exclude(type__in=["anonymous_id", "device_id"]).exists()


# --- many resolutions at once (event ingestion) -------------------------------------------------------------

WEAK_TYPES = ("anonymous_id", "device_id")  # what _has_strong leaves out


@functools.lru_cache(maxsize=200_000)
def identifier_key(i: Identifier) -> tuple[str, str, str]:
    """(type, namespace, blind index): the blind index is an HMAC behind a key-file lookup, so it is computed
    once per identifier, not per use."""
    return (i.type, i.namespace, i.index)


_key = identifier_key


class _IdPool:
    """Profile ids handed out before the rows are inserted (events of the batch need them at once). PostgreSQL
    draws them from the sequence; SQLite (one writer, inside its write transaction) counts on from the highest
    id, so its pool is dropped whenever rows may have been inserted by someone else's code."""

    CHUNK = 100

    def __init__(self) -> None:
        self.free: list[int] = []

    def take(self) -> int:
        if not self.free:
            with connection.cursor() as cur:
                if connection.vendor == "postgresql":
                    cur.execute("SELECT nextval(pg_get_serial_sequence('cdp_profile', 'id')) "
                                "FROM generate_series(1, %s)", [self.CHUNK])
                    self.free = sorted(r[0] for r in cur.fetchall())
                else:
                    cur.execute("SELECT MAX(n) FROM (SELECT COALESCE(MAX(id), 0) AS n FROM cdp_profile UNION ALL "
                                "SELECT seq FROM sqlite_sequence WHERE name = 'cdp_profile')")
                    first = cur.fetchone()[0] + 1
                    self.free = list(range(first, first + self.CHUNK))
        return self.free.pop(0)

    def reset(self) -> None:
        if connection.vendor != "postgresql":
            self.free = []


@dataclass
class Resolved:
    profile_id: int
    created: bool = False  # by resolve_profile itself (the batched creations are audited in flush)
    merged_ids: list[int] = field(default_factory=list)


class BatchResolver:
    """:func:`resolve_profile` for many identifier groups in order (the events of a batch), with the same
    outcome, but the common cases decided in memory and written in bulk:

    * nothing known → a new profile with the identifiers (ids drawn ahead, rows inserted in :meth:`flush`);
    * one profile known (after the rules' strong/weak choice) → the new identifiers are linked to it, within
      each type's ``max_per_profile``;
    * anything else — a merge, a review, an organisation-blocklisted identifier — is handed to
      :func:`resolve_profile` after a flush, exactly as before.

    :meth:`prepare` takes every needed resolution lock in one statement and then reads the identifiers again
    under the locks, so what is decided in memory is what a one-by-one resolution would have seen. Profile
    creations are audited as one entry per flush listing the new ids (as the importer does); links were never
    audited one by one (``_attach``).
    """

    def __init__(self, actor: Actor, source: str = "") -> None:
        self.actor, self.source = actor, source
        self.owner: dict[tuple[str, str, str], int] = {}
        self.redirect: dict[int, int] = {}
        self.blocked: set[tuple[str, str, str]] = set()
        self._types: dict[int, dict[str, set[str]]] = {}
        self._new_profiles: dict[int, Profile] = {}
        self._new_identities: list[Identity] = []
        self._added: dict[int, int] = {}
        self._created: list[int] = []
        self._pool = _IdPool()

    # reading
    def live(self, pid: int) -> int:
        seen = set()
        while pid in self.redirect and pid not in seen:
            seen.add(pid)
            pid = self.redirect[pid]
        return pid

    def known(self, ids: list[Identifier]) -> set[int | None]:
        """The live owners of ``ids`` as far as this batch knows (None for an unknown identifier)."""
        return {self.live(self.owner[_key(i)]) if _key(i) in self.owner else None for i in ids}

    def pending(self, pid: int) -> Profile | None:
        """The not-yet-inserted profile ``pid`` (to set columns on before :meth:`flush`), else None."""
        return self._new_profiles.get(pid)

    def _lookup(self, ids: list[Identifier]) -> None:
        wanted = {_key(i) for i in ids}
        if not wanted:
            return
        indexes = sorted({k[2] for k in wanted})
        if connection.vendor == "postgresql":  # one array parameter: a list of thousands plans slowly
            indexes = RawSQL("SELECT unnest(%s::text[])", [indexes])
        rows = (Identity.objects.in_org(self.actor).filter(value_index__in=indexes)
                .values_list("type", "namespace", "value_index", "profile_id", "profile__status",
                             "profile__merged_into_id"))
        hops: set[int] = set()
        for type_, namespace, index, pid, status, into in rows:
            if (type_, namespace, index) in wanted:
                self.owner[(type_, namespace, index)] = pid
                if status == ProfileStatus.MERGED and into:
                    self.redirect[pid] = into
                    hops.add(into)
        while hops:  # a merged owner whose survivor was merged too (rare): follow the chain
            nxt = dict(Profile.objects.filter(pk__in=hops, status=ProfileStatus.MERGED,
                                              merged_into__isnull=False).values_list("pk", "merged_into_id"))
            self.redirect.update(nxt)
            hops = set(nxt.values()) - set(self.redirect)

    def _types_of(self, pid: int) -> dict[str, set[str]]:
        if pid not in self._types:
            self._types.update({pid: {}, **_type_counts([pid])})
        return self._types[pid]

    def prepare(self, groups: list[list[Identifier]], always: list[bool]) -> None:
        """Read every identifier of the batch (one query), then lock those of the groups that will need a
        resolution (``always``, or not all known to one profile) and read them again under the locks."""
        self._lookup(list(dict.fromkeys(i for g in groups for i in g)))
        slow: dict[Identifier, None] = {}
        for group, must in zip(groups, always, strict=True):
            owners = self.known(group)
            if must or None in owners or len(owners) != 1:
                slow.update(dict.fromkeys(group))
        if not slow:
            return
        ids = list(slow)
        lock_many(self.actor.org_id, ids)
        self._lookup(ids)
        self.blocked = {_key(i) for i in blocklisted(self.actor, ids)}
        owners = {self.live(self.owner[_key(i)]) for i in ids if _key(i) in self.owner}
        if owners:
            self._types.update({pid: {} for pid in owners})
            self._types.update(_type_counts(sorted(owners)))

    # deciding
    def resolve(self, ids: list[Identifier], at) -> Resolved:
        """The profile these identifiers belong to, as :func:`resolve_profile` would decide it now."""
        ids = list(dict.fromkeys(ids))
        if any(_key(i) in self.blocked for i in ids):
            return self._slow(ids)
        found = {i: self.live(self.owner[_key(i)]) for i in ids if _key(i) in self.owner}
        if not found:
            pid = self._pool.take()
            self._new_profiles[pid] = Profile(pk=pid, org_id=self.actor.org_id, source=self.source,
                                              first_seen_at=at, last_seen_at=at)
            self._types[pid] = {}
            self._created.append(pid)
            self._link(pid, ids)
            self._learn(ids, pid)
            return Resolved(pid)
        strong = {p for i, p in found.items() if rule_for(i.type).merges}
        weak = {p for i, p in found.items() if not rule_for(i.type).merges}
        targets = set(strong)
        for p in weak:
            if p not in targets and not any(t not in WEAK_TYPES and v for t, v in self._types_of(p).items()):
                targets.add(p)
        targets = targets or weak
        if len(targets) > 1:
            return self._slow(ids)
        (pid,) = targets
        self._link(pid, [i for i in ids if i not in found])
        self._learn(ids, pid)
        return Resolved(pid)

    def _link(self, pid: int, ids: list[Identifier]) -> None:
        have = self._types_of(pid)
        for i in ids:
            present = have.setdefault(i.type, set())
            if i.index in present or len(present) >= rule_for(i.type).max_per_profile:
                continue  # already there, or over the type's limit: kept as it is, as _attach does
            present.add(i.index)
            self._new_identities.append(Identity(org_id=self.actor.org_id, profile_id=pid, type=i.type,
                                                 namespace=i.namespace, value=i.encrypted(), value_index=i.index,
                                                 source=self.source))
            self.owner[_key(i)] = pid
            if pid in self._new_profiles:
                self._new_profiles[pid].identity_count += 1
            else:
                self._added[pid] = self._added.get(pid, 0) + 1

    def _slow(self, ids: list[Identifier]) -> Resolved:
        self.flush()
        result = resolve_profile(actor=self.actor, identifiers=ids, source=self.source)
        self._pool.reset()
        pid = result.profile.pk
        for m in result.merged_ids:
            self.redirect[m] = pid
            self._types.pop(m, None)
        self._types.pop(pid, None)
        self._learn(ids, pid)
        return Resolved(pid, created=result.created, merged_ids=list(result.merged_ids))

    def _learn(self, ids: list[Identifier], pid: int) -> None:
        # Later events of the batch carrying any of these identifiers go to this profile.
        for i in ids:
            self.owner.setdefault(_key(i), pid)

    # writing
    def flush(self) -> None:
        """Insert the profiles and identities decided so far, and audit the creations."""
        if self._new_profiles:
            Profile.objects.bulk_create(list(self._new_profiles.values()))
        if self._new_identities:
            Identity.objects.bulk_create(self._new_identities)
        now = clock.now()
        for pid, n in sorted(self._added.items()):
            Profile.objects.filter(pk=pid).update(identity_count=F("identity_count") + n, updated_at=now)
        if self._created:
            record_write(self.actor, "create", "cdp.profile", "", {"source": [None, self.source]},
                         via="ingest", count=len(self._created), ids=list(self._created))
        self._new_profiles, self._new_identities, self._added, self._created = {}, [], {}, []
        self._pool.reset()
