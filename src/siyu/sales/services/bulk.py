"""Bulk actions on leads (assign by rules, transfer to one owner, recycle to a pool) as durable jobs.

``start_bulk`` records a ``BulkJob`` with the visible lead ids and schedules its first chunk as a scheduled
action; each chunk (``CHUNK`` leads) runs in its own transaction behind ``effects.once`` (the kernel's
scheduled actions), updates the job's progress in that same transaction and schedules the next chunk, so a
job survives a worker restart, never runs a chunk twice, and shows its progress as it goes. A chunk acts as
the person who started the job (their permissions and data scope at the time the chunk runs): a lead that
changed hands or left their scope meanwhile is skipped, not forced.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, F, Field, TextField
from django.db.models.expressions import RawSQL

from siyu.cdp.bulkload import copy_rows
from siyu.iam.models import Membership
from siyu.iam.selectors import actor_for_membership
from siyu.kernel import auditing, clock, events, scheduled
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.errors import NotFound, ValidationFailed
from siyu.kernel.lookups import among

from ..events import LeadsAssignedInBulk
from ..models.jobs import BulkJob
from ..models.leads import OPEN_STATUSES, Lead, LeadHistory
from ..models.pools import Pool, PoolKind
from . import assignment, pools
from .common import as_int, member, require

CHUNK = 1000
HISTORY_COLUMNS = ["org_id", "lead_id", "kind", "at", "actor_user_id", "data", "created_at", "updated_at"]
MAX_LEADS = 200_000
ACTION = "sales.bulk.chunk"
KINDS = {"assign", "transfer", "recycle"}
PROGRESS_FIELDS = ["status", "started_at", "finished_at", "done", "skipped", "errors", "updated_at"]


def start_bulk(*, actor: Actor, kind: str, lead_ids: list[Any], params: dict[str, Any] | None = None) -> BulkJob:
    """Queue a bulk action on the leads among ``lead_ids`` the actor may see (others are ignored)."""
    require(actor, "sales.lead.bulk")
    params = dict(params or {})
    if kind not in KINDS:
        raise ValidationFailed("bad kind", fields={"kind": [f"one of {', '.join(sorted(KINDS))}"]})
    if not isinstance(lead_ids, list) or not lead_ids or len(lead_ids) > MAX_LEADS:
        raise ValidationFailed("bad leads", fields={"lead_ids": [f"1 to {MAX_LEADS} lead ids"]})
    ids = sorted({as_int(i, missing=ValidationFailed, field="lead_ids") for i in lead_ids})
    if kind in ("assign", "transfer"):
        require(actor, "sales.lead.assign")
    if kind == "transfer":
        params["owner_id"] = member(actor, params.get("owner_id"), "params.owner_id").user_id
    if kind == "recycle" and params.get("pool_id") not in (None, ""):
        pid = as_int(params["pool_id"], missing=ValidationFailed, field="params.pool_id")
        if not Pool.objects.in_org(actor).filter(pk=pid, kind=PoolKind.LEAD).exists():
            raise ValidationFailed("no such pool", fields={"params.pool_id": ["no such lead pool"]})
        params["pool_id"] = pid
    # One array parameter on PostgreSQL: 200,000 ids as IN lists took 30-40 s of a console request at load ~18.
    step = len(ids) if connection.vendor == "postgresql" else 10_000  # SQLite: under its variable limit
    visible: list[int] = []
    for lo in range(0, len(ids), step):
        visible += list(Lead.objects.visible_to(actor).filter(among("pk", ids[lo:lo + step])).values_list("pk", flat=True))
    job = BulkJob.objects.create(org_id=actor.org_id, kind=kind, lead_ids=sorted(visible), params=params,
                                 total=len(visible), created_by_id=actor.user_id,
                                 actor={"user_id": actor.user_id, "permissions": sorted(actor.permissions),
                                        "api_key_id": actor.api_key_id, "label": actor.label,
                                        "system": actor.is_system})
    auditing.record_write(actor, "create", "sales.bulk_job", job.pk, {"kind": [None, kind], "total": [None, job.total]},
                          params=params)
    scheduled.schedule(action=ACTION, key=f"sales:bulk:{job.pk}:0", due_at=clock.now(),
                       args={"job_id": job.pk, "chunk": 0}, org_id=actor.org_id)
    return job


def job_actor(job: BulkJob) -> Actor | None:
    """Who the job acts as, now: a person's current permissions and scope (None if they left), an API key's or
    the system's recorded ones."""
    info = job.actor or {}
    if info.get("user_id"):
        system = Actor.system(job.org_id)
        membership = Membership.objects.in_org(system).filter(user_id=info["user_id"], is_active=True).first()
        return actor_for_membership(membership) if membership else None
    if info.get("system"):
        return Actor.system(job.org_id, label=info.get("label") or "bulk")
    return Actor(org_id=job.org_id, user_id=None, permissions=frozenset(info.get("permissions", [])),
                 default_scope=DataScope.ORGANIZATION, api_key_id=info.get("api_key_id"), label=info.get("label", ""))


