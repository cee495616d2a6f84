"""Assignment: ordered rules decide who gets a lead and say why; the first-response SLA follows.

Flow for one lead (``assign_by_rules``): the first active rule (by ``priority``) whose conditions all hold
fires; its candidates (the rule's members, or the members of its department tree) are narrowed to active
members who are at work, not on leave and under their capacity; the strategy picks one (round-robin with the
rule's persisted cursor, smooth weighted round-robin, least loaded); the rule row is locked while it decides,
so its cursor advances atomically. The lead is then written with a conditional UPDATE (``owner IS NULL`` and
the same assignment sequence), so two concurrent assignments of one lead cannot both succeed. Nobody available:
the rule's fallback pool, else the organisation's default lead pool. Every assignment stores the rule and an
explanation, in the lead and in its history.

The SLA: ``sla_due_at`` / ``sla_remind_at`` on the lead and one scheduled sweep per organisation and minute
(``sales.lead.sla_sweep``), so a bulk assignment of 100K leads schedules a handful of actions, not 100K. A sweep
moves each due lead's ``sla_state`` with a conditional UPDATE, so a reminder or a breach happens exactly once
even when a sweep runs twice; the first activity after the assignment marks it met (``activities.py``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import BigIntegerField, Case, F, IntegerField, OuterRef, Q, Subquery, Value, When

from siyu.iam.models import Department, Membership
from siyu.kernel import auditing, clock, events, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed
from siyu.platform.selectors import ObjectMeta, object_meta

from ..events import LeadAssigned, LeadSlaBreached, LeadSlaReminderDue
from ..models.assignment import AssignmentRule, RuleMember, Strategy
from ..models.leads import OPEN_STATUSES, Lead, LeadStatus, Notification, OpenLeadCount, SlaState
from ..models.pools import Pool, PoolKind
from . import availability, conditions
from .common import as_int, history, member, require, text

LEAD_OBJECT = "sales.lead"
SLA_ACTION = "sales.lead.sla_sweep"


@dataclass
class Decision:
    owner_id: int | None
    department_id: int | None = None
    rule: AssignmentRule | None = None
    pool_id: int | None = None
    explanation: str = ""


@dataclass
class _RuleState:
    """What one decision (or a batch of decisions) needs about a rule's candidates, loaded once."""

    rule: AssignmentRule
    ordered: list[int]  # every candidate user id in cursor order
    weights: dict[int, int]
    currents: dict[int, int]
    caps: dict[int, int | None]
    departments: dict[int, int | None]
    names: dict[int, str]
    unavailable: dict[int, str] = field(default_factory=dict)  # user id -> why (leave / hours / inactive)


@dataclass
class Context:
    """The organisation's rules and the members' loads, shared by the decisions of one call or batch."""

    org: Actor
    meta: ObjectMeta
    rules: list[AssignmentRule]
    states: dict[int, _RuleState] = field(default_factory=dict)
    loads: Counter = field(default_factory=Counter)
    loaded_users: set[int] = field(default_factory=set)
    at: dt.datetime = field(default_factory=clock.now)
    locked: bool = False  # every rule locked up front (``lock_rules``), not one by one as leads match them
    # per rule: its conditions as one test of a lead (parsed once per batch) and the sentence that explains it
    compiled: dict[int, tuple[Callable[[Lead], bool], str]] = field(default_factory=dict)

    def matcher(self, rule: AssignmentRule) -> tuple[Callable[[Lead], bool], str]:
        found = self.compiled.get(rule.pk)
        if found is None:
            found = self.compiled[rule.pk] = (
                conditions.compile_all(self.org, self.meta, rule.conditions or []),
                f'Rule "{rule.name}" (priority {rule.priority}) matched: {conditions.describe(rule.conditions or [])}.')
        return found


def context(actor: Actor) -> Context:
    org = Actor.system(actor.org_id, label="sales.assignment")
    rules = list(AssignmentRule.objects.in_org(org).filter(is_active=True).order_by("priority", "id"))
    return Context(org=org, meta=object_meta(org, LEAD_OBJECT), rules=rules)


