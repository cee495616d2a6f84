"""Schemas of the sales API (``/api/v1/sales``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field

from siyu.kernel.api import OutSchema

Text200 = Field(None, max_length=200)


class SalesListParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    sort: str | None = Field(None, max_length=200, description="field or -field, comma-separated (at most 3)")
    filters: str | None = Field(None, max_length=10000,
                                description='JSON: [{"field": "k", "op": "eq", "value": 1}]; or filter[field][op]=value')
    mine: bool = False


class LeadListParams(SalesListParams):
    status: Literal["new", "working", "nurturing", "qualified", "unqualified", "converted"] | None = None
    owner_id: int | None = None
    pool_id: int | None = None


class LeadIdentifierIn(Schema):
    type: Literal["phone", "email", "wecom_external_userid", "unionid", "openid", "erp_id", "user_id"]
    value: str = Field(..., max_length=200)
    namespace: str = Field("", max_length=80)


class LeadCreate(Schema):
    name: str = Field("", max_length=200)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    identifiers: list[LeadIdentifierIn] = Field(default_factory=list, max_length=10)
    profile_id: int | None = None
    company: str | None = Text200
    title: str | None = Field(None, max_length=120)
    source: Literal["manual", "api", "import", "web_form", "wecom_live_code", "official_account", "mini_program",
                    "event", "referral", "other"] = "api"
    campaign: str | None = Field(None, max_length=120)
    region: str | None = Field(None, max_length=60)
    industry: str | None = Field(None, max_length=60)
    score: int | None = None
    note: str | None = Field(None, max_length=5000)
    attribution: dict[str, str] = Field(default_factory=dict)
    custom: dict[str, Any] = Field(default_factory=dict)
    owner_id: int | None = None
    pool_id: int | None = None
    auto_assign: bool = True


class LeadUpdate(Schema):
    name: str | None = Field(None, max_length=200)
    company: str | None = Text200
    title: str | None = Field(None, max_length=120)
    campaign: str | None = Field(None, max_length=120)
    region: str | None = Field(None, max_length=60)
    industry: str | None = Field(None, max_length=60)
    score: int | None = None
    note: str | None = Field(None, max_length=5000)
    custom: dict[str, Any] | None = None


class LeadOut(OutSchema):
    id: int
    name: str | None = None
    company: str | None = None
    title: str | None = None
    status: str | None = None
    source: str | None = None
    campaign: str | None = None
    region: str | None = None
    industry: str | None = None
    score: int | None = None
    owner_id: int | None = None
    department_id: int | None = None
    pool_id: int | None = None
    profile_id: int | None = None
    response_seconds: int | None = None
    last_activity_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    custom: dict[str, Any] = {}
    attribution: dict[str, Any] | None = None
    assignment_reason: str | None = None
    assignment_rule_id: int | None = None
    assigned_at: dt.datetime | None = None
    sla_state: str | None = None
    sla_due_at: dt.datetime | None = None
    first_response_at: dt.datetime | None = None
    converted_account_id: int | None = None
    converted_contact_id: int | None = None
    converted_opportunity_id: int | None = None
    status_reason: str | None = None
    note: str | None = None


class LeadWritten(OutSchema):
    created: bool
    lead: LeadOut


class LeadPage(OutSchema):
    items: list[LeadOut]
    next_cursor: str | None


class LeadImportRow(Schema):
    name: str = Field("", max_length=200)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict)
    custom: dict[str, Any] = Field(default_factory=dict)
    attribution: dict[str, str] = Field(default_factory=dict)
    owner_id: int | None = None
    pool_id: int | None = None


class LeadImportIn(Schema):
    rows: list[LeadImportRow] = Field(..., min_length=1, max_length=1000)


class LeadImportOutcome(Schema):
    row: int
    lead_id: int | None
    created: bool
    errors: dict[str, list[str]]


class LeadImportOut(Schema):
    results: list[LeadImportOutcome]


class LeadStatusIn(Schema):
    status: Literal["new", "working", "nurturing", "qualified", "unqualified"]
    reason: str = Field("", max_length=200)


class LeadAssignIn(Schema):
    owner_id: int | None = None
    by_rules: bool = False


class LeadReleaseIn(Schema):
    reason: str = Field("", max_length=200)
    pool_id: int | None = None


class LeadConvertIn(Schema):
    account_id: int | None = None
    account_name: str = Field("", max_length=200)
    create_opportunity: bool = True
    opportunity: dict[str, Any] = Field(default_factory=dict)


class LeadHistoryOut(Schema):
    id: int
    kind: str
    at: dt.datetime
    actor_user_id: int | None
    data: dict[str, Any]


class SalesPoolIn(Schema):
    name: str = Field(..., max_length=120)
    kind: Literal["lead", "customer"] = "lead"
    department_id: int | None = None
    max_held: int | None = Field(None, ge=0, le=100000)
    max_daily_claims: int | None = Field(None, ge=0, le=100000)
    recycle_no_followup_days: int | None = Field(None, ge=0, le=100000)
    recycle_not_converted_days: int | None = Field(None, ge=0, le=100000)
    is_default: bool = False
    is_active: bool = True


class SalesPoolPatch(Schema):
    name: str | None = Field(None, max_length=120)
    department_id: int | None = None
    max_held: int | None = Field(None, ge=0, le=100000)
    max_daily_claims: int | None = Field(None, ge=0, le=100000)
    recycle_no_followup_days: int | None = Field(None, ge=0, le=100000)
    recycle_not_converted_days: int | None = Field(None, ge=0, le=100000)
    is_default: bool | None = None
    is_active: bool | None = None


class SalesPoolOut(Schema):
    id: int
    name: str
    kind: str
    department_id: int | None
    max_held: int | None
    max_daily_claims: int | None
    recycle_no_followup_days: int | None
    recycle_not_converted_days: int | None
    is_default: bool
    is_active: bool


class PoolCustomerIn(Schema):
    profile_id: int
    reason: str = Field("", max_length=200)


class PoolCustomerOut(Schema):
    id: int
    pool_id: int
    profile_id: int
    reason: str
    claimed_by_id: int | None
    claimed_at: dt.datetime | None
    created_at: dt.datetime


class AssignmentRuleMemberIn(Schema):
    user_id: int
    weight: int = Field(1, ge=1, le=1000)
    capacity: int | None = Field(None, ge=0, le=1000000)


class RuleConditionIn(Schema):
    field: str = Field(..., max_length=40)
    op: str = Field(..., max_length=20)
    value: Any = None


class AssignmentRuleIn(Schema):
    name: str = Field(..., max_length=120)
    priority: int = Field(100, ge=0, le=1000000)
    is_active: bool = True
    conditions: list[RuleConditionIn] = Field(default_factory=list, max_length=20)
    strategy: Literal["round_robin", "weighted", "least_loaded", "department"] = "round_robin"
    department_id: int | None = None
    capacity: int | None = Field(None, ge=0, le=1000000)
    respect_working_hours: bool = True
    fallback_pool_id: int | None = None
    sla_minutes: int | None = Field(None, ge=1, le=1000000)
    sla_remind_before_minutes: int | None = Field(None, ge=1, le=1000000)
    sla_escalate: bool = True
    sla_reassign: bool = False
    members: list[AssignmentRuleMemberIn] = Field(default_factory=list, max_length=500)


class AssignmentRulePatch(Schema):
    name: str | None = Field(None, max_length=120)
    priority: int | None = Field(None, ge=0, le=1000000)
    is_active: bool | None = None
    conditions: list[RuleConditionIn] | None = Field(None, max_length=20)
    strategy: Literal["round_robin", "weighted", "least_loaded", "department"] | None = None
    department_id: int | None = None
    capacity: int | None = Field(None, ge=0, le=1000000)
    respect_working_hours: bool | None = None
    fallback_pool_id: int | None = None
    sla_minutes: int | None = Field(None, ge=1, le=1000000)
    sla_remind_before_minutes: int | None = Field(None, ge=1, le=1000000)
    sla_escalate: bool | None = None
    sla_reassign: bool | None = None
    members: list[AssignmentRuleMemberIn] | None = Field(None, max_length=500)


class AssignmentRuleOut(Schema):
    id: int
    name: str
    priority: int
    is_active: bool
    conditions: list[dict[str, Any]]
    strategy: str
    department_id: int | None
    capacity: int | None
    respect_working_hours: bool
    fallback_pool_id: int | None
    sla_minutes: int | None
    sla_remind_before_minutes: int | None
    sla_escalate: bool
    sla_reassign: bool
    members: list[dict[str, Any]]


# Working hours are wall-clock times in the organisation's timezone, with no offset. JSON Schema's "time" format
# (RFC 3339) requires an offset, so the dt.time fields these were documented a format their own answers broke.
LocalTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", examples=["09:00", "18:00:00"],
                                 description="local time HH:MM or HH:MM:SS, no offset")]


class RepAvailabilityIn(Schema):
    work_days: list[int] | None = Field(None, max_length=7)
    work_start: LocalTime | None = None
    work_end: LocalTime | None = None
    observe_holidays: bool | None = None
    always_available: bool | None = None
    capacity: int | None = Field(None, ge=0, le=1000000)


class RepAvailabilityOut(Schema):
    user_id: int
    work_days: list[int]
    work_start: LocalTime
    work_end: LocalTime
    observe_holidays: bool
    always_available: bool
    capacity: int | None


class RepLeaveIn(Schema):
    user_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str = Field("", max_length=200)


class RepLeaveOut(Schema):
    id: int
    user_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str


class SalesStageIn(Schema):
    name: str = Field(..., max_length=80)
    probability: int = Field(0, ge=0, le=100)
    kind: Literal["open", "won", "lost"] = "open"
    order: int | None = Field(None, ge=0, le=10000)
    required_fields: list[str] = Field(default_factory=list, max_length=30)
    requires_approval: bool = False


class SalesStagePatch(Schema):
    name: str | None = Field(None, max_length=80)
    probability: int | None = Field(None, ge=0, le=100)
    order: int | None = Field(None, ge=0, le=10000)
    is_active: bool | None = None
    required_fields: list[str] | None = Field(None, max_length=30)
    requires_approval: bool | None = None


class SalesStageOut(Schema):
    id: int
    pipeline_id: int
    name: str
    order: int
    probability: int
    kind: str
    is_active: bool
    required_fields: list[str]
    requires_approval: bool


class SalesPipelineIn(Schema):
    name: str = Field(..., max_length=120)
    currency: Literal["CNY", "USD", "EUR", "HKD", "JPY", "GBP"] = "CNY"
    is_default: bool = False
    stages: list[SalesStageIn] = Field(default_factory=list, max_length=30)


class SalesPipelinePatch(Schema):
    name: str | None = Field(None, max_length=120)
    is_active: bool | None = None
    is_default: bool | None = None
    order: int | None = Field(None, ge=0, le=10000)


class SalesPipelineOut(Schema):
    id: int
    name: str
    is_default: bool
    is_active: bool
    currency: str
    stages: list[SalesStageOut]


class CloseReasonIn(Schema):
    kind: Literal["won", "lost"]
    label: str = Field(..., max_length=120)


class CloseReasonOut(Schema):
    id: int
    kind: str
    label: str


class OpportunityLineIn(Schema):
    product_name: str = Field(..., max_length=200)
    product_id: int | None = None
    quantity: str | int = "1"
    unit_price: str | int = "0"
    discount_percent: str | int = "0"


class OpportunityCreate(Schema):
    name: str = Field(..., max_length=200)
    pipeline_id: int | None = None
    stage_id: int | None = None
    amount: str | int | None = Field(None, description="a decimal as text, e.g. \"120000.00\"")
    currency: Literal["CNY", "USD", "EUR", "HKD", "JPY", "GBP"] | None = None
    expected_close_date: dt.date | None = None
    account_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    description: str | None = Field(None, max_length=5000)
    custom: dict[str, Any] = Field(default_factory=dict)
    lines: list[OpportunityLineIn] = Field(default_factory=list, max_length=200)


class OpportunityUpdate(Schema):
    name: str | None = Field(None, max_length=200)
    amount: str | int | None = None
    currency: Literal["CNY", "USD", "EUR", "HKD", "JPY", "GBP"] | None = None
    probability: int | None = Field(None, ge=0, le=100)
    expected_close_date: dt.date | None = None
    account_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    description: str | None = Field(None, max_length=5000)
    custom: dict[str, Any] | None = None


class OpportunityOut(OutSchema):
    id: int
    name: str | None = None
    pipeline_id: int | None = None
    stage_id: int | None = None
    status: str | None = None
    amount: str | None = None
    currency: str | None = None
    probability: int | None = None
    expected_close_date: dt.date | None = None
    account_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    department_id: int | None = None
    lead_id: int | None = None
    description: str | None = None
    stage_entered_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    close_reason_id: int | None = None
    close_note: str | None = None
    position: float | None = None
    last_activity_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    custom: dict[str, Any] = {}
    lines: list[dict[str, Any]] | None = None


class OpportunityPage(OutSchema):
    items: list[OpportunityOut]
    next_cursor: str | None


class OpportunityListParams(SalesListParams):
    status: Literal["open", "won", "lost"] | None = None
    pipeline_id: int | None = None
    stage_id: int | None = None


class OpportunityMoveIn(Schema):
    stage_id: int
    before_id: int | None = None
    after_id: int | None = None


class OpportunityCloseIn(Schema):
    outcome: Literal["won", "lost"]
    reason_id: int | None = None
    note: str = Field("", max_length=300)


class OpportunityLinesIn(Schema):
    lines: list[OpportunityLineIn] = Field(..., max_length=200)


class StageStayOut(Schema):
    stage_id: int
    stage: str
    from_stage_id: int | None
    entered_at: dt.datetime
    exited_at: dt.datetime | None
    seconds: int | None


class GateApprovalRequestIn(Schema):
    stage_id: int


class GateApprovalDecisionIn(Schema):
    approved: bool
    comment: str = Field("", max_length=300)
    external_ref: str = Field("", max_length=80)


class GateApprovalOut(Schema):
    id: int
    opportunity_id: int
    stage_id: int
    status: str
    requested_by_id: int | None
    decided_by_id: int | None
    decided_at: dt.datetime | None
    comment: str


class ActivityCreate(Schema):
    kind: Literal["call", "wecom_chat", "note", "email", "visit", "task"]
    subject: str = Field(..., max_length=200)
    body: str = Field("", max_length=10000)
    lead_id: int | None = None
    opportunity_id: int | None = None
    profile_id: int | None = None
    owner_id: int | None = None
    occurred_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    remind_at: dt.datetime | None = None
    latitude: str | float | None = None
    longitude: str | float | None = None
    address: str = Field("", max_length=300)


class ActivityUpdate(Schema):
    subject: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=10000)
    due_at: dt.datetime | None = None
    remind_at: dt.datetime | None = None
    address: str | None = Field(None, max_length=300)


class ActivityOut(Schema):
    id: int
    kind: str
    subject: str
    body: str
    lead_id: int | None
    opportunity_id: int | None
    profile_id: int | None
    owner_id: int | None
    occurred_at: dt.datetime | None
    due_at: dt.datetime | None
    remind_at: dt.datetime | None
    done_at: dt.datetime | None
    address: str
    latitude: str | None
    longitude: str | None
    checked_in_at: dt.datetime | None
    has_photo: bool
    created_at: dt.datetime


class ActivityPage(Schema):
    items: list[ActivityOut]
    next_cursor: str | None


class ActivityListParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    lead_id: int | None = None
    opportunity_id: int | None = None
    profile_id: int | None = None
    kind: Literal["call", "wecom_chat", "note", "email", "visit", "task"] | None = None
    open_tasks: bool = False
    due_from: dt.datetime | None = None
    due_to: dt.datetime | None = None
    mine: bool = False


class WebFormFieldIn(Schema):
    key: str = Field(..., max_length=40)
    label: str = Field("", max_length=120)
    required: bool = False


class WebFormIn(Schema):
    name: str = Field(..., max_length=120)
    title: str = Field("", max_length=200)
    fields: list[WebFormFieldIn] | None = Field(None, max_length=30)
    consent_purpose: str = Field("marketing", max_length=40)
    consent_text: str = Field("", max_length=500)
    consent_required: bool = False
    success_message: str = Field("", max_length=300)
    pool_id: int | None = None
    campaign: str = Field("", max_length=120)
    min_seconds: int = Field(3, ge=0, le=600)
    rate_per_minute: int = Field(5, ge=1, le=1000)
    is_active: bool = True


class WebFormPatch(Schema):
    name: str | None = Field(None, max_length=120)
    title: str | None = Field(None, max_length=200)
    fields: list[WebFormFieldIn] | None = Field(None, max_length=30)
    consent_purpose: str | None = Field(None, max_length=40)
    consent_text: str | None = Field(None, max_length=500)
    consent_required: bool | None = None
    success_message: str | None = Field(None, max_length=300)
    pool_id: int | None = None
    campaign: str | None = Field(None, max_length=120)
    min_seconds: int | None = Field(None, ge=0, le=600)
    rate_per_minute: int | None = Field(None, ge=1, le=1000)
    is_active: bool | None = None


class WebFormOut(Schema):
    id: int
    key: str
    name: str
    title: str
    fields: list[dict[str, Any]]
    consent_purpose: str
    consent_text: str
    consent_required: bool
    success_message: str
    pool_id: int | None
    campaign: str
    min_seconds: int
    rate_per_minute: int
    is_active: bool
    submissions: int


class BulkJobIn(Schema):
    kind: Literal["assign", "transfer", "recycle"]
    lead_ids: list[int] = Field(..., min_length=1, max_length=200000)
    owner_id: int | None = None
    pool_id: int | None = None


class BulkJobOut(Schema):
    id: int
    kind: str
    status: str
    total: int
    done: int
    skipped: int
    errors: list[str]
    params: dict[str, Any]
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime


class SalesFunnelStep(Schema):
    name: str
    count: int
    amount: str
    kind: str


class SalesFunnelOut(Schema):
    pipeline_id: int
    steps: list[SalesFunnelStep]
