"""Opportunities in pipelines: create, edit, product lines, move between stages (through the gates), win or
lose with a reason; pipelines, stages and close reasons. Every stage change closes the open ``StageHistory``
row (time spent) and opens the next one, and appears on the customer's timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Max, Min
from django.utils.translation import gettext as _

from siyu.cdp import profiles as cdp_profiles
from siyu.cdp import timeline
from siyu.kernel import auditing, clock, events
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, NotFound, ValidationFailed
from siyu.platform.selectors import object_meta
from siyu.platform.services import audit_view, clean_values, merge_values

from ..events import OpportunityClosed, OpportunityStageChanged
from ..models.leads import Lead
from ..models.opportunities import (
    CloseReason,
    Opportunity,
    OpportunityLine,
    OpportunityStatus,
    Pipeline,
    Stage,
    StageHistory,
    StageKind,
)
from . import gates
from .common import as_int, cdp_actor, member, money, profile_or_none, require, text

OBJECT = "sales.opportunity"
AUDITED = ["name", "pipeline_id", "stage_id", "status", "amount", "currency", "probability", "expected_close_date",
           "account_id", "contact_id", "owner_id", "department_id", "description", "close_reason_id", "close_note"]
EDITABLE = {"name", "amount", "currency", "expected_close_date", "account_id", "contact_id", "owner_id",
            "description", "probability"}
CURRENCIES = {"CNY", "USD", "EUR", "HKD", "JPY", "GBP"}
DEFAULT_STAGES = [
    ("Qualification", 10, StageKind.OPEN), ("Needs analysis", 30, StageKind.OPEN), ("Proposal", 60, StageKind.OPEN),
    ("Negotiation", 80, StageKind.OPEN), ("Won", 100, StageKind.WON), ("Lost", 0, StageKind.LOST),
]


# --- pipelines and stages --------------------------------------------------------------------------------------


def ensure_default_pipeline(actor: Actor) -> Pipeline:
    """The organisation's default pipeline, created with the usual stages on first use."""
    found = Pipeline.objects.in_org(actor).filter(is_default=True).first()
    if found is not None:
        return found
    pipeline = Pipeline.objects.create(org_id=actor.org_id, name=_("Sales pipeline"), is_default=True)
    Stage.objects.bulk_create([
        Stage(org_id=actor.org_id, pipeline=pipeline, name=_(name), order=i, probability=p, kind=kind)
        for i, (name, p, kind) in enumerate(DEFAULT_STAGES)
    ])
    return pipeline