def _candidates(ctx: Context, rule: AssignmentRule) -> list[dict[str, Any]]:
    """Every candidate of ``rule`` with what a decision needs about them, in one query: weight, cursor state and
    cap (rule members), membership (active, department), name, working hours and leave (``availability``) and
    the open-lead counter (one row per member, kept exact by triggers on sales_lead: ``OpenLeadCount``)."""
    org = ctx.org
    if rule.strategy == Strategy.DEPARTMENT and rule.department_id:
        dept = Department.objects.in_org(org).filter(pk=rule.department_id).first()
        tree = Q(department_id=rule.department_id)
        if dept is not None:
            tree |= Q(department__path__startswith=f"{dept.path}{dept.pk}/")
        rows = Membership.objects.in_org(org).filter(tree).values(
            "user_id", m_active=F("is_active"), m_department=F("department_id"), name=F("user__name"),
            email=F("user__email"), weight=Value(1), wrr_current=Value(0), cap=Value(None, IntegerField()))
    else:
        membership = Membership.objects.in_org(org).filter(user_id=OuterRef("user_id"))
        rows = RuleMember.objects.in_org(org).filter(rule=rule).values(
            "user_id", "weight", "wrr_current", cap=F("capacity"), name=F("user__name"), email=F("user__email"),
            m_active=Subquery(membership.values("is_active")[:1]),
            m_department=Subquery(membership.values("department_id")[:1]))
    counter = OpenLeadCount.objects.in_org(org).filter(user_id=OuterRef("user_id")).values("open_count")[:1]
    return list(availability.with_availability(rows, org, ctx.at).annotate(load=Subquery(counter)))


def _state(ctx: Context, rule: AssignmentRule) -> _RuleState:
    state = ctx.states.get(rule.pk)
    if state is not None:
        return state
    if not ctx.locked:
        # The lock: concurrent decisions on one rule queue here, so the cursor and weights move atomically.
        locked = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
        rule.rr_cursor = locked.rr_cursor
    rows = _candidates(ctx, rule)
    ids = [r["user_id"] for r in rows]
    members = {r["user_id"]: r for r in rows if r["m_active"] is not None}
    state = _RuleState(
        rule=rule, ordered=sorted(ids),
        weights={r["user_id"]: max(1, r["weight"]) for r in rows},
        currents={r["user_id"]: r["wrr_current"] for r in rows},
        caps={r["user_id"]: r["cap"] or r["rep_capacity"] or rule.capacity for r in rows},
        departments={u: members[u]["m_department"] if u in members else None for u in ids},
        names={u: (members[u]["name"] or members[u]["email"]) if u in members else str(u) for u in ids},
    )
    for r in rows:
        u = r["user_id"]
        if u not in members or not r["m_active"]:
            state.unavailable[u] = "inactive"
        elif rule.respect_working_hours and not availability.is_available(r, ctx.at):
            state.unavailable[u] = "away"  # on leave or outside working hours
        if u not in ctx.loaded_users:
            ctx.loads[u] += r["load"] or 0  # picks this batch made before the count are not in the database yet
            ctx.loaded_users.add(u)
    ctx.states[rule.pk] = state
    return state


def lock_rules(ctx: Context) -> None:
    """Lock every active rule of ``ctx`` in one query, in id order, and read their cursors: a batch that locked
    rules as its leads matched them took them in a different order from a concurrent batch, and the two could
    deadlock; a single decision locks one rule, so it never forms a cycle with a batch."""
    cursors = dict(AssignmentRule.objects.filter(pk__in=[r.pk for r in ctx.rules]).select_for_update()
                   .order_by("pk").values_list("pk", "rr_cursor"))
    for rule in ctx.rules:
        rule.rr_cursor = cursors.get(rule.pk, rule.rr_cursor)
    ctx.locked = True


def _default_pool(ctx: Context) -> int | None:
    return (Pool.objects.in_org(ctx.org).filter(kind=PoolKind.LEAD, is_default=True, is_active=True)
            .values_list("pk", flat=True).first())