def run_chunk(job_id: int, chunk: int) -> int:
    """One chunk of a job (inside the scheduled action's transaction); returns the leads it changed."""
    job = BulkJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.status in ("done", "failed"):
        return 0
    actor = job_actor(job)
    ids = job.lead_ids[chunk * CHUNK:(chunk + 1) * CHUNK]
    now = clock.now()
    if job.started_at is None:
        job.started_at, job.status = now, "running"
    changed = 0
    if actor is None or not actor.can("sales.lead.bulk"):
        job.status, job.finished_at = "failed", now
        job.errors = [*job.errors, "the person who started the job may no longer run it"][:100]
        job.save(update_fields=PROGRESS_FIELDS)
        return 0
    if ids:
        leads = list(Lead.objects.visible_to(actor).select_for_update().filter(pk__in=ids, status__in=OPEN_STATUSES)
                     .order_by("pk"))
        if job.kind == "recycle":
            changed = _recycle(actor, leads, job)
        else:
            changed = assign_many(actor, leads, job=job)
        job.done += len(ids)
        job.skipped += len(ids) - changed
    if (chunk + 1) * CHUNK < len(job.lead_ids):
        scheduled.schedule(action=ACTION, key=f"sales:bulk:{job.pk}:{chunk + 1}", due_at=now,
                           args={"job_id": job.pk, "chunk": chunk + 1}, org_id=job.org_id)
    else:
        job.status, job.finished_at = "done", now
    job.save(update_fields=PROGRESS_FIELDS)  # not lead_ids: a 100K-lead job rewrote ~700 KB of JSON per chunk
    return changed


def _recycle(actor: Actor, leads: list[Lead], job: BulkJob) -> int:
    pool = Pool.objects.in_org(actor).filter(pk=job.params.get("pool_id")).first() if job.params.get("pool_id") else None
    n = 0
    for lead in leads:
        if lead.owner_id is None:
            continue
        try:
            if pools.return_to_pool(actor, lead, kind="recycled_bulk", reason=f"bulk recycle (job #{job.pk})",
                                    pool=pool, job_id=job.pk):
                n += 1
        except ValidationFailed as exc:
            job.errors = [*job.errors, f"lead {lead.pk}: {exc.message}"][:100]
    return n


