"""Console pages of segments and personas under ``/customers/segments/``: the list, the rule builder with a live
count (htmx, debounced), a segment's page with its member count, a sample of members and snapshots; personas
with their size and trait distributions as ECharts charts.

Same rule as api.py: parse, authorise, call one service or selector, render. Refusals and records of another
organisation go through the CDP pages' ``customer_page`` (audited 403 / 404 pages).
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.kernel.errors import Conflict, DomainError, ValidationFailed

from ..models import ConsentPurpose, IdentityType, LifecycleStageDefinition, Tag
from ..pages import customer_page
from ..selectors import profile_meta
from . import builder, selectors, services
from .rules import PROPERTY_OPS

SAMPLE = 20
TRAIT_LABELS = {"gender": gettext_lazy("Gender"), "province": gettext_lazy("Province"),
                "lifecycle_stage": gettext_lazy("Lifecycle stage"), "source": gettext_lazy("Source"),
                "tags": gettext_lazy("Top tags"), "events": gettext_lazy("Top events")}
CONDITION_LABELS = {"attribute": gettext_lazy("Field"), "tag": gettext_lazy("Tags"),
                    "identity": gettext_lazy("Has identifier"), "consent": gettext_lazy("Consent"),
                    "lifecycle": gettext_lazy("Lifecycle stage"), "event": gettext_lazy("Event")}
OPERATOR_LABELS = {"eq": "=", "ne": "≠", "lt": "<", "gt": ">", "lte": "≤", "gte": "≥",
                   "in": gettext_lazy("one of"), "contains": gettext_lazy("contains"),
                   "is_empty": gettext_lazy("is empty"), "exists": gettext_lazy("exists")}


def _problem(exc: DomainError) -> str:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
    return f"{exc.message} ({details})" if details else exc.message


def _options(actor) -> dict:
    """What the builder's selects offer: the profile's fields the actor may see, tags, purposes, stages."""
    meta = profile_meta(actor)
    hidden = actor.hidden_fields("cdp.profile")
    fields = [(sf.key, sf.label, meta.type_of(sf.type).operators) for sf in meta.standard_fields
              if sf.key not in hidden and sf.filterable and sf.type not in ("phone", "email")]
    fields += [(fd.key, fd.label, meta.type_of(fd.type).operators) for fd in meta.fields if fd.key not in hidden]
    return {
        "fields": [{"key": k, "label": label, "ops": list(ops)} for k, label, ops in fields],
        "operators": OPERATOR_LABELS, "property_ops": PROPERTY_OPS,
        "tags": list(Tag.objects.in_org(actor).select_related("group").order_by("group__order", "group__name", "order", "name")),
        "purposes": list(ConsentPurpose.objects.in_org(actor).order_by("key")),
        "stages": list(LifecycleStageDefinition.objects.in_org(actor).order_by("order")),
        "identity_types": IdentityType.choices, "condition_types": CONDITION_LABELS,
    }


def _builder_context(actor, rules, errors=None) -> dict:
    return {"root": builder.to_view(rules), "options": _options(actor), "node_errors": errors or {},
            "rules_json": json.dumps(rules, ensure_ascii=False)}


# --- segments ---------------------------------------------------------------------------------------------


@require_GET
@customer_page("cdp.segment.read")
def segment_list(request, actor):
    page = selectors.page_segments(actor, cursor=request.GET.get("cursor") or None, limit=50)
    return render(request, "cdp/segments/list.html", {
        "segments": page.items, "next_cursor": page.next_cursor, "can_manage": actor.can("cdp.segment.manage")})


def _form(request, actor, segment=None):
    values = {"name": segment.name if segment else "", "description": segment.description if segment else ""}
    rules = segment.rules if segment else {"op": "and", "rules": [dict(builder.EMPTY_CONDITION)]}
    error, node_errors = "", {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        rules, paths = builder.from_form(request.POST)
        try:
            if segment is None:
                segment = services.create_segment(actor=actor, name=values["name"], description=values["description"],
                                                  rules=rules)
                messages.success(request, _("Segment created."))
            else:
                services.update_segment(actor=actor, segment_id=segment.pk, changes={**values, "rules": rules})
                messages.success(request, _("Segment saved."))
            return HttpResponseRedirect(reverse("cdp_segment", args=[segment.pk]))
        except (ValidationFailed, Conflict) as exc:
            node_errors = builder.errors_by_node({k: v for k, v in exc.fields.items() if k.startswith("rules")}, paths)
            other = {k: v for k, v in exc.fields.items() if not k.startswith("rules")}
            error = _problem(DomainError(exc.message, fields=other)) if other or not node_errors else exc.message
    context = {"segment": segment, "values": values, "error": error, **_builder_context(actor, rules, node_errors)}
    return render(request, "cdp/segments/form.html", context, status=422 if error else 200)


@require_http_methods(["GET", "POST"])
@customer_page("cdp.segment.manage")
def segment_create(request, actor):
    return _form(request, actor)


@require_http_methods(["GET", "POST"])
@customer_page("cdp.segment.manage")
def segment_edit(request, actor, segment_id: int):
    return _form(request, actor, selectors.segment(actor, segment_id))


@require_POST
@customer_page("cdp.segment.read")
def builder_update(request, actor):
    """htmx: apply a builder action (add a condition or group, remove a node) or re-render after a type change."""
    rules, _paths = builder.from_form(request.POST)
    action = request.POST.get("action", "")
    if action:
        rules = builder.apply_action(rules, action)
    response = render(request, "cdp/segments/_builder.html", _builder_context(actor, rules))
    response["HX-Trigger-After-Settle"] = "rules-changed"
    return response


@require_POST
@customer_page("cdp.segment.read")
def preview(request, actor):
    """htmx: the live count of the rules being edited (debounced by the form's trigger)."""
    rules, paths = builder.from_form(request.POST)
    try:
        result = services.preview_segment(actor=actor, rules=rules)
    except ValidationFailed as exc:
        errors = builder.errors_by_node(exc.fields, paths)
        return render(request, "cdp/segments/_count.html", {"errors": errors, "count": None})
    return render(request, "cdp/segments/_count.html", {"count": result.count, "milliseconds": result.milliseconds})


@require_GET
@customer_page("cdp.segment.read")
def segment_page(request, actor, segment_id: int):
    segment = selectors.segment(actor, segment_id)
    meta = profile_meta(actor)
    can_read = actor.can("cdp.profile.read")
    sample = selectors.page_members(actor, segment, cursor=None, limit=SAMPLE).items if can_read else []
    return render(request, "cdp/segments/detail.html", {
        "segment": segment, "sample": sample, "visible_count": selectors.visible_member_count(actor, segment),
        "snapshots": list(selectors.snapshots(actor, segment).order_by("-pk")[:20]),
        "rules_json": json.dumps(segment.rules, ensure_ascii=False, indent=2),
        "purposes": list(ConsentPurpose.objects.in_org(actor).order_by("key")),
        "can_manage": actor.can("cdp.segment.manage"), "meta": meta,
        "personas": list(segment.personas.all()),
    })


@require_POST
@customer_page("cdp.segment.manage")
def snapshot_create(request, actor, segment_id: int):
    try:
        snap = services.create_snapshot(actor=actor, segment_id=segment_id, label=request.POST.get("label", ""),
                                        consent_purpose=request.POST.get("consent_purpose", ""),
                                        channel=request.POST.get("channel", ""))
        messages.success(request, _("Snapshot taken: %(count)s members.") % {"count": snap.member_count})
    except ValidationFailed as exc:
        messages.error(request, _problem(exc))
    return HttpResponseRedirect(reverse("cdp_segment", args=[segment_id]))


@require_POST
@customer_page("cdp.segment.manage")
def segment_recompute(request, actor, segment_id: int):
    changes = services.recompute_segment(actor=actor, segment_id=segment_id)
    messages.success(request, _("Recomputed: %(entered)s entered, %(exited)s left.") % {
        "entered": sum(map(len, changes.entered.values())), "exited": sum(map(len, changes.exited.values()))})
    return HttpResponseRedirect(reverse("cdp_segment", args=[segment_id]))


@require_POST
@customer_page("cdp.segment.manage")
def segment_delete(request, actor, segment_id: int):
    services.delete_segment(actor=actor, segment_id=segment_id)
    messages.success(request, _("Segment deleted."))
    return HttpResponseRedirect(reverse("cdp_segments"))


# --- personas ---------------------------------------------------------------------------------------------

PERSONA_TEXT = [("summary", gettext_lazy("Summary")), ("demographics", gettext_lazy("Demographics")),
                ("consumption_habits", gettext_lazy("Consumption habits")), ("interests", gettext_lazy("Interests")),
                ("decision_path", gettext_lazy("Decision path")), ("channels", gettext_lazy("Channels")),
                ("pain_points", gettext_lazy("Pain points"))]


@require_GET
@customer_page("cdp.segment.read")
def persona_list(request, actor):
    page = selectors.page_personas(actor, cursor=request.GET.get("cursor") or None, limit=50)
    return render(request, "cdp/segments/personas.html", {
        "personas": page.items, "next_cursor": page.next_cursor, "can_manage": actor.can("cdp.persona.manage")})


def _persona_form(request, actor, persona=None):
    keys = ["name", *(k for k, _label in PERSONA_TEXT), "segment_id"]
    values = {k: (getattr(persona, k) or "") if persona else "" for k in keys}
    error = ""
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in keys}
        data = {**values, "segment_id": int(values["segment_id"]) if values["segment_id"].isdigit() else None}
        try:
            if persona is None:
                persona = services.create_persona(actor=actor, data=data)
            else:
                services.update_persona(actor=actor, persona_id=persona.pk, data=data)
            messages.success(request, _("Persona saved."))
            return HttpResponseRedirect(reverse("cdp_persona", args=[persona.pk]))
        except (ValidationFailed, Conflict) as exc:
            error = _problem(exc)
    return render(request, "cdp/segments/persona_form.html", {
        "persona": persona, "values": values, "error": error, "text_fields": PERSONA_TEXT,
        "segments": list(selectors.segments(actor).order_by("name")[:500])}, status=422 if error else 200)


