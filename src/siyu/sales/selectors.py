"""Reads, already scoped to what the actor may see: lists with platform filters and keyset pages, details,
histories, the kanban board, the funnel and the manager dashboard."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from siyu.iam.models import User
from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.errors import NotFound
from siyu.kernel.pagination import Page, paginate
from siyu.platform.filtering import Filter, apply_filters
from siyu.platform.selectors import object_meta

from .models.activities import Activity
from .models.leads import OPEN_STATUSES, Lead, LeadHistory, Notification
from .models.opportunities import (
    CloseReason,
    GateApproval,
    Opportunity,
    OpportunityStatus,
    Pipeline,
    Stage,
    StageHistory,
    StageKind,
)
from .services.common import as_int

BOARD_COLUMN = 50


def lead_page(actor: Actor, *, filters: list[Filter], sort: str | None = None, cursor: str | None = None,
              limit: int = 50, status: str | None = None, owner_id: int | None = None,
              pool_id: int | None = None, mine: bool = False, meta=None) -> Page:
    qs = Lead.objects.visible_to(actor).filter(merged_into__isnull=True)
    if status:
        qs = qs.filter(status=status)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if mine and actor.user_id:
        qs = qs.filter(owner_id=actor.user_id)
    if pool_id is not None:
        qs = qs.filter(pool_id=pool_id)
    qs, order = apply_filters(qs, actor=actor, meta=meta or lead_meta(actor), filters=filters, sort=sort)
    return paginate(qs.select_related("owner"), order=order or ["-id"], cursor=cursor, limit=limit)


# A detail page shows the lead's pool, customer, rule and department by name; the API answers ids, and the owner
# only because its name is a standard field (``owner_name``). Each join adds its table's columns to a query the
# API pays for on every call, so the API asks for the owner alone.
PAGE_RELATED = ("owner", "pool", "profile", "assignment_rule", "department")
API_RELATED = ("owner",)


def _first(qs, related: tuple[str, ...]):
    # select_related() without names would join every foreign key: an empty tuple joins nothing
    return (qs.select_related(*related) if related else qs).first()


def lead_detail(actor: Actor, lead_id: Any, *, related: tuple[str, ...] = PAGE_RELATED) -> Lead:
    lead = _first(Lead.objects.visible_to(actor).filter(pk=as_int(lead_id)), related)
    if lead is None:
        raise NotFound("not found")
    return lead


def lead_history(actor: Actor, lead: Lead, *, limit: int = 100) -> list[LeadHistory]:
    return list(LeadHistory.objects.in_org(actor).filter(lead=lead).order_by("-at", "-id")[:limit])


def opportunity_page(actor: Actor, *, filters: list[Filter], sort: str | None = None, cursor: str | None = None,
                     limit: int = 50, status: str | None = None, pipeline_id: int | None = None,
                     stage_id: int | None = None, mine: bool = False, meta=None) -> Page:
    qs = Opportunity.objects.visible_to(actor)
    if status:
        qs = qs.filter(status=status)
    if pipeline_id is not None:
        qs = qs.filter(pipeline_id=pipeline_id)
    if stage_id is not None:
        qs = qs.filter(stage_id=stage_id)
    if mine and actor.user_id:
        qs = qs.filter(owner_id=actor.user_id)
    qs, order = apply_filters(qs, actor=actor, meta=meta or opportunity_meta(actor), filters=filters, sort=sort)
    # the API answers stage and owner ids: joining them only built two more model instances per row
    return paginate(qs, order=order or ["-id"], cursor=cursor, limit=limit)


OPPORTUNITY_PAGE_RELATED = ("stage", "pipeline", "owner", "account", "contact", "close_reason")


def opportunity_detail(actor: Actor, opportunity_id: Any, *,
                       related: tuple[str, ...] = OPPORTUNITY_PAGE_RELATED) -> Opportunity:
    """``related=()`` for the API, which answers ids only."""
    opp = _first(Opportunity.objects.visible_to(actor).filter(pk=as_int(opportunity_id)).prefetch_related("lines"),
                 related)
    if opp is None:
        raise NotFound("not found")
    return opp


def stage_history(actor: Actor, opp: Opportunity) -> list[StageHistory]:
    return list(StageHistory.objects.in_org(actor).filter(opportunity=opp).select_related("stage")
                .order_by("entered_at", "id"))


def time_in_stages(actor: Actor, opp: Opportunity) -> list[tuple[str, int]]:
    """Seconds spent per stage (an open stay counts up to now)."""
    now = clock.now()
    totals: dict[int, tuple[str, int]] = {}
    for stay in stage_history(actor, opp):
        seconds = stay.seconds if stay.exited_at else int((now - stay.entered_at).total_seconds())
        name, before = totals.get(stay.stage_id, (stay.stage.name, 0))
        totals[stay.stage_id] = (name, before + seconds)
    return list(totals.values())


def activities_for(actor: Actor, *, lead_id: int | None = None, opportunity_id: int | None = None,
                   profile_id: int | None = None, kind: str | None = None, open_tasks: bool = False,
                   due_from: dt.datetime | None = None, due_to: dt.datetime | None = None, mine: bool = False
                   ) -> QuerySet:
    qs = Activity.objects.visible_to(actor)
    if lead_id is not None:
        qs = qs.filter(lead_id=lead_id)
    if opportunity_id is not None:
        qs = qs.filter(opportunity_id=opportunity_id)
    if profile_id is not None:
        qs = qs.filter(profile_id=profile_id)
    if kind:
        qs = qs.filter(kind=kind)
    if open_tasks:
        qs = qs.filter(done_at__isnull=True, due_at__isnull=False)
    if due_from is not None:
        qs = qs.filter(due_at__gte=due_from)
    if due_to is not None:
        qs = qs.filter(due_at__lt=due_to)
    if mine and actor.user_id:
        qs = qs.filter(owner_id=actor.user_id)
    return qs


def opportunity_timeline(actor: Actor, opp: Opportunity, *, limit: int = 100) -> list[dict[str, Any]]:
    """The opportunity's own timeline: its activities and its stage changes, newest first."""
    items = [{"at": a.occurred_at or a.due_at or a.created_at, "kind": f"activity.{a.kind}", "text": a.subject,
              "id": a.pk} for a in activities_for(actor, opportunity_id=opp.pk).order_by("-id")[:limit]]
    items += [{"at": s.entered_at, "kind": "stage", "text": s.stage.name, "id": s.pk}
              for s in stage_history(actor, opp)]
    return sorted(items, key=lambda i: (i["at"], i["id"]), reverse=True)[:limit]