def assign_many(actor: Actor, leads: list[Lead], *, job: BulkJob | None = None) -> int:
    """Assign locked leads in one go: decisions in memory (one rules context, one candidates query per rule),
    then one UPDATE per (rule, pool) group, history rows in bulk, one audit entry for the chunk."""
    ctx = assignment.context(actor)
    transfer_to = assignment.manual_decision(actor, job.params["owner_id"]) if job and job.kind == "transfer" else None
    if transfer_to is None:
        assignment.lock_rules(ctx)
    # One UPDATE per (rule, pool, assigned or not): within a group the owner, department and explanation (a
    # least-loaded pick names the load it saw) are a CASE on the id; one statement per owner or per lead was
    # most of a chunk's time on a loaded database.
    groups: dict[tuple, list[tuple[Lead, assignment.Decision]]] = defaultdict(list)
    for lead in leads:
        decision = transfer_to or assignment.decide(ctx, lead, exclude={lead.owner_id} if lead.owner_id else set())
        if decision.owner_id is not None and decision.owner_id == lead.owner_id:
            continue
        if decision.owner_id is None and lead.owner_id is None and decision.pool_id == lead.pool_id:
            continue
        key = (decision.rule.pk if decision.rule else None, decision.pool_id, decision.owner_id is not None)
        groups[key].append((lead, decision))
    now = clock.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    rules = {r.pk: r for r in ctx.rules}
    buckets: set[tuple[str, dt.datetime]] = set()
    history, audit = [], []
    by_owner: dict[int, list[int]] = defaultdict(list)
    how = "transfer" if transfer_to else "bulk_rule"
    data_of: dict[tuple, str] = {}
    for (rule_id, pool_id, assigned), members in groups.items():
        values: dict[str, Any] = {"assignment_rule_id": rule_id, "assignment_seq": F("assignment_seq") + 1,
                                  "updated_at": now,
                                  "assignment_reason": _per_lead(members, lambda d: d.explanation[:2000], TextField())}
        if not assigned:
            values.update(owner_id=None, pool_id=pool_id, assigned_at=None, sla_state="", sla_due_at=None,
                          sla_remind_at=None)
        else:
            sla = assignment.sla_times(rules.get(rule_id), now)
            values.update(owner_id=_per_lead(members, lambda d: d.owner_id, BigIntegerField()),
                          department_id=_per_lead(members, lambda d: d.department_id, BigIntegerField()),
                          assigned_at=now, first_response_at=None, response_seconds=None, **sla)
            if sla["sla_due_at"]:
                buckets.add(("breach", assignment._bucket(sla["sla_due_at"])))
            if sla["sla_remind_at"]:
                buckets.add(("remind", assignment._bucket(sla["sla_remind_at"])))
        Lead.objects.filter(pk__in=[lead.pk for lead, _ in members]).update(**values)
        for lead, decision in members:
            owner = decision.owner_id
            kind = "assigned" if owner else ("pooled" if pool_id else "unassigned")
            data = data_of.get((owner, decision.explanation))
            if data is None:
                data = data_of[owner, decision.explanation] = json.dumps(
                    {"how": how, "rule_id": rule_id, "owner_id": owner, "pool_id": pool_id,
                     "explanation": decision.explanation, "job_id": job.pk if job else None}, ensure_ascii=False)
            history.append((actor.org_id, lead.pk, kind, stamp, actor.user_id, data, stamp, stamp))
            audit.append([lead.pk, lead.owner_id, owner])
            if owner is not None:
                by_owner[owner].append(lead.pk)
    # COPY on PostgreSQL (executemany on SQLite): the ORM's per-value preparation was most of a chunk's time
    copy_rows(LeadHistory._meta.db_table, HISTORY_COLUMNS, history)
    for owner, ids in sorted(by_owner.items()):
        events.emit(LeadsAssignedInBulk(org_id=actor.org_id, job_id=job.pk if job else None, owner_id=owner,
                                        lead_ids=sorted(ids), how=how))
    for kind, bucket in sorted(buckets):
        assignment.schedule_sla(actor.org_id, kind, bucket)
    assignment.save_cursors(ctx)
    if audit:
        auditing.record_write(actor, "bulk_assign", "sales.lead", job.pk if job else "", {},
                              leads=audit, how=how)
    return len(audit)


def _per_lead(members: list[tuple[Lead, assignment.Decision]], value_of: Callable[[assignment.Decision], Any],
              output_field: Field) -> Any:
    """A column of a group's UPDATE: one value when every lead gets the same, else ``CASE id WHEN … THEN …``
    written out as SQL with parameters (the ORM's Case/When of a thousand branches cost more CPU to compile than
    the statements it saved)."""
    values = {value_of(decision) for _, decision in members}
    if len(values) == 1:
        return values.pop()
    params: list[Any] = []
    for lead, decision in members:
        params += [lead.pk, value_of(decision)]
    column = connection.ops.quote_name(Lead._meta.pk.column)
    return RawSQL(f"CASE {column}{' WHEN %s THEN %s' * len(members)} END", params, output_field=output_field)


def visible_job(actor: Actor, job_id: Any) -> BulkJob:
    job = BulkJob.objects.in_org(actor).filter(pk=as_int(job_id)).first()
    if job is None or (not actor.is_admin and not actor.is_system and job.created_by_id != actor.user_id
                       and not actor.can("sales.lead.bulk")):
        raise NotFound("not found")
    return job


def visible_jobs(actor: Actor):
    qs = BulkJob.objects.in_org(actor).order_by("-id")
    if actor.is_admin or actor.is_system or actor.can("sales.lead.bulk"):
        return qs
    return qs.filter(created_by_id=actor.user_id)