def _stage_values(raw: Mapping[str, Any], n: int | str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in raw:
        out["name"] = text(raw["name"], f"stages.{n}.name", 80, required=True)
    if "probability" in raw:
        p = as_int(raw["probability"], missing=ValidationFailed, field=f"stages.{n}.probability")
        if not 0 <= p <= 100:
            raise ValidationFailed("bad probability", fields={f"stages.{n}.probability": ["0 to 100"]})
        out["probability"] = p
    if "kind" in raw:
        if raw["kind"] not in StageKind.values:
            raise ValidationFailed("bad kind", fields={f"stages.{n}.kind": ["open, won or lost"]})
        out["kind"] = raw["kind"]
    if "order" in raw:
        out["order"] = as_int(raw["order"], missing=ValidationFailed, field=f"stages.{n}.order")
    if "is_active" in raw:
        out["is_active"] = bool(raw["is_active"])
    unknown = set(raw) - {"name", "probability", "kind", "order", "is_active", "required_fields", "requires_approval"}
    if unknown:
        raise ValidationFailed("unknown fields", fields={f"stages.{n}.{k}": ["unknown field"] for k in sorted(unknown)})
    return out


def create_pipeline(*, actor: Actor, name: str, stages: list[Mapping[str, Any]] | None = None,
                    currency: str = "CNY", is_default: bool = False) -> Pipeline:
    """A pipeline with its stages (default stages when none are given); exactly one won and one lost stage."""
    require(actor, "sales.pipeline.manage")
    name = text(name, "name", 120, required=True)
    if currency not in CURRENCIES:
        raise ValidationFailed("bad currency", fields={"currency": [f"one of {', '.join(sorted(CURRENCIES))}"]})
    specs = [dict(s) for s in stages] if stages else [{"name": _(n), "probability": p, "kind": k}
                                                       for n, p, k in DEFAULT_STAGES]
    if len(specs) > 30:
        raise ValidationFailed("too many stages", fields={"stages": ["at most 30"]})
    values = [{"order": i, **_stage_values(s, i)} for i, s in enumerate(specs)]
    if any("name" not in v for v in values):
        raise ValidationFailed("stage names required", fields={"stages": ["every stage needs a name"]})
    kinds = [v.get("kind", StageKind.OPEN) for v in values]
    if kinds.count(StageKind.WON) != 1 or kinds.count(StageKind.LOST) != 1 or StageKind.OPEN not in kinds:
        raise ValidationFailed("bad stages", fields={"stages": ["open stages, one won and one lost stage"]})
    ensure_default_pipeline(actor)
    if is_default:
        Pipeline.objects.in_org(actor).filter(is_default=True).update(is_default=False)
    pipeline = Pipeline.objects.create(org_id=actor.org_id, name=name, currency=currency, is_default=is_default)
    for v, spec in zip(values, specs, strict=True):
        stage = Stage.objects.create(org_id=actor.org_id, pipeline=pipeline, **v)
        if spec.get("required_fields") or spec.get("requires_approval"):
            gates.set_gate(actor=actor, stage=stage, required_fields=list(spec.get("required_fields") or []),
                           requires_approval=bool(spec.get("requires_approval")))
    auditing.record_write(actor, "create", "sales.pipeline", pipeline.pk,
                          {"name": [None, name], "stages": [None, [v["name"] for v in values]]})
    return pipeline


def pipeline_of(actor: Actor, pipeline_id: Any) -> Pipeline:
    pipeline = Pipeline.objects.in_org(actor).filter(pk=as_int(pipeline_id)).first()
    if pipeline is None:
        raise NotFound("not found")
    return pipeline


def update_pipeline(*, actor: Actor, pipeline_id: Any, data: Mapping[str, Any]) -> Pipeline:
    require(actor, "sales.pipeline.manage")
    pipeline = pipeline_of(actor, pipeline_id)
    unknown = set(data) - {"name", "is_active", "is_default", "order"}
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: ["unknown field"] for k in sorted(unknown)})
    before = auditing.snapshot(pipeline, ["name", "is_active", "is_default", "order"])
    if "name" in data:
        pipeline.name = text(data["name"], "name", 120, required=True)
    if "order" in data:
        pipeline.order = as_int(data["order"], missing=ValidationFailed, field="order")
    if "is_active" in data:
        pipeline.is_active = bool(data["is_active"])
    if data.get("is_default"):
        Pipeline.objects.in_org(actor).filter(is_default=True).exclude(pk=pipeline.pk).update(is_default=False)
        pipeline.is_default = True
    pipeline.save()
    auditing.record_write(actor, "update", "sales.pipeline", pipeline.pk,
                          auditing.diff(before, auditing.snapshot(pipeline, ["name", "is_active", "is_default", "order"])))
    return pipeline


def add_stage(*, actor: Actor, pipeline_id: Any, data: Mapping[str, Any]) -> Stage:
    require(actor, "sales.pipeline.manage")
    pipeline = pipeline_of(actor, pipeline_id)
    values = _stage_values(data, "new")
    if "name" not in values:
        raise ValidationFailed("name required", fields={"name": ["required"]})
    if values.get("kind", StageKind.OPEN) != StageKind.OPEN:
        raise ValidationFailed("bad kind", fields={"kind": ["a pipeline has one won and one lost stage already"]})
    values.setdefault("order", (Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN)
                                .aggregate(m=Max("order"))["m"] or 0) + 1)
    stage = Stage.objects.create(org_id=actor.org_id, pipeline=pipeline, **values)
    gates.set_gate(actor=actor, stage=stage, required_fields=list(data.get("required_fields") or []),
                   requires_approval=bool(data.get("requires_approval")))
    auditing.record_write(actor, "create", "sales.stage", stage.pk, auditing.diff({}, values))
    return stage


