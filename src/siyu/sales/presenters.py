"""Dictionaries for the API and the console: standard and custom fields through the platform's serialiser, so
field security (hidden fields left out) applies the same way everywhere."""

from __future__ import annotations

from typing import Any

from siyu.kernel.actor import Actor
from siyu.platform.serialization import serialize_record

from .models.activities import Activity
from .models.leads import Lead, LeadHistory
from .models.opportunities import GateApproval, Opportunity, Pipeline, Stage, StageHistory
from .models.pools import Pool


def lead_data(actor: Actor, meta, lead: Lead) -> dict[str, Any]:
    out = serialize_record(actor, meta, lead)
    out["custom"] = out.pop("data")
    hidden = actor.hidden_fields("sales.lead")
    for key in ("attribution", "assignment_reason", "sla_state", "sla_due_at", "first_response_at", "assigned_at",
                "assignment_rule_id", "converted_account_id", "converted_contact_id", "converted_opportunity_id",
                "status_reason", "note"):
        if key not in hidden:
            out[key] = getattr(lead, key)
    return out


def history_data(h: LeadHistory) -> dict[str, Any]:
    return {"id": h.pk, "kind": h.kind, "at": h.at, "actor_user_id": h.actor_user_id, "data": h.data}


def pool_data(pool: Pool) -> dict[str, Any]:
    return {k: getattr(pool, k) for k in ("id", "name", "kind", "department_id", "max_held", "max_daily_claims",
                                          "recycle_no_followup_days", "recycle_not_converted_days", "is_default",
                                          "is_active")}


def rule_data(rule) -> dict[str, Any]:
    out = {k: getattr(rule, k) for k in ("id", "name", "priority", "is_active", "conditions", "strategy",
                                         "department_id", "capacity", "respect_working_hours", "fallback_pool_id",
                                         "sla_minutes", "sla_remind_before_minutes", "sla_escalate", "sla_reassign")}
    out["members"] = [{"user_id": m.user_id, "weight": m.weight, "capacity": m.capacity}
                      for m in rule.members.all().order_by("user_id")]
    return out


def stage_data(stage: Stage) -> dict[str, Any]:
    gate = getattr(stage, "gate", None) if hasattr(stage, "gate") else None
    return {"id": stage.pk, "pipeline_id": stage.pipeline_id, "name": stage.name, "order": stage.order,
            "probability": stage.probability, "kind": stage.kind, "is_active": stage.is_active,
            "required_fields": gate.required_fields if gate else [],
            "requires_approval": gate.requires_approval if gate else False}


def pipeline_data(p: Pipeline) -> dict[str, Any]:
    return {"id": p.pk, "name": p.name, "is_default": p.is_default, "is_active": p.is_active, "currency": p.currency,
            "stages": [stage_data(s) for s in p.stages.all()]}


def opportunity_data(actor: Actor, meta, opp: Opportunity, *, lines: bool = False) -> dict[str, Any]:
    out = serialize_record(actor, meta, opp)
    out["custom"] = out.pop("data")
    hidden = actor.hidden_fields("sales.opportunity")
    for key in ("currency", "lead_id", "description", "stage_entered_at", "closed_at", "close_reason_id",
                "close_note", "position", "last_activity_at"):
        if key not in hidden:
            out[key] = getattr(opp, key)
    if "amount" in out and out["amount"] is not None:
        out["amount"] = str(opp.amount)
    if lines and "amount" not in hidden:
        out["lines"] = [{"id": ln.pk, "product_id": ln.product_id, "product_name": ln.product_name,
                         "quantity": str(ln.quantity), "unit_price": str(ln.unit_price),
                         "discount_percent": str(ln.discount_percent), "amount": str(ln.amount)}
                        for ln in sorted(opp.lines.all(), key=lambda ln: (ln.order, ln.pk))]  # prefetched by a detail
    return out


def stay_data(s: StageHistory) -> dict[str, Any]:
    return {"stage_id": s.stage_id, "stage": s.stage.name, "from_stage_id": s.from_stage_id,
            "entered_at": s.entered_at, "exited_at": s.exited_at, "seconds": s.seconds}


def approval_data(a: GateApproval) -> dict[str, Any]:
    return {"id": a.pk, "opportunity_id": a.opportunity_id, "stage_id": a.stage_id, "status": a.status,
            "requested_by_id": a.requested_by_id, "decided_by_id": a.decided_by_id, "decided_at": a.decided_at,
            "comment": a.comment}


def activity_data(a: Activity) -> dict[str, Any]:
    out = {k: getattr(a, k) for k in ("id", "kind", "subject", "body", "lead_id", "opportunity_id", "profile_id",
                                      "owner_id", "occurred_at", "due_at", "remind_at", "done_at", "address",
                                      "checked_in_at", "created_at")}
    out["latitude"] = str(a.latitude) if a.latitude is not None else None
    out["longitude"] = str(a.longitude) if a.longitude is not None else None
    out["has_photo"] = bool(a.photo)
    return out


def form_data(form) -> dict[str, Any]:
    return {k: getattr(form, k) for k in ("id", "key", "name", "title", "fields", "consent_purpose", "consent_text",
                                          "consent_required", "success_message", "pool_id", "campaign", "min_seconds",
                                          "rate_per_minute", "is_active", "submissions")}


def job_data(job) -> dict[str, Any]:
    return {k: getattr(job, k) for k in ("id", "kind", "status", "total", "done", "skipped", "errors", "params",
                                         "started_at", "finished_at", "created_at")}
