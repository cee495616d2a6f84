"""Pools (线索池 / 公海): claim, release, recycle; and the pools' own settings.

A member may claim from the pools of their department and of the departments above it (a pool without a
department is the whole organisation's). Claims are a conditional UPDATE (``owner IS NULL``), so of two people
claiming one lead at the same moment exactly one gets it; the claimer's ``SalesRep`` row is locked first, so
one person's concurrent claims cannot together pass a claim limit.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from siyu.cdp import profiles as cdp_profiles
from siyu.iam.models import Department
from siyu.kernel import auditing, clock, events
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from ..events import LeadAssigned, LeadReturnedToPool
from ..models.activities import Activity
from ..models.assignment import SalesRep
from ..models.leads import OPEN_STATUSES, Lead, LeadHistory, SlaState
from ..models.pools import Pool, PoolCustomer, PoolKind
from .common import as_int, cdp_actor, history, require, text

POOL_FIELDS = ["name", "kind", "department_id", "max_held", "max_daily_claims", "recycle_no_followup_days",
               "recycle_not_converted_days", "is_default", "is_active"]


# --- which pools an actor may use ------------------------------------------------------------------------------


def _ancestor_ids(actor: Actor) -> set[int]:
    ids: set[int] = set()
    for dept in Department.objects.in_org(actor).filter(pk__in=sorted(actor.department_ids)):
        ids.add(dept.pk)
        ids.update(int(p) for p in dept.path.strip("/").split("/") if p)
    return ids


def pools_for(actor: Actor, *, kind: str | None = None):
    """Pools the actor may see and claim from."""
    qs = Pool.objects.in_org(actor)
    if kind:
        qs = qs.filter(kind=kind)
    if actor.sees_whole_org("sales.lead"):  # system and administrators included
        return qs
    return qs.filter(Q(department__isnull=True) | Q(department_id__in=sorted(_ancestor_ids(actor))))


def visible_pool(actor: Actor, pool_id: Any) -> Pool:
    pool = pools_for(actor).filter(pk=as_int(pool_id)).first()
    if pool is None:
        raise NotFound("not found")
    return pool


def pool_leads(actor: Actor, pool: Pool):
    """The leads waiting in ``pool`` (nobody owns them)."""
    return Lead.objects.in_org(actor).filter(pool=pool, owner__isnull=True, status__in=OPEN_STATUSES,
                                             merged_into__isnull=True)


# --- settings --------------------------------------------------------------------------------------------------


def _optional(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    n = as_int(value, missing=ValidationFailed, field=name)
    if not 0 <= n <= 100_000:
        raise ValidationFailed("out of range", fields={name: ["between 0 and 100000"]})
    return n


def _apply(actor: Actor, pool: Pool, data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - set(POOL_FIELDS))
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["unknown field"] for k in unknown})
    if "name" in data:
        pool.name = text(data["name"], "name", 120, required=True)
    if "kind" in data:
        if data["kind"] not in PoolKind.values:
            raise ValidationFailed("bad kind", fields={"kind": ["lead or customer"]})
        if pool.pk and data["kind"] != pool.kind:
            raise ValidationFailed("kind is fixed", fields={"kind": ["a pool's kind cannot change"]})
        pool.kind = data["kind"]
    if "department_id" in data:
        dept = data["department_id"]
        if dept not in (None, "") and not Department.objects.in_org(actor).filter(
                pk=as_int(dept, missing=ValidationFailed, field="department_id")).exists():
            raise ValidationFailed("no such department", fields={"department_id": ["no such department"]})
        pool.department_id = None if dept in (None, "") else int(dept)
    for name in ("max_held", "max_daily_claims", "recycle_no_followup_days", "recycle_not_converted_days"):
        if name in data:
            setattr(pool, name, _optional(data[name], name))
    for name in ("is_default", "is_active"):
        if name in data:
            setattr(pool, name, bool(data[name]))
    if pool.is_default:
        # one default per kind: the new default replaces the old one
        Pool.objects.in_org(actor).filter(kind=pool.kind, is_default=True).exclude(pk=pool.pk).update(is_default=False)


def create_pool(*, actor: Actor, data: dict[str, Any]) -> Pool:
    require(actor, "sales.pool.manage")
    if "name" not in data:
        raise ValidationFailed("name required", fields={"name": ["required"]})
    pool = Pool(org_id=actor.org_id)
    _apply(actor, pool, data)
    pool.save()
    auditing.record_write(actor, "create", "sales.pool", pool.pk, auditing.diff({}, auditing.snapshot(pool, POOL_FIELDS)))
    return pool


def update_pool(*, actor: Actor, pool_id: Any, data: dict[str, Any]) -> Pool:
    require(actor, "sales.pool.manage")
    pool = Pool.objects.in_org(actor).filter(pk=as_int(pool_id)).first()
    if pool is None:
        raise NotFound("not found")
    before = auditing.snapshot(pool, POOL_FIELDS)
    _apply(actor, pool, data)
    pool.save()
    auditing.record_write(actor, "update", "sales.pool", pool.pk, auditing.diff(before, auditing.snapshot(pool, POOL_FIELDS)))
    return pool


# --- claim and release leads -----------------------------------------------------------------------------------


def _day_start(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _lock_claimer(actor: Actor) -> None:
    rep = SalesRep.objects.in_org(actor).select_for_update().filter(user_id=actor.user_id).first()
    if rep is None:
        SalesRep.objects.get_or_create(org_id=actor.org_id, user_id=actor.user_id, defaults={"always_available": True})
        SalesRep.objects.in_org(actor).select_for_update().filter(user_id=actor.user_id).first()


def _check_limits(actor: Actor, pool: Pool, now: dt.datetime, *, customers: bool = False) -> None:
    if pool.max_held is not None and not customers:
        held = Lead.objects.in_org(actor).filter(owner_id=actor.user_id, pool=pool, status__in=OPEN_STATUSES).count()
        if held >= pool.max_held:
            raise Conflict(f"you already hold {held} leads from this pool (limit {pool.max_held})",
                           code="claim_limit")
    if pool.max_daily_claims is not None:
        if customers:
            today = PoolCustomer.objects.in_org(actor).filter(pool=pool, claimed_by_id=actor.user_id,
                                                              claimed_at__gte=_day_start(now)).count()
        else:
            today = LeadHistory.objects.in_org(actor).filter(kind="claimed", actor_user_id=actor.user_id,
                                                             at__gte=_day_start(now), data__pool_id=pool.pk).count()
        if today >= pool.max_daily_claims:
            raise Conflict(f"you claimed {today} today from this pool (limit {pool.max_daily_claims})",
                           code="daily_claim_limit")


def claim_lead(*, actor: Actor, lead_id: Any) -> Lead:
    """Take a lead waiting in one of the actor's pools. Exactly one of concurrent claimers wins; the others get
    409 ``already_claimed``."""
    require(actor, "sales.pool.claim")
    pools = pools_for(actor, kind=PoolKind.LEAD).values_list("pk", flat=True)
    lead = (Lead.objects.in_org(actor).filter(pk=as_int(lead_id), pool_id__in=list(pools), owner__isnull=True,
                                              status__in=OPEN_STATUSES).select_related("pool").first())
    if lead is None:
        raise NotFound("not found")
    if actor.user_id is None:
        raise PermissionDenied("only a person can claim", code="permission_denied")
    _lock_claimer(actor)
    now = clock.now()
    _check_limits(actor, lead.pool, now)
    reason = f"Claimed from pool {lead.pool.name}."
    won = Lead.objects.filter(pk=lead.pk, owner__isnull=True, status__in=OPEN_STATUSES).update(
        owner_id=actor.user_id, department_id=actor.department_id, claimed_at=now, assigned_at=now,
        assignment_rule=None, assignment_reason=reason, assignment_seq=F("assignment_seq") + 1,
        sla_state=SlaState.NONE, sla_due_at=None, sla_remind_at=None, first_response_at=None,
        response_seconds=None, updated_at=now)
    if not won:
        raise Conflict("someone else claimed this lead first", code="already_claimed")
    lead.refresh_from_db()
    history(actor, lead, "claimed", pool_id=lead.pool_id, pool=lead.pool.name)
    auditing.record_write(actor, "claim", "sales.lead", lead.pk, {"owner_id": [None, actor.user_id]},
                          pool_id=lead.pool_id)
    events.emit(LeadAssigned(org_id=actor.org_id, lead_id=lead.pk, owner_id=actor.user_id, rule_id=None, how="claim"))
    return lead


def return_to_pool(actor: Actor, lead: Lead, *, kind: str, reason: str, pool: Pool | None = None,
                   **details: Any) -> bool:
    """Conditionally take the lead from its current owner into ``pool`` (its home pool by default)."""
    pool = pool or lead.pool or Pool.objects.in_org(actor).filter(kind=PoolKind.LEAD, is_default=True).first()
    if pool is None:
        raise ValidationFailed("no pool", fields={"pool_id": ["the lead has no pool and there is no default pool"]})
    previous = lead.owner_id
    now = clock.now()
    moved = Lead.objects.filter(pk=lead.pk, owner_id=previous, assignment_seq=lead.assignment_seq).update(
        owner_id=None, pool_id=pool.pk, department_id=pool.department_id, assigned_at=None, claimed_at=None,
        assignment_rule=None, assignment_reason=f"{reason}"[:2000], assignment_seq=F("assignment_seq") + 1,
        sla_state=SlaState.NONE, sla_due_at=None, sla_remind_at=None, updated_at=now)
    if not moved:
        return False
    lead.refresh_from_db()
    history(actor, lead, kind, pool_id=pool.pk, pool=pool.name, previous_owner_id=previous, reason=reason, **details)
    auditing.record_write(actor, kind, "sales.lead", lead.pk, {"owner_id": [previous, None], "pool_id": [None, pool.pk]},
                          reason=reason)
    events.emit(LeadReturnedToPool(org_id=lead.org_id, lead_id=lead.pk, pool_id=pool.pk, previous_owner_id=previous,
                                   reason=kind))
    return True


def release_lead(*, actor: Actor, lead_id: Any, reason: str = "", pool_id: Any = None) -> Lead:
    """Give a lead back to a pool: one's own, or anyone's visible lead with ``sales.lead.assign``."""
    require(actor, "sales.pool.claim")
    lead = Lead.objects.visible_to(actor).filter(pk=as_int(lead_id), status__in=OPEN_STATUSES).first()
    if lead is None or lead.owner_id is None:
        raise NotFound("not found")
    if lead.owner_id != actor.user_id:
        require(actor, "sales.lead.assign")
    pool = None
    if pool_id not in (None, ""):
        pool = pools_for(actor, kind=PoolKind.LEAD).filter(pk=as_int(pool_id, missing=ValidationFailed,
                                                                     field="pool_id")).first()
        if pool is None:
            raise ValidationFailed("no such pool", fields={"pool_id": ["no such lead pool"]})
    reason = text(reason, "reason", 200) or "released by the owner"
    if not return_to_pool(actor, lead, kind="released", reason=reason, pool=pool):
        raise Conflict("the lead changed meanwhile", code="lead_changed")
    return lead


# --- recycling -------------------------------------------------------------------------------------------------


def recycle_pool(org: Actor, pool: Pool, *, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Return leads of ``pool`` their owners neglected: no follow-up for N days, not converted in M days."""
    now = now or clock.now()
    held = (Lead.objects.in_org(org).filter(pool=pool, owner__isnull=False, status__in=OPEN_STATUSES)
            .annotate(since=Coalesce("claimed_at", "assigned_at", "created_at")))
    reasons: list[tuple[Q, str, str]] = []
    if pool.recycle_no_followup_days:
        cutoff = now - dt.timedelta(days=pool.recycle_no_followup_days)
        reasons.append((Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True, since__lt=cutoff)
                        | Q(last_activity_at__lt=F("since"), since__lt=cutoff),
                        "recycled_no_followup", f"no follow-up in {pool.recycle_no_followup_days} days"))
    if pool.recycle_not_converted_days:
        cutoff = now - dt.timedelta(days=pool.recycle_not_converted_days)
        reasons.append((Q(since__lt=cutoff), "recycled_not_converted",
                        f"not converted within {pool.recycle_not_converted_days} days"))
    moved = 0
    for cond, kind, reason in reasons:
        for lead in held.filter(cond).order_by("pk")[:limit]:
            if return_to_pool(org, lead, kind=kind, reason=reason, pool=pool, rule=kind):
                moved += 1
    return moved