def stage_of(actor: Actor, stage_id: Any) -> Stage:
    stage = Stage.objects.in_org(actor).filter(pk=as_int(stage_id)).select_related("pipeline").first()
    if stage is None:
        raise NotFound("not found")
    return stage


def update_stage(*, actor: Actor, stage_id: Any, data: Mapping[str, Any]) -> Stage:
    """Rename, reorder, change probability, deactivate; and the stage's gate (``required_fields``,
    ``requires_approval``). A stage's kind never changes."""
    require(actor, "sales.pipeline.manage")
    stage = stage_of(actor, stage_id)
    values = _stage_values(data, "0")
    if "kind" in values and values["kind"] != stage.kind:
        raise ValidationFailed("kind is fixed", fields={"kind": ["a stage's kind cannot change"]})
    if values.get("is_active") is False and stage.kind != StageKind.OPEN:
        raise ValidationFailed("needed", fields={"is_active": ["the won and lost stages stay"]})
    if values.get("is_active") is False and Opportunity.objects.in_org(actor).filter(
            stage=stage, status=OpportunityStatus.OPEN).exists():
        raise Conflict("open opportunities are in this stage", code="stage_in_use")
    before = auditing.snapshot(stage, ["name", "order", "probability", "is_active"])
    for k, v in values.items():
        setattr(stage, k, v)
    stage.save()
    auditing.record_write(actor, "update", "sales.stage", stage.pk,
                          auditing.diff(before, auditing.snapshot(stage, ["name", "order", "probability", "is_active"])))
    if "required_fields" in data or "requires_approval" in data:
        gate = getattr(stage, "gate", None) if hasattr(stage, "gate") else None
        gates.set_gate(actor=actor, stage=stage,
                       required_fields=list(data.get("required_fields", gate.required_fields if gate else []) or []),
                       requires_approval=bool(data.get("requires_approval", gate.requires_approval if gate else False)))
    return stage


def create_close_reason(*, actor: Actor, kind: str, label: str) -> CloseReason:
    require(actor, "sales.pipeline.manage")
    if kind not in ("won", "lost"):
        raise ValidationFailed("bad kind", fields={"kind": ["won or lost"]})
    reason = CloseReason.objects.create(org_id=actor.org_id, kind=kind, label=text(label, "label", 120, required=True))
    auditing.record_write(actor, "create", "sales.close_reason", reason.pk, {"label": [None, reason.label]})
    return reason


# --- opportunities -----------------------------------------------------------------------------------------------


def visible_opportunity(actor: Actor, opportunity_id: Any, *, for_update: bool = False) -> Opportunity:
    qs = Opportunity.objects.visible_to(actor).filter(pk=as_int(opportunity_id))
    opp = (qs.select_for_update() if for_update else qs).select_related("stage", "pipeline").first()
    if opp is None:
        raise NotFound("not found")
    return opp


def _profile_ref(actor: Actor, value: Any, name: str, kind: str):
    if value in (None, ""):
        return None
    try:
        profile = cdp_profiles.visible_profile(cdp_actor(actor), value)
    except (NotFound, Conflict):
        raise ValidationFailed("no such customer", fields={name: ["no such customer"]}) from None
    if kind == "company" and profile.kind != "company":
        raise ValidationFailed("not an account", fields={name: ["must be a company account"]})
    if kind == "person" and profile.kind != "person":
        raise ValidationFailed("not a person", fields={name: ["must be a person"]})
    return profile


