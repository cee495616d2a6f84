"""The sales API under ``/api/v1/sales``: leads (create, import, status, assign, claim/release, convert,
history), pools and customer pools, assignment rules, working hours and leave, pipelines and stages with gates,
opportunities (move, close, lines, history), gate approvals, activities (photo upload), web forms, bulk jobs and
the funnel.

Each operation parses, authorises (``require``), calls one service or selector and returns a schema. Lists are
keyset-paginated (``cursor``/``limit``); lead and opportunity lists filter with ``filter[field][op]=value`` on
standard and custom fields (the platform's filters) or ``filters`` as JSON, and sort with ``sort``. Records of
another organisation or out of the caller's data scope answer 404 and nothing changes.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile

from siyu.kernel.api import ERRORS, require
from siyu.kernel.errors import NotFound, ValidationFailed
from siyu.kernel.pagination import paginate
from siyu.platform.filtering import parse_json_filters, parse_query_filters

from . import presenters, selectors
from .models.assignment import AssignmentRule, Leave, SalesRep
from .models.forms import WebForm
from .models.pools import PoolCustomer, PoolKind
from .schemas import (
    ActivityCreate,
    ActivityListParams,
    ActivityOut,
    ActivityPage,
    ActivityUpdate,
    AssignmentRuleIn,
    AssignmentRuleOut,
    AssignmentRulePatch,
    BulkJobIn,
    BulkJobOut,
    CloseReasonIn,
    CloseReasonOut,
    GateApprovalDecisionIn,
    GateApprovalOut,
    GateApprovalRequestIn,
    LeadAssignIn,
    LeadConvertIn,
    LeadCreate,
    LeadHistoryOut,
    LeadImportIn,
    LeadImportOut,
    LeadListParams,
    LeadOut,
    LeadPage,
    LeadReleaseIn,
    LeadStatusIn,
    LeadUpdate,
    LeadWritten,
    OpportunityCloseIn,
    OpportunityCreate,
    OpportunityLinesIn,
    OpportunityListParams,
    OpportunityMoveIn,
    OpportunityOut,
    OpportunityPage,
    OpportunityUpdate,
    PoolCustomerIn,
    PoolCustomerOut,
    RepAvailabilityIn,
    RepAvailabilityOut,
    RepLeaveIn,
    RepLeaveOut,
    SalesFunnelOut,
    SalesPipelineIn,
    SalesPipelineOut,
    SalesPipelinePatch,
    SalesPoolIn,
    SalesPoolOut,
    SalesPoolPatch,
    SalesStageIn,
    SalesStageOut,
    SalesStagePatch,
    StageStayOut,
    WebFormIn,
    WebFormOut,
    WebFormPatch,
)
from .services import activities, assignment, availability, bulk, forms, gates, leads, opportunities, pools
from .services.common import as_int

router = Router(tags=["sales"])


def _filters(request: HttpRequest, raw: str | None):
    return parse_query_filters(request.GET) + parse_json_filters(raw)


def _lead(actor, lead_id) -> dict:
    lead = selectors.lead_detail(actor, lead_id, related=selectors.API_RELATED)
    return presenters.lead_data(actor, selectors.lead_meta(actor), lead)


def _opp(actor, opportunity_id) -> dict:
    opp = selectors.opportunity_detail(actor, opportunity_id, related=())
    return presenters.opportunity_data(actor, selectors.opportunity_meta(actor), opp, lines=True)


# --- leads ---------------------------------------------------------------------------------------------------

@router.get("/leads", response={200: LeadPage, **ERRORS}, summary="List leads")
def list_leads(request: HttpRequest, params: Query[LeadListParams]):
    actor = require(request, "sales.lead.read")
    meta = selectors.lead_meta(actor)
    page = selectors.lead_page(actor, filters=_filters(request, params.filters), sort=params.sort,
                               cursor=params.cursor, limit=params.limit, status=params.status,
                               owner_id=params.owner_id, pool_id=params.pool_id, mine=params.mine, meta=meta)
    return {"items": [presenters.lead_data(actor, meta, x) for x in page.items], "next_cursor": page.next_cursor}


@router.post("/leads", response={201: LeadWritten, 200: LeadWritten, **ERRORS},
             summary="Create a lead (or merge into the person's open lead)")
def create_lead(request: HttpRequest, payload: LeadCreate):
    actor = require(request, "sales.lead.create")
    data = payload.model_dump()
    fields = {k: data[k] for k in ("company", "title", "campaign", "region", "industry", "score", "note")
              if data[k] is not None}
    written = leads.create_lead(
        actor=actor, name=payload.name, phone=payload.phone, email=payload.email,
        identifiers=[i.model_dump() for i in payload.identifiers], profile_id=payload.profile_id,
        source=payload.source, attribution=payload.attribution, fields=fields, custom=payload.custom,
        owner_id=payload.owner_id, pool_id=payload.pool_id, auto_assign=payload.auto_assign,
    )
    body = {"created": written.created, "lead": presenters.lead_data(actor, selectors.lead_meta(actor), written.lead)}
    return Status(201 if written.created else 200, body)


@router.post("/leads/import", response={200: LeadImportOut, **ERRORS}, summary="Import leads (one outcome per row)")
def import_leads(request: HttpRequest, payload: LeadImportIn):
    actor = require(request, "sales.lead.create")
    return {"results": leads.import_leads(actor=actor, rows=[r.model_dump() for r in payload.rows])}


@router.get("/leads/{lead_id}", response={200: LeadOut, **ERRORS}, summary="A lead")
def get_lead(request: HttpRequest, lead_id: int):
    actor = require(request, "sales.lead.read")
    return _lead(actor, lead_id)


@router.patch("/leads/{lead_id}", response={200: LeadOut, **ERRORS}, summary="Edit a lead")
def update_lead(request: HttpRequest, lead_id: int, payload: LeadUpdate):
    actor = require(request, "sales.lead.update")
    changes = payload.model_dump(exclude_unset=True)
    custom = changes.pop("custom", None)
    leads.update_lead(actor=actor, lead_id=lead_id, changes=changes, custom=custom)
    return _lead(actor, lead_id)


@router.post("/leads/{lead_id}/status", response={200: LeadOut, **ERRORS}, summary="Change a lead's status")
def set_status(request: HttpRequest, lead_id: int, payload: LeadStatusIn):
    actor = require(request, "sales.lead.update")
    leads.set_status(actor=actor, lead_id=lead_id, status=payload.status, reason=payload.reason)
    return _lead(actor, lead_id)


@router.post("/leads/{lead_id}/assign", response={200: LeadOut, **ERRORS},
             summary="Assign or transfer a lead (to an owner, or through the rules)")
def assign_lead(request: HttpRequest, lead_id: int, payload: LeadAssignIn):
    actor = require(request, "sales.lead.assign")
    assignment.assign_lead(actor=actor, lead_id=lead_id, owner_id=payload.owner_id, by_rules=payload.by_rules)
    return _lead(actor, lead_id)


@router.post("/leads/{lead_id}/claim", response={200: LeadOut, **ERRORS}, summary="Claim a lead from a pool")
def claim_lead(request: HttpRequest, lead_id: int):
    actor = require(request, "sales.pool.claim")
    pools.claim_lead(actor=actor, lead_id=lead_id)
    return _lead(actor, lead_id)


@router.post("/leads/{lead_id}/release", response={200: LeadOut, **ERRORS}, summary="Release a lead to a pool")
def release_lead(request: HttpRequest, lead_id: int, payload: LeadReleaseIn):
    actor = require(request, "sales.pool.claim")
    lead = pools.release_lead(actor=actor, lead_id=lead_id, reason=payload.reason, pool_id=payload.pool_id)
    return presenters.lead_data(actor, selectors.lead_meta(actor), lead)


@router.post("/leads/{lead_id}/convert", response={200: LeadOut, **ERRORS},
             summary="Convert a lead into account, contact and opportunity")
def convert_lead(request: HttpRequest, lead_id: int, payload: LeadConvertIn):
    actor = require(request, "sales.lead.convert")
    leads.convert_lead(actor=actor, lead_id=lead_id, account_id=payload.account_id, account_name=payload.account_name,
                       create_opportunity=payload.create_opportunity, opportunity=payload.opportunity)
    return _lead(actor, lead_id)


@router.get("/leads/{lead_id}/history", response={200: list[LeadHistoryOut], **ERRORS}, summary="A lead's history")
def lead_history(request: HttpRequest, lead_id: int):
    actor = require(request, "sales.lead.read")
    lead = selectors.lead_detail(actor, lead_id, related=())
    return [presenters.history_data(h) for h in selectors.lead_history(actor, lead)]


# --- pools ----------------------------------------------------------------------------------------------------

@router.get("/pools", response={200: list[SalesPoolOut], **ERRORS}, summary="Pools the caller may use")
def list_pools(request: HttpRequest):
    actor = require(request, "sales.pool.read")
    return [presenters.pool_data(p) for p in pools.pools_for(actor).order_by("kind", "name", "pk")]


@router.post("/pools", response={201: SalesPoolOut, **ERRORS}, summary="Create a pool")
def create_pool(request: HttpRequest, payload: SalesPoolIn):
    actor = require(request, "sales.pool.manage")
    return Status(201, presenters.pool_data(pools.create_pool(actor=actor, data=payload.model_dump())))


@router.get("/pools/{pool_id}", response={200: SalesPoolOut, **ERRORS}, summary="A pool")
def get_pool(request: HttpRequest, pool_id: int):
    actor = require(request, "sales.pool.read")
    return presenters.pool_data(pools.visible_pool(actor, pool_id))


@router.patch("/pools/{pool_id}", response={200: SalesPoolOut, **ERRORS}, summary="Change a pool's settings")
def update_pool(request: HttpRequest, pool_id: int, payload: SalesPoolPatch):
    actor = require(request, "sales.pool.manage")
    return presenters.pool_data(pools.update_pool(actor=actor, pool_id=pool_id,
                                                  data=payload.model_dump(exclude_unset=True)))


@router.get("/pools/{pool_id}/leads", response={200: LeadPage, **ERRORS}, summary="Leads waiting in a pool")
def pool_leads(request: HttpRequest, pool_id: int, cursor: str | None = None, limit: int = 50):
    actor = require(request, "sales.pool.read")
    pool = pools.visible_pool(actor, pool_id)
    page = paginate(pools.pool_leads(actor, pool), order=["-id"], cursor=cursor, limit=min(max(limit, 1), 200))
    meta = selectors.lead_meta(actor)
    return {"items": [presenters.lead_data(actor, meta, x) for x in page.items], "next_cursor": page.next_cursor}


def _entry(e: PoolCustomer) -> dict:
    return {"id": e.pk, "pool_id": e.pool_id, "profile_id": e.profile_id, "reason": e.reason,
            "claimed_by_id": e.claimed_by_id, "claimed_at": e.claimed_at, "created_at": e.created_at}


@router.get("/pools/{pool_id}/customers", response={200: list[PoolCustomerOut], **ERRORS},
            summary="Customers waiting in a customer pool")
def pool_customers(request: HttpRequest, pool_id: int):
    actor = require(request, "sales.pool.read")
    pool = pools.visible_pool(actor, pool_id)
    return [_entry(e) for e in PoolCustomer.objects.in_org(actor).filter(pool=pool, claimed_by__isnull=True)
            .order_by("-id")[:200]]


@router.post("/pools/{pool_id}/customers", response={201: PoolCustomerOut, **ERRORS},
             summary="Release a customer into a customer pool")
def release_customer(request: HttpRequest, pool_id: int, payload: PoolCustomerIn):
    actor = require(request, "sales.pool.claim")
    pool = pools.visible_pool(actor, pool_id)
    if pool.kind != PoolKind.CUSTOMER:
        raise ValidationFailed("not a customer pool", fields={"pool_id": ["not a customer pool"]})
    return Status(201, _entry(pools.release_customer(actor=actor, profile_id=payload.profile_id, pool_id=pool.pk,
                                                     reason=payload.reason)))


@router.post("/pools/{pool_id}/customers/{entry_id}/claim", response={200: PoolCustomerOut, **ERRORS},
             summary="Claim a customer from a customer pool")
def claim_customer(request: HttpRequest, pool_id: int, entry_id: int):
    actor = require(request, "sales.pool.claim")
    pools.visible_pool(actor, pool_id)
    entry = pools.claim_customer(actor=actor, entry_id=entry_id)
    if entry.pool_id != pool_id:  # pragma: no cover - the claim checked the actor's pools
        raise NotFound("not found")
    return _entry(entry)


# --- assignment rules, working hours, leave ---------------------------------------------------------------------

def _rule(actor, rule_id) -> AssignmentRule:
    rule = AssignmentRule.objects.in_org(actor).filter(pk=as_int(rule_id)).first()
    if rule is None:
        raise NotFound("not found")
    return rule


@router.get("/assignment-rules", response={200: list[AssignmentRuleOut], **ERRORS}, summary="Assignment rules, in order")
def list_rules(request: HttpRequest):
    actor = require(request, "sales.rule.manage")
    return [presenters.rule_data(r) for r in AssignmentRule.objects.in_org(actor).order_by("priority", "id")]


@router.post("/assignment-rules", response={201: AssignmentRuleOut, **ERRORS}, summary="Create an assignment rule")
def create_rule(request: HttpRequest, payload: AssignmentRuleIn):
    actor = require(request, "sales.rule.manage")
    return Status(201, presenters.rule_data(assignment.create_rule(actor=actor, data=payload.model_dump())))


@router.get("/assignment-rules/{rule_id}", response={200: AssignmentRuleOut, **ERRORS}, summary="An assignment rule")
def get_rule(request: HttpRequest, rule_id: int):
    actor = require(request, "sales.rule.manage")
    return presenters.rule_data(_rule(actor, rule_id))


@router.patch("/assignment-rules/{rule_id}", response={200: AssignmentRuleOut, **ERRORS}, summary="Change an assignment rule")
def update_rule(request: HttpRequest, rule_id: int, payload: AssignmentRulePatch):
    actor = require(request, "sales.rule.manage")
    data = payload.model_dump(exclude_unset=True)
    return presenters.rule_data(assignment.update_rule(actor=actor, rule_id=rule_id, data=data))


@router.delete("/assignment-rules/{rule_id}", response={204: None, **ERRORS}, summary="Delete an assignment rule")
def delete_rule(request: HttpRequest, rule_id: int):
    actor = require(request, "sales.rule.manage")
    assignment.delete_rule(actor=actor, rule_id=rule_id)
    return Status(204, None)


def _rep(rep: SalesRep) -> dict:
    out = {k: getattr(rep, k) for k in ("user_id", "work_days", "observe_holidays", "always_available", "capacity")}
    return {**out, "work_start": rep.work_start.isoformat(), "work_end": rep.work_end.isoformat()}


@router.get("/reps", response={200: list[RepAvailabilityOut], **ERRORS}, summary="Working hours of salespeople")
def list_reps(request: HttpRequest):
    actor = require(request, "sales.rule.manage")
    return [_rep(r) for r in SalesRep.objects.in_org(actor).order_by("user_id")]


@router.put("/reps/{user_id}", response={200: RepAvailabilityOut, **ERRORS},
            summary="Set a salesperson's working hours and capacity")
def set_rep(request: HttpRequest, user_id: int, payload: RepAvailabilityIn):
    actor = require(request, "sales.rule.manage")
    return _rep(availability.set_availability(actor=actor, user_id=user_id,
                                              data=payload.model_dump(exclude_unset=True)))


@router.get("/leaves", response={200: list[RepLeaveOut], **ERRORS}, summary="Leave of salespeople")
def list_leaves(request: HttpRequest):
    actor = require(request, "sales.rule.manage")
    return [{"id": x.pk, "user_id": x.user_id, "starts_at": x.starts_at, "ends_at": x.ends_at, "reason": x.reason}
            for x in Leave.objects.in_org(actor).order_by("-starts_at")[:500]]


@router.post("/leaves", response={201: RepLeaveOut, **ERRORS}, summary="Record leave")
def add_leave(request: HttpRequest, payload: RepLeaveIn):
    actor = require(request, "sales.rule.manage")
    x = availability.add_leave(actor=actor, user_id=payload.user_id, starts_at=payload.starts_at,
                               ends_at=payload.ends_at, reason=payload.reason)
    return Status(201, {"id": x.pk, "user_id": x.user_id, "starts_at": x.starts_at, "ends_at": x.ends_at,
                        "reason": x.reason})


@router.delete("/leaves/{leave_id}", response={204: None, **ERRORS}, summary="Delete leave")
def delete_leave(request: HttpRequest, leave_id: int):
    actor = require(request, "sales.rule.manage")
    availability.delete_leave(actor=actor, leave_id=leave_id)
    return Status(204, None)


# --- pipelines, stages, close reasons ---------------------------------------------------------------------------

@router.get("/pipelines", response={200: list[SalesPipelineOut], **ERRORS}, summary="Pipelines with their stages")
def list_pipelines(request: HttpRequest):
    actor = require(request, "sales.opportunity.read")
    return [presenters.pipeline_data(p) for p in selectors.pipelines(actor)]


@router.post("/pipelines", response={201: SalesPipelineOut, **ERRORS}, summary="Create a pipeline")
def create_pipeline(request: HttpRequest, payload: SalesPipelineIn):
    actor = require(request, "sales.pipeline.manage")
    p = opportunities.create_pipeline(actor=actor, name=payload.name, currency=payload.currency,
                                      is_default=payload.is_default,
                                      stages=[s.model_dump(exclude_none=True) for s in payload.stages] or None)
    return Status(201, presenters.pipeline_data(selectors.pipeline(actor, p.pk)))


@router.get("/pipelines/{pipeline_id}", response={200: SalesPipelineOut, **ERRORS}, summary="A pipeline")
def get_pipeline(request: HttpRequest, pipeline_id: int):
    actor = require(request, "sales.opportunity.read")
    return presenters.pipeline_data(selectors.pipeline(actor, pipeline_id))


@router.patch("/pipelines/{pipeline_id}", response={200: SalesPipelineOut, **ERRORS}, summary="Change a pipeline")
def update_pipeline(request: HttpRequest, pipeline_id: int, payload: SalesPipelinePatch):
    actor = require(request, "sales.pipeline.manage")
    opportunities.update_pipeline(actor=actor, pipeline_id=pipeline_id, data=payload.model_dump(exclude_unset=True))
    return presenters.pipeline_data(selectors.pipeline(actor, pipeline_id))


@router.post("/pipelines/{pipeline_id}/stages", response={201: SalesStageOut, **ERRORS}, summary="Add a stage")
def add_stage(request: HttpRequest, pipeline_id: int, payload: SalesStageIn):
    actor = require(request, "sales.pipeline.manage")
    stage = opportunities.add_stage(actor=actor, pipeline_id=pipeline_id, data=payload.model_dump(exclude_none=True))
    return Status(201, presenters.stage_data(opportunities.stage_of(actor, stage.pk)))


@router.get("/stages", response={200: list[SalesStageOut], **ERRORS}, summary="Every stage of every pipeline")
def list_stages(request: HttpRequest):
    actor = require(request, "sales.opportunity.read")
    return [presenters.stage_data(s) for p in selectors.pipelines(actor) for s in p.stages.all()]


@router.patch("/stages/{stage_id}", response={200: SalesStageOut, **ERRORS},
              summary="Change a stage and its gate (required fields, approval)")
def update_stage(request: HttpRequest, stage_id: int, payload: SalesStagePatch):
    actor = require(request, "sales.pipeline.manage")
    opportunities.update_stage(actor=actor, stage_id=stage_id, data=payload.model_dump(exclude_unset=True))
    return presenters.stage_data(opportunities.stage_of(actor, stage_id))


@router.get("/close-reasons", response={200: list[CloseReasonOut], **ERRORS}, summary="Won and lost reasons")
def list_close_reasons(request: HttpRequest):
    actor = require(request, "sales.opportunity.read")
    return [{"id": r.pk, "kind": r.kind, "label": r.label} for r in selectors.close_reasons(actor)]


@router.post("/close-reasons", response={201: CloseReasonOut, **ERRORS}, summary="Add a won or lost reason")
def create_close_reason(request: HttpRequest, payload: CloseReasonIn):
    actor = require(request, "sales.pipeline.manage")
    r = opportunities.create_close_reason(actor=actor, kind=payload.kind, label=payload.label)
    return Status(201, {"id": r.pk, "kind": r.kind, "label": r.label})


# --- opportunities ------------------------------------------------------------------------------------------------

@router.get("/opportunities", response={200: OpportunityPage, **ERRORS}, summary="List opportunities")
def list_opportunities(request: HttpRequest, params: Query[OpportunityListParams]):
    actor = require(request, "sales.opportunity.read")
    meta = selectors.opportunity_meta(actor)
    page = selectors.opportunity_page(actor, filters=_filters(request, params.filters), sort=params.sort,
                                      cursor=params.cursor, limit=params.limit, status=params.status,
                                      pipeline_id=params.pipeline_id, stage_id=params.stage_id, mine=params.mine,
                                      meta=meta)
    return {"items": [presenters.opportunity_data(actor, meta, x) for x in page.items],
            "next_cursor": page.next_cursor}


@router.post("/opportunities", response={201: OpportunityOut, **ERRORS}, summary="Create an opportunity")
def create_opportunity(request: HttpRequest, payload: OpportunityCreate):
    actor = require(request, "sales.opportunity.create")
    data = payload.model_dump(exclude={"custom", "lines"}, exclude_none=True)
    opp = opportunities.create_opportunity(actor=actor, data=data, custom=payload.custom,
                                           lines=[line.model_dump() for line in payload.lines])
    return Status(201, _opp(actor, opp.pk))


@router.get("/opportunities/{opportunity_id}", response={200: OpportunityOut, **ERRORS}, summary="An opportunity")
def get_opportunity(request: HttpRequest, opportunity_id: int):
    actor = require(request, "sales.opportunity.read")
    return _opp(actor, opportunity_id)


@router.patch("/opportunities/{opportunity_id}", response={200: OpportunityOut, **ERRORS},
              summary="Edit an opportunity (not its stage: use move or close)")
def update_opportunity(request: HttpRequest, opportunity_id: int, payload: OpportunityUpdate):
    actor = require(request, "sales.opportunity.update")
    changes = payload.model_dump(exclude_unset=True)
    custom = changes.pop("custom", None)
    opportunities.update_opportunity(actor=actor, opportunity_id=opportunity_id, changes=changes, custom=custom)
    return _opp(actor, opportunity_id)


@router.post("/opportunities/{opportunity_id}/move", response={200: OpportunityOut, **ERRORS},
             summary="Move an opportunity to a stage (stage gates apply)")
def move_opportunity(request: HttpRequest, opportunity_id: int, payload: OpportunityMoveIn):
    actor = require(request, "sales.opportunity.update")
    opportunities.move_opportunity(actor=actor, opportunity_id=opportunity_id, stage_id=payload.stage_id,
                                   before_id=payload.before_id, after_id=payload.after_id)
    return _opp(actor, opportunity_id)


@router.post("/opportunities/{opportunity_id}/close", response={200: OpportunityOut, **ERRORS},
             summary="Win or lose an opportunity with a reason")
def close_opportunity(request: HttpRequest, opportunity_id: int, payload: OpportunityCloseIn):
    actor = require(request, "sales.opportunity.update")
    opportunities.close_opportunity(actor=actor, opportunity_id=opportunity_id, outcome=payload.outcome,
                                    reason_id=payload.reason_id, note=payload.note)
    return _opp(actor, opportunity_id)


@router.put("/opportunities/{opportunity_id}/lines", response={200: OpportunityOut, **ERRORS},
            summary="Replace the product lines (the amount becomes their sum)")
def set_lines(request: HttpRequest, opportunity_id: int, payload: OpportunityLinesIn):
    actor = require(request, "sales.opportunity.update")
    opportunities.set_lines(actor=actor, opportunity_id=opportunity_id, lines=[x.model_dump() for x in payload.lines])
    return _opp(actor, opportunity_id)


@router.get("/opportunities/{opportunity_id}/stage-history", response={200: list[StageStayOut], **ERRORS},
            summary="Stages an opportunity went through, with time spent")
def stage_history(request: HttpRequest, opportunity_id: int):
    actor = require(request, "sales.opportunity.read")
    opp = selectors.opportunity_detail(actor, opportunity_id)
    return [presenters.stay_data(s) for s in selectors.stage_history(actor, opp)]


@router.post("/opportunities/{opportunity_id}/approvals", response={201: GateApprovalOut, **ERRORS},
             summary="Ask for the approval a stage gate needs")
def request_approval(request: HttpRequest, opportunity_id: int, payload: GateApprovalRequestIn):
    actor = require(request, "sales.opportunity.update")
    opp = opportunities.visible_opportunity(actor, opportunity_id)
    stage = opportunities.stage_of(actor, payload.stage_id)
    if stage.pipeline_id != opp.pipeline_id:
        raise ValidationFailed("bad stage", fields={"stage_id": ["a stage of the opportunity's pipeline"]})
    return Status(201, presenters.approval_data(gates.request_approval(actor=actor, opportunity=opp, stage=stage)))


@router.get("/gate-approvals", response={200: list[GateApprovalOut], **ERRORS}, summary="Pending stage-gate approvals")
def list_approvals(request: HttpRequest, status: str | None = "pending"):
    actor = require(request, "sales.opportunity.read")
    return [presenters.approval_data(a) for a in selectors.gate_approvals(actor, status=status)[:200]]


@router.post("/gate-approvals/{approval_id}/decide", response={200: GateApprovalOut, **ERRORS},
             summary="Approve or reject a stage-gate approval")
def decide_approval(request: HttpRequest, approval_id: int, payload: GateApprovalDecisionIn):
    actor = require(request, "sales.opportunity.approve")
    return presenters.approval_data(gates.record_gate_decision(actor=actor, approval_id=approval_id,
                                                               approved=payload.approved, comment=payload.comment,
                                                               external_ref=payload.external_ref))


@router.get("/funnel", response={200: SalesFunnelOut, **ERRORS}, summary="The sales funnel of a pipeline")
def funnel(request: HttpRequest, pipeline_id: int | None = None):
    actor = require(request, "sales.dashboard.read")
    pipe = selectors.pipeline(actor, pipeline_id) if pipeline_id else selectors.pipeline(
        actor, opportunities.ensure_default_pipeline(actor).pk)
    return {"pipeline_id": pipe.pk, "steps": selectors.funnel(actor, pipe)}


# --- activities -----------------------------------------------------------------------------------------------

@router.get("/activities", response={200: ActivityPage, **ERRORS}, summary="Activities, visits and tasks")
def list_activities(request: HttpRequest, params: Query[ActivityListParams]):
    actor = require(request, "sales.activity.read")
    qs = selectors.activities_for(actor, lead_id=params.lead_id, opportunity_id=params.opportunity_id,
                                  profile_id=params.profile_id, kind=params.kind, open_tasks=params.open_tasks,
                                  due_from=params.due_from, due_to=params.due_to, mine=params.mine)
    page = paginate(qs, order=["-id"], cursor=params.cursor, limit=params.limit)
    return {"items": [presenters.activity_data(a) for a in page.items], "next_cursor": page.next_cursor}


@router.post("/activities", response={201: ActivityOut, **ERRORS}, summary="Log a follow-up or visit, create a task")
def create_activity(request: HttpRequest, payload: ActivityCreate):
    actor = require(request, "sales.activity.create")
    return Status(201, presenters.activity_data(activities.create_activity(actor=actor, data=payload.model_dump())))


@router.get("/activities/{activity_id}", response={200: ActivityOut, **ERRORS}, summary="An activity")
def get_activity(request: HttpRequest, activity_id: int):
    actor = require(request, "sales.activity.read")
    return presenters.activity_data(activities.visible_activity(actor, activity_id))


@router.patch("/activities/{activity_id}", response={200: ActivityOut, **ERRORS}, summary="Edit an activity")
def update_activity(request: HttpRequest, activity_id: int, payload: ActivityUpdate):
    actor = require(request, "sales.activity.update")
    return presenters.activity_data(activities.update_activity(actor=actor, activity_id=activity_id,
                                                               changes=payload.model_dump(exclude_unset=True)))


@router.post("/activities/{activity_id}/complete", response={200: ActivityOut, **ERRORS}, summary="Complete a task")
def complete_activity(request: HttpRequest, activity_id: int):
    actor = require(request, "sales.activity.update")
    return presenters.activity_data(activities.complete_activity(actor=actor, activity_id=activity_id))


@router.post("/activities/{activity_id}/photo", response={200: ActivityOut, **ERRORS},
             summary="Upload a visit's check-in photo (JPEG or PNG, at most 5 MB)")
def upload_photo(request: HttpRequest, activity_id: int, photo: File[UploadedFile] = None):
    actor = require(request, "sales.activity.update")
    activities.visible_activity(actor, activity_id)  # an outsider's 404 before the upload is looked at
    if photo is None:
        raise ValidationFailed("no photo", fields={"photo": ["attach a JPEG or PNG as multipart field photo"]})
    if photo.size and photo.size > activities.MAX_PHOTO_BYTES:
        raise ValidationFailed("too large", fields={"photo": ["at most 5 MB"]})
    content = photo.read(activities.MAX_PHOTO_BYTES + 1)
    return presenters.activity_data(activities.attach_photo(actor=actor, activity_id=activity_id, content=content))


# --- web forms -------------------------------------------------------------------------------------------------

def _form(actor, form_id) -> WebForm:
    form = WebForm.objects.in_org(actor).filter(pk=as_int(form_id)).first()
    if form is None:
        raise NotFound("not found")
    return form


@router.get("/forms", response={200: list[WebFormOut], **ERRORS}, summary="Web forms")
def list_forms(request: HttpRequest):
    actor = require(request, "sales.form.manage")
    return [presenters.form_data(f) for f in WebForm.objects.in_org(actor).order_by("-id")[:500]]


@router.post("/forms", response={201: WebFormOut, **ERRORS}, summary="Create a web form")
def create_form(request: HttpRequest, payload: WebFormIn):
    actor = require(request, "sales.form.manage")
    data = payload.model_dump(exclude_none=True)
    return Status(201, presenters.form_data(forms.create_form(actor=actor, data=data)))


@router.get("/forms/{form_id}", response={200: WebFormOut, **ERRORS}, summary="A web form")
def get_form(request: HttpRequest, form_id: int):
    actor = require(request, "sales.form.manage")
    return presenters.form_data(_form(actor, form_id))


@router.patch("/forms/{form_id}", response={200: WebFormOut, **ERRORS}, summary="Change a web form")
def update_form(request: HttpRequest, form_id: int, payload: WebFormPatch):
    actor = require(request, "sales.form.manage")
    return presenters.form_data(forms.update_form(actor=actor, form_id=form_id,
                                                  data=payload.model_dump(exclude_unset=True)))


# --- bulk jobs -------------------------------------------------------------------------------------------------

@router.post("/bulk-jobs", response={202: BulkJobOut, **ERRORS},
             summary="Start a bulk action on leads (assign by rules, transfer, recycle)")
def start_bulk(request: HttpRequest, payload: BulkJobIn):
    actor = require(request, "sales.lead.bulk")
    params = {k: v for k, v in (("owner_id", payload.owner_id), ("pool_id", payload.pool_id)) if v is not None}
    job = bulk.start_bulk(actor=actor, kind=payload.kind, lead_ids=payload.lead_ids, params=params)
    return Status(202, presenters.job_data(job))


@router.get("/bulk-jobs", response={200: list[BulkJobOut], **ERRORS}, summary="Recent bulk jobs")
def list_bulk(request: HttpRequest):
    actor = require(request, "sales.lead.bulk")
    return [presenters.job_data(j) for j in bulk.visible_jobs(actor)[:100]]


@router.get("/bulk-jobs/{job_id}", response={200: BulkJobOut, **ERRORS}, summary="A bulk job's progress")
def get_bulk(request: HttpRequest, job_id: int):
    actor = require(request, "sales.lead.read")
    return presenters.job_data(bulk.visible_job(actor, job_id))