def recycle_all(org: Actor, *, now: dt.datetime | None = None) -> int:
    """Every active lead pool of the organisation with a recycling rule, and customer pools (the periodic job)."""
    moved = 0
    rules = Q(recycle_no_followup_days__isnull=False) | Q(recycle_not_converted_days__isnull=False)
    for pool in Pool.objects.in_org(org).filter(rules, is_active=True).order_by("pk"):
        moved += recycle_pool(org, pool, now=now) if pool.kind == PoolKind.LEAD else recycle_customers(org, pool, now=now)
    return moved


# --- customer pools (公海) --------------------------------------------------------------------------------------


def release_customer(*, actor: Actor, profile_id: Any, pool_id: Any, reason: str = "") -> PoolCustomer:
    """Put a customer the actor may see into a customer pool; the customer loses its owner."""
    require(actor, "sales.pool.claim")
    profile = cdp_profiles.visible_profile(actor, profile_id)
    pool = pools_for(actor, kind=PoolKind.CUSTOMER).filter(pk=as_int(pool_id, missing=ValidationFailed,
                                                                     field="pool_id"), is_active=True).first()
    if pool is None:
        raise ValidationFailed("no such pool", fields={"pool_id": ["no such customer pool"]})
    if profile.owner_id not in (None, actor.user_id):
        require(actor, "sales.lead.assign")
    if PoolCustomer.objects.in_org(actor).filter(profile=profile, claimed_by__isnull=True).exists():
        raise Conflict("the customer is in a pool already", code="already_pooled")
    entry = PoolCustomer.objects.create(org_id=actor.org_id, pool=pool, profile=profile,
                                        released_by_id=actor.user_id, reason=text(reason, "reason", 200))
    cdp_profiles.assign_owner(actor=cdp_actor(actor), profile_id=profile.pk, owner_id=None)
    auditing.record_write(actor, "release", "sales.pool_customer", entry.pk,
                          {"profile_id": [None, profile.pk], "pool_id": [None, pool.pk]})
    return entry