def decide(ctx: Context, lead: Lead, *, exclude: set[int] | frozenset = frozenset()) -> Decision:
    """Who should get ``lead`` and why (changes the rules' cursors in ``ctx``; ``save_cursors`` writes them)."""
    for rule in ctx.rules:
        test, why = ctx.matcher(rule)
        if not test(lead):
            continue
        state = _state(ctx, rule)
        skipped: list[str] = []
        eligible = []
        for u in state.ordered:
            if u in exclude:
                skipped.append(f"{state.names[u]} (current owner)")
            elif u in state.unavailable:
                reason = "not an active member" if state.unavailable[u] == "inactive" else "on leave or off duty"
                skipped.append(f"{state.names[u]} ({reason})")
            elif state.caps.get(u) is not None and ctx.loads[u] >= state.caps[u]:
                skipped.append(f"{state.names[u]} (at capacity {state.caps[u]})")
            else:
                eligible.append(u)
        skip = f" Skipped: {', '.join(skipped)}." if skipped else ""
        if not eligible:
            pool = rule.fallback_pool_id or _default_pool(ctx)
            where = f"pool #{pool}" if pool else "no pool (left unassigned)"
            return Decision(None, rule=rule, pool_id=pool,
                            explanation=f"{why} Nobody could take it, so it went to {where}.{skip}")
        chosen = _pick(ctx, state, eligible)
        ctx.loads[chosen] += 1
        how = {Strategy.ROUND_ROBIN: "round-robin", Strategy.DEPARTMENT: "round-robin over the department",
               Strategy.WEIGHTED: "weighted round-robin", Strategy.LEAST_LOADED: "least loaded"}[rule.strategy]
        load = f", {ctx.loads[chosen] - 1} open leads before" if rule.strategy == Strategy.LEAST_LOADED else ""
        return Decision(chosen, state.departments.get(chosen), rule, None,
                        f"{why} {how.capitalize()} chose {state.names[chosen]}{load}.{skip}")
    pool = _default_pool(ctx)
    return Decision(None, pool_id=pool, explanation="No assignment rule matched"
                    + (f"; the lead went to the default pool #{pool}." if pool else "; it stays unassigned."))


def _pick(ctx: Context, state: _RuleState, eligible: list[int]) -> int:
    rule = state.rule
    if rule.strategy == Strategy.LEAST_LOADED:
        return min(eligible, key=lambda u: (ctx.loads[u], u))
    if rule.strategy == Strategy.WEIGHTED:
        total = sum(state.weights[u] for u in eligible)
        for u in eligible:
            state.currents[u] = state.currents.get(u, 0) + state.weights[u]
        chosen = max(eligible, key=lambda u: (state.currents[u], -u))
        state.currents[chosen] -= total
        return chosen
    n = len(state.ordered)
    allowed = set(eligible)
    for step in range(n):
        u = state.ordered[(rule.rr_cursor + step) % n]
        if u in allowed:
            rule.rr_cursor = rule.rr_cursor + step + 1
            return u
    return eligible[0]  # pragma: no cover - eligible is a subset of ordered


def save_cursors(ctx: Context) -> None:
    for state in ctx.states.values():
        AssignmentRule.objects.filter(pk=state.rule.pk).update(rr_cursor=state.rule.rr_cursor)
        if state.rule.strategy == Strategy.WEIGHTED and state.currents:  # one UPDATE for every member
            RuleMember.objects.filter(rule_id=state.rule.pk, user_id__in=list(state.currents)).update(
                wrr_current=Case(*[When(user_id=u, then=Value(c)) for u, c in state.currents.items()],
                                 output_field=BigIntegerField()))


# --- applying decisions ----------------------------------------------------------------------------------------


def _bucket(at: dt.datetime) -> dt.datetime:
    """The end of the minute ``at`` falls in: one sweep per organisation and minute."""
    start = at.replace(second=0, microsecond=0)
    return start if start == at else start + dt.timedelta(minutes=1)


def schedule_sla(org_id: int, kind: str, at: dt.datetime) -> None:
    bucket = _bucket(at)
    scheduled.schedule(action=SLA_ACTION, key=f"sales:sla:{kind}:{org_id}:{bucket:%Y%m%d%H%M}", due_at=bucket,
                       args={"kind": kind}, org_id=org_id)