def pipelines(actor: Actor, *, active_only: bool = False) -> list[Pipeline]:
    qs = Pipeline.objects.in_org(actor)
    if active_only:
        qs = qs.filter(is_active=True)
    stages = Stage.objects.order_by("order", "pk").select_related("gate")
    return list(qs.prefetch_related(Prefetch("stages", stages)).order_by("-is_default", "order", "pk"))


def pipeline(actor: Actor, pipeline_id: Any) -> Pipeline:
    found = Pipeline.objects.in_org(actor).filter(pk=as_int(pipeline_id)).prefetch_related(
        Prefetch("stages", Stage.objects.order_by("order", "pk").select_related("gate"))).first()
    if found is None:
        raise NotFound("not found")
    return found


def close_reasons(actor: Actor) -> list[CloseReason]:
    return list(CloseReason.objects.in_org(actor).filter(is_active=True).order_by("kind", "label"))


def gate_approvals(actor: Actor, *, status: str | None = "pending") -> QuerySet:
    visible = Opportunity.objects.visible_to(actor).values("pk")
    qs = GateApproval.objects.in_org(actor).filter(opportunity_id__in=visible).select_related("opportunity", "stage")
    return qs.filter(status=status) if status else qs


@dataclass
class Column:
    stage: Stage
    cards: list[Opportunity]
    count: int
    amount: Decimal
    more: bool