def claim_customer(*, actor: Actor, entry_id: Any) -> PoolCustomer:
    require(actor, "sales.pool.claim")
    pools = list(pools_for(actor, kind=PoolKind.CUSTOMER).values_list("pk", flat=True))
    entry = PoolCustomer.objects.in_org(actor).filter(pk=as_int(entry_id), pool_id__in=pools,
                                                      claimed_by__isnull=True).select_related("pool").first()
    if entry is None:
        raise NotFound("not found")
    if actor.user_id is None:
        raise PermissionDenied("only a person can claim", code="permission_denied")
    _lock_claimer(actor)
    now = clock.now()
    _check_limits(actor, entry.pool, now, customers=True)
    if not PoolCustomer.objects.filter(pk=entry.pk, claimed_by__isnull=True).update(claimed_by_id=actor.user_id,
                                                                                     claimed_at=now):
        raise Conflict("someone else claimed this customer first", code="already_claimed")
    cdp_profiles.assign_owner(actor=cdp_actor(actor), profile_id=entry.profile_id, owner_id=actor.user_id)
    auditing.record_write(actor, "claim", "sales.pool_customer", entry.pk, {"claimed_by": [None, actor.user_id]})
    entry.refresh_from_db()
    return entry


def recycle_customers(org: Actor, pool: Pool, *, now: dt.datetime | None = None) -> int:
    """Customers claimed from ``pool`` whose claimer logged no activity on them for N days go back."""
    now = now or clock.now()
    if not pool.recycle_no_followup_days:
        return 0
    cutoff = now - dt.timedelta(days=pool.recycle_no_followup_days)
    moved = 0
    claimed = PoolCustomer.objects.in_org(org).filter(pool=pool, claimed_by__isnull=False, claimed_at__lt=cutoff)
    for entry in claimed.order_by("pk")[:2000]:
        if entry.profile.owner_id != entry.claimed_by_id:
            continue  # the customer changed hands since: not this pool's to recycle
        if Activity.objects.in_org(org).filter(profile_id=entry.profile_id, owner_id=entry.claimed_by_id,
                                               created_at__gte=cutoff).exists():
            continue
        if PoolCustomer.objects.in_org(org).filter(profile_id=entry.profile_id, claimed_by__isnull=True).exists():
            continue
        cdp_profiles.assign_owner(actor=org, profile_id=entry.profile_id, owner_id=None)
        again = PoolCustomer.objects.create(org_id=org.org_id, pool=pool, profile_id=entry.profile_id,
                                            reason=f"no follow-up in {pool.recycle_no_followup_days} days")
        auditing.record_write(org, "recycle", "sales.pool_customer", again.pk,
                              {"owner_id": [entry.claimed_by_id, None]}, reason=again.reason)
        moved += 1
    return moved