def sla_times(rule: AssignmentRule | None, at: dt.datetime) -> dict[str, Any]:
    if rule is None or not rule.sla_minutes:
        return {"sla_state": SlaState.NONE, "sla_due_at": None, "sla_remind_at": None}
    due = at + dt.timedelta(minutes=rule.sla_minutes)
    remind = due - dt.timedelta(minutes=rule.sla_remind_before_minutes) if rule.sla_remind_before_minutes else None
    return {"sla_state": SlaState.PENDING, "sla_due_at": due, "sla_remind_at": remind if remind and remind > at else None}


def apply(actor: Actor, lead: Lead, decision: Decision, *, how: str, expect_owner: int | None = None) -> bool:
    """Write ``decision`` if the lead is still as it was read (owner ``expect_owner``, same assignment
    sequence): True when this call assigned it, False when another one got there first."""
    now = clock.now()
    guard = Lead.objects.in_org(actor).filter(pk=lead.pk, assignment_seq=lead.assignment_seq)
    guard = guard.filter(owner_id=expect_owner) if expect_owner is not None else guard.filter(owner__isnull=True)
    values: dict[str, Any] = {"assignment_rule": decision.rule, "assignment_reason": decision.explanation[:2000],
                              "assignment_seq": F("assignment_seq") + 1, "updated_at": now}
    if decision.owner_id is None:
        values.update(owner_id=None, pool_id=decision.pool_id or lead.pool_id, assigned_at=None,
                      sla_state=SlaState.NONE, sla_due_at=None, sla_remind_at=None,
                      department_id=_pool_department(actor, decision.pool_id or lead.pool_id))
    else:
        values.update(owner_id=decision.owner_id, department_id=decision.department_id, assigned_at=now,
                      first_response_at=None, response_seconds=None, **sla_times(decision.rule, now))
    if not guard.update(**values):
        return False
    before_owner = lead.owner_id
    lead.refresh_from_db()
    kind = "assigned" if lead.owner_id else ("pooled" if lead.pool_id else "unassigned")
    history(actor, lead, kind, how=how,
            rule_id=decision.rule.pk if decision.rule else None,
            rule=decision.rule.name if decision.rule else "", owner_id=lead.owner_id, pool_id=lead.pool_id,
            explanation=decision.explanation)
    auditing.record_write(actor, "assign", "sales.lead", lead.pk,
                          auditing.diff({"owner_id": before_owner}, {"owner_id": lead.owner_id}),
                          how=how, rule_id=decision.rule.pk if decision.rule else None)
    if lead.owner_id:
        events.emit(LeadAssigned(org_id=lead.org_id, lead_id=lead.pk, owner_id=lead.owner_id,
                                 rule_id=decision.rule.pk if decision.rule else None, how=how))
        if lead.sla_due_at:
            schedule_sla(lead.org_id, "breach", lead.sla_due_at)
        if lead.sla_remind_at:
            schedule_sla(lead.org_id, "remind", lead.sla_remind_at)
    return True


def _pool_department(actor: Actor, pool_id: int | None) -> int | None:
    if not pool_id:
        return None
    return Pool.objects.in_org(actor).filter(pk=pool_id).values_list("department_id", flat=True).first()


def assign_by_rules(actor: Actor, lead: Lead, *, how: str = "rule", exclude: set[int] | None = None,
                    expect_owner: int | None = None) -> Decision:
    """Run the rules for one lead and write the outcome (see the module docstring). Raises Conflict when a
    concurrent assignment got the lead first."""
    ctx = context(actor)
    decision = decide(ctx, lead, exclude=exclude or set())
    if not apply(actor, lead, decision, how=how, expect_owner=expect_owner):
        raise Conflict("the lead was assigned by someone else meanwhile", code="lead_already_assigned")
    save_cursors(ctx)
    return decision


def manual_decision(actor: Actor, owner_id: Any) -> Decision:
    m = member(actor, owner_id)
    who = actor.label if actor.is_system else f"user #{actor.user_id}"
    return Decision(m.user_id, m.department_id, None, None,
                    f"Assigned by hand by {who} to {m.user.name or m.user.email}.")