def _date(value: Any, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed("bad date", fields={name: ["a date YYYY-MM-DD"]}) from None


def _clean(actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        try:
            if name == "name":
                out[name] = text(value, name, 200, required=True)
            elif name == "description":
                out[name] = text(value, name, 5000)
            elif name == "amount":
                out[name] = money(value)
            elif name == "currency":
                if value not in CURRENCIES:
                    raise ValidationFailed("bad currency", fields={name: [f"one of {', '.join(sorted(CURRENCIES))}"]})
                out[name] = value
            elif name == "probability":
                p = as_int(value, missing=ValidationFailed, field=name)
                if not 0 <= p <= 100:
                    raise ValidationFailed("bad probability", fields={name: ["0 to 100"]})
                out[name] = p
            elif name == "expected_close_date":
                out[name] = _date(value, name)
            elif name == "account_id":
                found = _profile_ref(actor, value, name, "company")
                out[name] = found.pk if found else None
            elif name == "contact_id":
                found = _profile_ref(actor, value, name, "person")
                out[name] = found.pk if found else None
            elif name == "owner_id":
                m = member(actor, value) if value not in (None, "") else None
                out["owner_id"], out["department_id"] = (m.user_id, m.department_id) if m else (None, None)
            else:
                raise ValidationFailed("unknown field", fields={name: ["unknown field"]})
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    return out


def _clean_lines(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > 200:
        raise ValidationFailed("bad lines", fields={"lines": ["a list of at most 200 lines"]})
    out = []
    for n, line in enumerate(raw):
        if not isinstance(line, Mapping):
            raise ValidationFailed("bad line", fields={f"lines.{n}": ["an object"]})
        qty = money(line.get("quantity", 1), f"lines.{n}.quantity") if not isinstance(line.get("quantity"), int) \
            else Decimal(line["quantity"])
        price = money(line.get("unit_price", 0), f"lines.{n}.unit_price")
        discount = money(line.get("discount_percent", 0), f"lines.{n}.discount_percent")
        if discount > 100:
            raise ValidationFailed("bad discount", fields={f"lines.{n}.discount_percent": ["0 to 100"]})
        product_id = line.get("product_id")
        out.append({
            "product_name": text(line.get("product_name"), f"lines.{n}.product_name", 200, required=True),
            "product_id": None if product_id in (None, "") else as_int(product_id, missing=ValidationFailed,
                                                                        field=f"lines.{n}.product_id"),
            "quantity": qty, "unit_price": price, "discount_percent": discount,
            "amount": (qty * price * (Decimal(100) - discount) / Decimal(100)).quantize(Decimal("0.01")),
            "order": n,
        })
    return out


def _write_lines(actor: Actor, opp: Opportunity, lines: list[dict[str, Any]]) -> None:
    OpportunityLine.objects.filter(opportunity=opp).delete()
    OpportunityLine.objects.bulk_create([OpportunityLine(org_id=actor.org_id, opportunity=opp, **v) for v in lines])
    if lines:
        opp.amount = sum((v["amount"] for v in lines), Decimal("0.00"))


def _audit(actor: Actor, action: str, opp: Opportunity, before: dict, before_custom: dict, **meta: Any) -> None:
    changes = auditing.diff(before, auditing.snapshot(opp, AUDITED))
    m = object_meta(actor, OBJECT)
    b, personal = audit_view(m, before_custom)
    a, _p = audit_view(m, opp.custom)
    changes.update({f"custom.{k}": v for k, v in auditing.diff(b, a, personal=personal).items()})
    if changes or action != "update":
        auditing.record_write(actor, action, OBJECT, opp.pk, changes, **meta)


def _timeline(opp: Opportunity, kind: str, **data: Any) -> None:
    for profile_id in {opp.account_id, opp.contact_id} - {None}:
        profile = profile_or_none(opp.org_id, profile_id)
        if profile is not None:
            timeline.add_entry(profile=profile, kind=kind, ref_type=OBJECT, ref_id=str(opp.pk),
                               data={"name": opp.name, **data})


def create_opportunity(*, actor: Actor, data: Mapping[str, Any], custom: Mapping[str, Any] | None = None,
                       lines: list[Mapping[str, Any]] | None = None, lead: Lead | None = None) -> Opportunity:
    """An opportunity in a pipeline (the default one unless ``pipeline_id``) and stage (its first open stage
    unless ``stage_id``). Creating straight into a later stage passes the gates on the way like a move."""
    require(actor, "sales.opportunity.create")
    data = dict(data)
    pipeline_id, stage_id = data.pop("pipeline_id", None), data.pop("stage_id", None)
    pipeline = pipeline_of(actor, pipeline_id) if pipeline_id not in (None, "") else ensure_default_pipeline(actor)
    if stage_id not in (None, ""):
        stage = Stage.objects.in_org(actor).filter(pk=as_int(stage_id, missing=ValidationFailed, field="stage_id"),
                                                   pipeline=pipeline, is_active=True).first()
        if stage is None:
            raise ValidationFailed("no such stage", fields={"stage_id": ["no such stage in this pipeline"]})
    else:
        stage = Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN, is_active=True).order_by("order", "pk").first()
    if stage is None or stage.kind != StageKind.OPEN:
        raise ValidationFailed("bad stage", fields={"stage_id": ["an open stage (win or lose with close)"]})
    if "name" not in data:
        raise ValidationFailed("name required", fields={"name": ["required"]})
    values = _clean(actor, data)
    cleaned_lines = _clean_lines(lines) if lines else []
    cleaned_custom = clean_values(actor, object_meta(actor, OBJECT), dict(custom or {}), partial=False)
    if "owner_id" not in values and actor.user_id is not None:
        values["owner_id"], values["department_id"] = actor.user_id, actor.department_id
    if values.get("owner_id") not in (None, actor.user_id):
        require(actor, "sales.lead.assign")
    now = clock.now()
    # the pipeline's currency and the stage's probability unless the request names its own
    values = {"currency": pipeline.currency, "probability": stage.probability, **values}
    opp = Opportunity(org_id=actor.org_id, pipeline=pipeline, stage=stage, stage_entered_at=now, lead=lead,
                      custom=merge_values({}, cleaned_custom), **values)
    if cleaned_lines:
        opp.amount = sum((v["amount"] for v in cleaned_lines), Decimal("0.00"))
    gates.check(actor, opp, None, stage)
    top = Opportunity.objects.filter(stage=stage, status=OpportunityStatus.OPEN).aggregate(m=Min("position"))["m"]
    opp.position = (top or 0) - 1
    opp.save()
    _write_lines(actor, opp, cleaned_lines)
    StageHistory.objects.create(org_id=actor.org_id, opportunity=opp, stage=stage, entered_at=now,
                                actor_user_id=actor.user_id)
    _audit(actor, "create", opp, {}, {}, lead_id=lead.pk if lead else None)
    _timeline(opp, "sales.opportunity.created")
    return opp


def update_opportunity(*, actor: Actor, opportunity_id: Any, changes: Mapping[str, Any],
                       custom: Mapping[str, Any] | None = None) -> Opportunity:
    """Edit fields and custom fields. The stage and status change only through :func:`move_opportunity` and
    :func:`close_opportunity` (which apply the gates): naming them here is a 422."""
    require(actor, "sales.opportunity.update")
    opp = visible_opportunity(actor, opportunity_id, for_update=True)
    forbidden = set(changes) & {"stage_id", "pipeline_id", "status", "close_reason_id"}
    if forbidden:
        raise ValidationFailed("use move or close", fields={k: ["change it with move or close (stage gates apply)"]
                                                             for k in sorted(forbidden)})
    blocked = actor.read_only_fields(OBJECT) & {*changes, *(custom or {})}
    if blocked:
        raise ValidationFailed("field security forbids this change",
                               fields={f: ["this field is read-only for you"] for f in sorted(blocked)})
    values = _clean(actor, changes)
    if "amount" in values and opp.lines.exists():
        raise ValidationFailed("amount from lines", fields={"amount": ["the amount is the sum of the product lines"]})
    if values.get("owner_id", opp.owner_id) != opp.owner_id:
        require(actor, "sales.lead.assign")
    cleaned = clean_values(actor, object_meta(actor, OBJECT), dict(custom or {}), partial=True) if custom else {}
    before, before_custom = auditing.snapshot(opp, AUDITED), dict(opp.custom)
    for k, v in values.items():
        setattr(opp, k, v)
    opp.custom = merge_values(opp.custom, cleaned)
    if opp.status == OpportunityStatus.OPEN:
        # a gate's required field cannot be emptied while the opportunity is past it
        if _gated_fields_touched(opp, values, cleaned):
            gates.check(actor, opp, None, opp.stage)
    opp.save()
    _audit(actor, "update", opp, before, before_custom)
    return opp


def _gated_fields_touched(opp: Opportunity, values: dict[str, Any], custom: dict[str, Any]) -> bool:
    from ..models.opportunities import StageGate

    keys = set(values) | set(custom)
    passed = Stage.objects.filter(pipeline_id=opp.pipeline_id, kind=StageKind.OPEN, order__lte=opp.stage.order)
    return any(keys & set(g.required_fields) for g in StageGate.objects.filter(stage__in=passed))


def set_lines(*, actor: Actor, opportunity_id: Any, lines: list[Mapping[str, Any]]) -> Opportunity:
    """Replace the product lines; the amount becomes their sum."""
    require(actor, "sales.opportunity.update")
    opp = visible_opportunity(actor, opportunity_id, for_update=True)
    cleaned = _clean_lines(lines)
    before = auditing.snapshot(opp, AUDITED)
    old = list(opp.lines.values_list("product_name", "quantity", "unit_price"))
    _write_lines(actor, opp, cleaned)
    if not cleaned:
        opp.amount = Decimal("0.00")
    opp.save()
    changes = auditing.diff(before, auditing.snapshot(opp, AUDITED))
    changes["lines"] = [[f"{n} × {q} @ {p}" for n, q, p in old],
                        [f"{v['product_name']} × {v['quantity']} @ {v['unit_price']}" for v in cleaned]]
    auditing.record_write(actor, "update", OBJECT, opp.pk, changes)
    return opp


def _enter(actor: Actor, opp: Opportunity, stage: Stage, now: dt.datetime) -> None:
    """Close the open stay, open the next one (stage history with time spent)."""
    for stay in StageHistory.objects.filter(opportunity=opp, exited_at__isnull=True):
        stay.exited_at = now
        stay.seconds = max(0, int((now - stay.entered_at).total_seconds()))
        stay.save(update_fields=["exited_at", "seconds", "updated_at"])
    StageHistory.objects.create(org_id=opp.org_id, opportunity=opp, stage=stage, from_stage=opp.stage,
                                entered_at=now, actor_user_id=actor.user_id)


def _position(opp: Opportunity, stage: Stage, before_id: Any, after_id: Any) -> float:
    """Between the card above (``after_id``) and the card below (``before_id``) in the target column."""
    column = Opportunity.objects.filter(stage=stage, status=OpportunityStatus.OPEN).exclude(pk=opp.pk)
    below = column.filter(pk=as_int(before_id, missing=ValidationFailed, field="before_id")).values_list(
        "position", flat=True).first() if before_id not in (None, "") else None
    above = column.filter(pk=as_int(after_id, missing=ValidationFailed, field="after_id")).values_list(
        "position", flat=True).first() if after_id not in (None, "") else None
    if above is not None and below is not None:
        return (above + below) / 2
    if below is not None:
        return below - 1
    if above is not None:
        return above + 1
    top = column.aggregate(m=Min("position"))["m"]
    return (top or 0) - 1


def move_opportunity(*, actor: Actor, opportunity_id: Any, stage_id: Any, before_id: Any = None,
                     after_id: Any = None) -> Opportunity:
    """Move an open opportunity to another open stage of its pipeline (or reorder it within its column),
    through the stage gates. Won and lost stages are entered with :func:`close_opportunity`."""
    require(actor, "sales.opportunity.update")
    opp = visible_opportunity(actor, opportunity_id, for_update=True)
    if opp.status != OpportunityStatus.OPEN:
        raise Conflict("the opportunity is closed", code="opportunity_closed")
    target = Stage.objects.in_org(actor).filter(pk=as_int(stage_id, missing=ValidationFailed, field="stage_id"),
                                                pipeline_id=opp.pipeline_id, is_active=True).first()
    if target is None:
        raise ValidationFailed("no such stage", fields={"stage_id": ["no such stage in this pipeline"]})
    if target.kind != StageKind.OPEN:
        raise ValidationFailed("use close", fields={"stage_id": ["win or lose with close (a reason is required)"]})
    position = _position(opp, target, before_id, after_id)
    if target.pk == opp.stage_id:
        opp.position = position
        opp.save(update_fields=["position", "updated_at"])
        return opp
    gates.check(actor, opp, opp.stage, target)
    before = auditing.snapshot(opp, AUDITED)
    now = clock.now()
    previous = opp.stage
    _enter(actor, opp, target, now)
    opp.stage, opp.probability, opp.stage_entered_at, opp.position = target, target.probability, now, position
    opp.save()
    _audit(actor, "move", opp, before, dict(opp.custom))
    _timeline(opp, "sales.opportunity.stage", **{"from": previous.name, "to": target.name})
    events.emit(OpportunityStageChanged(org_id=opp.org_id, opportunity_id=opp.pk, from_stage_id=previous.pk,
                                        to_stage_id=target.pk))
    return opp


def close_opportunity(*, actor: Actor, opportunity_id: Any, outcome: str, reason_id: Any = None,
                      note: str = "") -> Opportunity:
    """Win or lose: moves to the pipeline's won or lost stage (gates apply: winning passes every remaining
    gate), with a reason (a close reason of that kind, or a note)."""
    require(actor, "sales.opportunity.update")
    opp = visible_opportunity(actor, opportunity_id, for_update=True)
    if outcome not in ("won", "lost"):
        raise ValidationFailed("bad outcome", fields={"outcome": ["won or lost"]})
    if opp.status != OpportunityStatus.OPEN:
        raise Conflict("the opportunity is closed", code="opportunity_closed")
    reason = None
    if reason_id not in (None, ""):
        reason = CloseReason.objects.in_org(actor).filter(pk=as_int(reason_id, missing=ValidationFailed,
                                                                    field="reason_id"), kind=outcome).first()
        if reason is None:
            raise ValidationFailed("no such reason", fields={"reason_id": [f"no {outcome} reason with this id"]})
    note = text(note, "note", 300)
    if reason is None and not note:
        raise ValidationFailed("reason required", fields={"reason_id": ["give a reason or a note"]})
    target = Stage.objects.filter(pipeline_id=opp.pipeline_id, kind=outcome).order_by("order").first()
    if target is None:  # pragma: no cover - pipelines are created with both
        raise ValidationFailed("no stage", fields={"outcome": [f"the pipeline has no {outcome} stage"]})
    gates.check(actor, opp, opp.stage, target)
    before = auditing.snapshot(opp, AUDITED)
    now = clock.now()
    _enter(actor, opp, target, now)
    opp.stage, opp.status, opp.probability = target, outcome, target.probability
    opp.stage_entered_at, opp.closed_at, opp.close_reason, opp.close_note = now, now, reason, note
    opp.save()
    for stay in StageHistory.objects.filter(opportunity=opp, exited_at__isnull=True):  # a closed deal stays put
        stay.exited_at, stay.seconds = now, 0
        stay.save(update_fields=["exited_at", "seconds", "updated_at"])
    _audit(actor, "close", opp, before, dict(opp.custom), outcome=outcome)
    _timeline(opp, "sales.opportunity.closed", outcome=outcome, amount=str(opp.amount))
    events.emit(OpportunityClosed(org_id=opp.org_id, opportunity_id=opp.pk, outcome=outcome, amount=str(opp.amount)))
    return opp