@require_http_methods(["GET", "POST"])
@customer_page("cdp.persona.manage")
def persona_create(request, actor):
    return _persona_form(request, actor)


@require_http_methods(["GET", "POST"])
@customer_page("cdp.persona.manage")
def persona_edit(request, actor, persona_id: int):
    return _persona_form(request, actor, selectors.persona(actor, persona_id))


@require_POST
@customer_page("cdp.persona.manage")
def persona_delete(request, actor, persona_id: int):
    services.delete_persona(actor=actor, persona_id=persona_id)
    messages.success(request, _("Persona deleted."))
    return HttpResponseRedirect(reverse("cdp_personas"))


@require_GET
@customer_page("cdp.segment.read")
def persona_page(request, actor, persona_id: int):
    persona = selectors.persona(actor, persona_id)
    size = selectors.visible_member_count(actor, persona.segment) if persona.segment_id else 0
    hidden = actor.hidden_fields("cdp.profile")
    return render(request, "cdp/segments/persona.html", {
        "persona": persona, "size": size, "text_fields": [(label, getattr(persona, k)) for k, label in PERSONA_TEXT],
        "traits": [(t, TRAIT_LABELS[t]) for t in selectors.TRAITS if t not in hidden],
        "can_manage": actor.can("cdp.persona.manage")})


@require_GET
@customer_page("cdp.segment.read")
def persona_trait(request, actor, persona_id: int, trait: str):
    """One trait's distribution for charts.js: ``{"title", "items": [{"name", "count"}]}``."""
    persona = selectors.persona(actor, persona_id)
    items = selectors.trait_distribution(actor, persona.segment, trait) if persona.segment_id else []
    if trait == "lifecycle_stage":
        labels = {s.key: _(s.label) for s in LifecycleStageDefinition.objects.in_org(actor)}
        items = [{**i, "name": labels.get(i["name"], i["name"])} for i in items]
    elif trait == "gender":
        labels = {"male": _("Male"), "female": _("Female"), "unknown": _("Unknown")}
        items = [{**i, "name": labels.get(i["name"], i["name"])} for i in items]
    items = [{**i, "name": i["name"] or _("(empty)")} for i in items]
    return JsonResponse({"title": str(TRAIT_LABELS.get(trait, trait)), "items": items})