def visible_lead(actor: Actor, lead_id: Any, *, for_update: bool = False) -> Lead:
    qs = Lead.objects.visible_to(actor).filter(pk=as_int(lead_id))
    lead = (qs.select_for_update() if for_update else qs).first()
    if lead is None:
        raise NotFound("not found")
    return lead


def assign_lead(*, actor: Actor, lead_id: Any, owner_id: Any = None, by_rules: bool = False) -> Lead:
    """Assign (or transfer) a visible lead: to ``owner_id``, or through the rules with ``by_rules``."""
    require(actor, "sales.lead.assign")
    lead = visible_lead(actor, lead_id)
    if lead.status not in OPEN_STATUSES:
        raise Conflict("the lead is closed", code="lead_closed")
    if by_rules:
        assign_by_rules(actor, lead, how="rule", expect_owner=lead.owner_id,
                        exclude={lead.owner_id} if lead.owner_id else None)
    else:
        if owner_id is None:
            raise ValidationFailed("owner required", fields={"owner_id": ["give an owner or by_rules"]})
        decision = manual_decision(actor, owner_id)
        if decision.owner_id == lead.owner_id:
            return lead
        if not apply(actor, lead, decision, how="transfer" if lead.owner_id else "manual",
                     expect_owner=lead.owner_id):
            raise Conflict("the lead changed meanwhile", code="lead_already_assigned")
    lead.refresh_from_db()
    return lead


# --- rules ---------------------------------------------------------------------------------------------------

RULE_FIELDS = ["name", "priority", "is_active", "conditions", "strategy", "department_id", "capacity",
               "respect_working_hours", "fallback_pool_id", "sla_minutes", "sla_remind_before_minutes",
               "sla_escalate", "sla_reassign"]


def _optional_int(value: Any, name: str, *, lo: int = 0, hi: int = 10**6) -> int | None:
    if value in (None, ""):
        return None
    n = as_int(value, missing=ValidationFailed, field=name)
    if not lo <= n <= hi:
        raise ValidationFailed("out of range", fields={name: [f"between {lo} and {hi}"]})
    return n


def _apply_rule_data(actor: Actor, rule: AssignmentRule, data: dict[str, Any]) -> list[dict[str, Any]] | None:
    unknown = sorted(set(data) - set(RULE_FIELDS) - {"members"})
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["unknown field"] for k in unknown})
    if "name" in data:
        rule.name = text(data["name"], "name", 120, required=True)
    if "priority" in data:
        rule.priority = _optional_int(data["priority"], "priority") or 0
    if "strategy" in data:
        if data["strategy"] not in Strategy.values:
            raise ValidationFailed("bad strategy", fields={"strategy": [f"one of {', '.join(Strategy.values)}"]})
        rule.strategy = data["strategy"]
    if "conditions" in data:
        rule.conditions = conditions.validate(actor, object_meta(actor, LEAD_OBJECT), data["conditions"] or [])
    if "department_id" in data:
        dept = data["department_id"]
        if dept not in (None, "") and not Department.objects.in_org(actor).filter(pk=as_int(
                dept, missing=ValidationFailed, field="department_id")).exists():
            raise ValidationFailed("no such department", fields={"department_id": ["no such department"]})
        rule.department_id = None if dept in (None, "") else int(dept)
    if "fallback_pool_id" in data:
        pool = data["fallback_pool_id"]
        if pool not in (None, "") and not Pool.objects.in_org(actor).filter(
                pk=as_int(pool, missing=ValidationFailed, field="fallback_pool_id"), kind=PoolKind.LEAD).exists():
            raise ValidationFailed("no such pool", fields={"fallback_pool_id": ["no such lead pool"]})
        rule.fallback_pool_id = None if pool in (None, "") else int(pool)
    for name in ("capacity", "sla_minutes", "sla_remind_before_minutes"):
        if name in data:
            setattr(rule, name, _optional_int(data[name], name, lo=1 if name != "capacity" else 0))
    for name in ("is_active", "respect_working_hours", "sla_escalate", "sla_reassign"):
        if name in data:
            setattr(rule, name, bool(data[name]))
    if rule.strategy == Strategy.DEPARTMENT and not rule.department_id:
        raise ValidationFailed("department required", fields={"department_id": ["the department strategy needs one"]})
    if rule.sla_remind_before_minutes and rule.sla_minutes and rule.sla_remind_before_minutes >= rule.sla_minutes:
        raise ValidationFailed("bad reminder", fields={"sla_remind_before_minutes": ["less than the SLA"]})
    if "members" not in data:
        return None
    raw = data["members"]
    if not isinstance(raw, list) or len(raw) > 500:
        raise ValidationFailed("bad members", fields={"members": ['a list of {"user_id", "weight", "capacity"}']})
    out, seen = [], set()
    for n, m in enumerate(raw):
        if not isinstance(m, dict):
            raise ValidationFailed("bad members", fields={f"members.{n}": ["an object"]})
        who = member(actor, m.get("user_id"), f"members.{n}.user_id")
        if who.user_id in seen:
            raise ValidationFailed("twice", fields={f"members.{n}.user_id": ["listed twice"]})
        seen.add(who.user_id)
        out.append({"user_id": who.user_id, "weight": _optional_int(m.get("weight", 1), f"members.{n}.weight",
                                                                    lo=1, hi=1000) or 1,
                    "capacity": _optional_int(m.get("capacity"), f"members.{n}.capacity")})
    return out