def board(actor: Actor, pipe: Pipeline, *, mine: bool = False, per_column: int = BOARD_COLUMN) -> list[Column]:
    """The kanban board of a pipeline: per open stage the first cards by position, the count and the sum of
    amounts over all the stage's open opportunities the actor may see (one aggregate query plus one query per
    column, each served by the ``sales_opp_board`` index)."""
    base = Opportunity.objects.visible_to(actor).filter(pipeline=pipe, status=OpportunityStatus.OPEN)
    if mine and actor.user_id:
        base = base.filter(owner_id=actor.user_id)
    totals = {r["stage_id"]: r for r in base.values("stage_id").annotate(n=Count("id"), s=Sum("amount"))}
    columns = []
    for stage in [s for s in pipe.stages.all() if s.kind == StageKind.OPEN and s.is_active]:
        cards = list(base.filter(stage=stage).select_related("owner").order_by("position", "id")[:per_column])
        total = totals.get(stage.pk, {"n": 0, "s": None})
        columns.append(Column(stage, cards, total["n"], total["s"] or Decimal("0.00"), total["n"] > len(cards)))
    return columns


def column_cards(actor: Actor, stage: Stage, *, after_position: float, after_id: int, limit: int = BOARD_COLUMN):
    base = Opportunity.objects.visible_to(actor).filter(stage=stage, status=OpportunityStatus.OPEN)
    cond = Q(position__gt=after_position) | Q(position=after_position, id__gt=after_id)
    return list(base.filter(cond).select_related("owner").order_by("position", "id")[:limit])


def _period_start(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def funnel(actor: Actor, pipe: Pipeline) -> list[dict[str, Any]]:
    """Open opportunities per stage (count and amount), then won: the funnel chart's data."""
    rows = {r["stage_id"]: r for r in Opportunity.objects.visible_to(actor).filter(pipeline=pipe)
            .values("stage_id").annotate(n=Count("id"), s=Sum("amount"))}
    out = []
    for stage in pipe.stages.all():
        if stage.kind == StageKind.LOST:
            continue
        r = rows.get(stage.pk, {"n": 0, "s": None})
        out.append({"name": stage.name, "count": r["n"], "amount": str(r["s"] or Decimal("0.00")), "kind": stage.kind})
    return out


def dashboard(actor: Actor) -> dict[str, Any]:
    """The manager dashboard: pipeline by stage, won this period (calendar month), overdue follow-ups (open
    tasks past due), leads waiting for a first response past their SLA, and response times."""
    now = clock.now()
    start = _period_start(now)
    opps = Opportunity.objects.visible_to(actor)
    by_stage = list(opps.filter(status=OpportunityStatus.OPEN).values("stage__name", "stage__order", "pipeline__name")
                    .annotate(n=Count("id"), s=Sum("amount")).order_by("pipeline__name", "stage__order"))
    won = opps.filter(status=OpportunityStatus.WON, closed_at__gte=start).aggregate(n=Count("id"), s=Sum("amount"))
    overdue = (Activity.objects.visible_to(actor).filter(done_at__isnull=True, due_at__lt=now)
               .select_related("owner").order_by("due_at")[:20])
    leads = Lead.objects.visible_to(actor)
    breached = leads.filter(sla_state="breached", status__in=OPEN_STATUSES).count()
    responded = leads.filter(first_response_at__gte=start).values_list("response_seconds", flat=True)
    seconds = sorted(s for s in responded if s is not None)
    return {
        "by_stage": [{"pipeline": r["pipeline__name"], "stage": r["stage__name"], "count": r["n"],
                      "amount": r["s"] or Decimal("0.00")} for r in by_stage],
        "won_count": won["n"] or 0, "won_amount": won["s"] or Decimal("0.00"), "period_start": start,
        "overdue": list(overdue), "sla_breached": breached,
        "median_response_seconds": seconds[len(seconds) // 2] if seconds else None,
        "open_leads": leads.filter(status__in=OPEN_STATUSES).count(),
    }


def notifications(actor: Actor, *, unread_only: bool = True, limit: int = 20) -> list[Notification]:
    if actor.user_id is None:
        return []
    qs = Notification.objects.in_org(actor).filter(recipient_id=actor.user_id)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return list(qs.order_by("-id")[:limit])


def user_names(ids: set[int]) -> dict[int, str]:
    return {u.pk: u.name or u.email for u in User.objects.filter(pk__in=ids)}


def lead_meta(actor: Actor):
    return object_meta(actor, "sales.lead")


def opportunity_meta(actor: Actor):
    return object_meta(actor, "sales.opportunity")