def _rule_snapshot(rule: AssignmentRule) -> dict[str, Any]:
    snap = auditing.snapshot(rule, RULE_FIELDS)
    snap["members"] = sorted(RuleMember.objects.filter(rule=rule).values_list("user_id", "weight")) if rule.pk else []
    return snap


def _set_members(actor: Actor, rule: AssignmentRule, members: list[dict[str, Any]] | None) -> None:
    if members is None:
        return
    keep = {m["user_id"] for m in members}
    RuleMember.objects.filter(rule=rule).exclude(user_id__in=keep).delete()
    existing = {m.user_id: m for m in RuleMember.objects.filter(rule=rule)}
    for m in members:
        row = existing.get(m["user_id"]) or RuleMember(org_id=actor.org_id, rule=rule, user_id=m["user_id"])
        row.weight, row.capacity = m["weight"], m["capacity"]
        row.save()


def create_rule(*, actor: Actor, data: dict[str, Any]) -> AssignmentRule:
    require(actor, "sales.rule.manage")
    rule = AssignmentRule(org_id=actor.org_id)
    if "name" not in data:
        raise ValidationFailed("name required", fields={"name": ["required"]})
    members = _apply_rule_data(actor, rule, data)
    rule.save()
    _set_members(actor, rule, members)
    auditing.record_write(actor, "create", "sales.assignment_rule", rule.pk, auditing.diff({}, _rule_snapshot(rule)))
    return rule


def update_rule(*, actor: Actor, rule_id: Any, data: dict[str, Any]) -> AssignmentRule:
    require(actor, "sales.rule.manage")
    rule = AssignmentRule.objects.in_org(actor).select_for_update().filter(pk=as_int(rule_id)).first()
    if rule is None:
        raise NotFound("not found")
    before = _rule_snapshot(rule)
    members = _apply_rule_data(actor, rule, data)
    rule.save()
    _set_members(actor, rule, members)
    auditing.record_write(actor, "update", "sales.assignment_rule", rule.pk, auditing.diff(before, _rule_snapshot(rule)))
    return rule


def delete_rule(*, actor: Actor, rule_id: Any) -> None:
    require(actor, "sales.rule.manage")
    rule = AssignmentRule.objects.in_org(actor).filter(pk=as_int(rule_id)).first()
    if rule is None:
        raise NotFound("not found")
    auditing.record_write(actor, "delete", "sales.assignment_rule", rule.pk, auditing.diff(_rule_snapshot(rule), {}))
    rule.delete()


# --- the SLA sweep (a scheduled action registered in handlers.py) ----------------------------------------------


def _manager_of(org: Actor, user_id: int) -> int | None:
    """The manager of the owner's department, or of the nearest department above with a manager other than
    the owner."""
    m = Membership.objects.in_org(org).filter(user_id=user_id).select_related("department").first()
    dept = m.department if m else None
    while dept is not None:
        if dept.manager_id and dept.manager_id != user_id:
            return dept.manager_id
        dept = Department.objects.in_org(org).filter(pk=dept.parent_id).first() if dept.parent_id else None
    return None


def _notify(lead: Lead, recipient: int, kind: str, message: str) -> None:
    Notification.objects.create(org_id=lead.org_id, recipient_id=recipient, kind=kind, text=message[:300], lead=lead)


def sla_sweep(org_id: int, kind: str, until: dt.datetime) -> int:
    """Remind or breach every lead of the organisation due by ``until``; each lead moves once (conditional
    UPDATE on ``sla_state``). Returns how many leads moved."""
    org = Actor.system(org_id, label="sales.sla")
    if kind == "remind":
        due = Lead.objects.in_org(org).filter(sla_state=SlaState.PENDING, sla_remind_at__lte=until)
        target = SlaState.REMINDED
    else:
        due = Lead.objects.in_org(org).filter(sla_state__in=[SlaState.PENDING, SlaState.REMINDED],
                                              sla_due_at__lte=until)
        target = SlaState.BREACHED
    moved = 0
    for lead in due.select_related("assignment_rule").order_by("sla_due_at", "pk")[:5000]:
        if not Lead.objects.filter(pk=lead.pk, sla_state=lead.sla_state, assignment_seq=lead.assignment_seq).update(
                sla_state=target):
            continue
        moved += 1
        if lead.owner_id is None:
            continue
        if kind == "remind":
            history(org, lead, "sla_reminder", due_at=lead.sla_due_at.isoformat())
            _notify(lead, lead.owner_id, "sla_reminder", f"Lead #{lead.pk} {lead.name}: first response due "
                                                         f"by {lead.sla_due_at:%Y-%m-%d %H:%M} UTC")
            events.emit(LeadSlaReminderDue(org_id=org_id, lead_id=lead.pk, owner_id=lead.owner_id,
                                           due_at=lead.sla_due_at.isoformat()))
            continue
        _breach(org, lead)
    return moved


def _breach(org: Actor, lead: Lead) -> None:
    rule = lead.assignment_rule
    manager = _manager_of(org, lead.owner_id) if rule is None or rule.sla_escalate else None
    history(org, lead, "sla_breached", owner_id=lead.owner_id, manager_id=manager,
            due_at=lead.sla_due_at.isoformat() if lead.sla_due_at else None)
    if manager:
        _notify(lead, manager, "sla_escalation", f"Lead #{lead.pk} {lead.name}: no first response from its owner "
                                                 f"within the SLA")
    reassigned = None
    if rule is not None and rule.sla_reassign:
        lead.refresh_from_db()
        try:
            decision = assign_by_rules(org, lead, how="sla_reassign", exclude={lead.owner_id},
                                       expect_owner=lead.owner_id)
            reassigned = decision.owner_id
        except Conflict:
            pass
    auditing.record_write(org, "sla_breach", "sales.lead", lead.pk, {}, manager_id=manager,
                          reassigned_to=reassigned)
    events.emit(LeadSlaBreached(org_id=org.org_id, lead_id=lead.pk, owner_id=lead.owner_id, manager_id=manager,
                                reassigned_to_id=reassigned))


def record_first_response(actor: Actor, lead: Lead, at: dt.datetime) -> bool:
    """The owner's first activity after the assignment: the KPI "lead response time" and the SLA met."""
    if lead.owner_id is None or lead.assigned_at is None or lead.first_response_at is not None:
        return False
    if actor.user_id is not None and actor.user_id != lead.owner_id:
        return False
    seconds = max(0, int((at - lead.assigned_at).total_seconds()))
    sla = Q(sla_state__in=[SlaState.PENDING, SlaState.REMINDED])
    updated = Lead.objects.filter(pk=lead.pk, first_response_at__isnull=True, assignment_seq=lead.assignment_seq)
    if not updated.update(first_response_at=at, response_seconds=seconds):
        return False
    Lead.objects.filter(sla, pk=lead.pk).update(sla_state=SlaState.MET)
    if lead.status == LeadStatus.NEW:
        Lead.objects.filter(pk=lead.pk, status=LeadStatus.NEW).update(status=LeadStatus.WORKING)
    history(actor, lead, "first_response", seconds=seconds)
    return True
