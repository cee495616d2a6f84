"""Console pages of platform: "Custom fields" (pick an object, list, add, edit, archive fields with a
type-specific options editor loaded by htmx), custom objects, and the generic record list.

Like ``api.py``: parse, authorise, call one service or selector, render. Services raise domain errors; their
per-field messages are shown next to the inputs (nothing is written on error).
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.kernel import auditing
from siyu.kernel.errors import DomainError, NotFound

from . import selectors, services
from .field_types import registry
from .field_types.base import FieldType
from .listing import record_list

DEFAULT_OBJECT = "iam.user"


def console_page(permission: str):
    """Signed in, acting in an organisation, holding ``permission``; the view receives the actor."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            actor = getattr(request, "actor", None)
            if not actor:
                return render(request, "console/no_organization.html", status=403)
            actor = getattr(actor, "_wrapped", actor)  # the Actor itself, not iam's lazy wrapper around it
            if not actor.can(permission):
                auditing.record(auditing.AuditEntry(
                    org_id=actor.org_id, action="denied", actor_user_id=actor.user_id, actor_label=actor.label,
                    meta={"operation": permission, "path": request.path[:300]}))
                return render(request, "403.html", status=403)
            try:
                return view(request, actor, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from exc

        return wrapper

    return decorate


def _object_key(request: HttpRequest) -> str:
    key = (request.GET.get("object") or request.POST.get("object") or DEFAULT_OBJECT)[:80]
    return key


def _type_choices(current: str | None = None) -> list[FieldType]:
    """Every type for a new field; for an existing one, itself and the types it may change to."""
    types = registry.all_types()
    if current is None:
        return types
    return [t for t in types if t.key == current or current in t.compatible_from]


def _options_from_post(ft: FieldType, post) -> tuple[dict[str, Any], dict[str, str]]:
    """The options editor's inputs -> an options dict (validated afterwards by the type), and the raw inputs."""
    options: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for inp in ft.option_inputs():
        value = (post.get(f"opt_{inp.name}") or "").strip()
        raw[inp.name] = value
        if not value:
            continue
        if inp.kind == "int":
            try:
                options[inp.name] = int(value)
            except ValueError:
                options[inp.name] = value  # the type's validation names the problem
        elif inp.kind == "choices":
            choices = []
            for line in value.splitlines():
                if line.strip():
                    val, _sep, label = line.partition("|")
                    choices.append({"value": val.strip(), "label": (label or val).strip()})
            options[inp.name] = choices
        else:
            options[inp.name] = value
    return options, raw


def _options_raw(ft: FieldType, options: dict[str, Any]) -> dict[str, str]:
    raw = {}
    for inp in ft.option_inputs():
        value = options.get(inp.name)
        if inp.kind == "choices" and isinstance(value, list):
            raw[inp.name] = "\n".join(f"{c.get('value')}|{c.get('label')}" for c in value if isinstance(c, dict))
        else:
            raw[inp.name] = "" if value is None else str(value)
    return raw


def _options_context(actor, ft: FieldType, raw: dict[str, str]) -> dict[str, Any]:
    needs_objects = any(i.kind == "object" for i in ft.option_inputs())
    return {
        "option_inputs": [(i, raw.get(i.name, "")) for i in ft.option_inputs()],
        "objects": selectors.list_objects(actor) if needs_objects else [],
        "field_type": ft,
    }


@require_GET
@console_page("platform.field.manage")
def fields_page(request: HttpRequest, actor):
    key = _object_key(request)
    objects = selectors.list_objects(actor)
    if key not in {o.key for o in objects}:
        raise Http404("no such object")
    meta = selectors.object_meta(actor, key)
    type_labels = {t.key: t.label for t in registry.all_types()}
    return render(request, "platform/fields.html", {
        "objects": objects, "object_key": key, "meta": meta,
        "standard_rows": [(sf, type_labels.get(sf.type, sf.type)) for sf in meta.standard_fields],
        "field_rows": [(f, type_labels.get(f.type, f.type)) for f in selectors.list_fields(actor, key)],
    })


@require_http_methods(["GET", "POST"])
@console_page("platform.field.manage")
def field_form(request: HttpRequest, actor):
    key = _object_key(request)
    field_key = (request.GET.get("field") or request.POST.get("field") or "")[:40]
    existing = None
    if field_key:
        existing = next((f for f in selectors.list_fields(actor, key) if f.key == field_key), None)
        if existing is None:
            raise Http404("no such field")
    else:
        selectors.object_definition(actor, key)
    errors: dict[str, list[str]] = {}
    source = request.POST if request.method == "POST" else request.GET
    type_key = source.get("type") or (existing.type if existing else "text")
    ft = registry.get(type_key) or registry.get("text")
    values = {
        "key": source.get("key", ""), "label": source.get("label", existing.label if existing else ""),
        "required": bool(source.get("required")) if request.method == "POST" else bool(existing and existing.required),
        "indexed": bool(source.get("indexed")) if request.method == "POST" else bool(existing and existing.indexed),
        "order": source.get("order", existing.order if existing else 0),
    }
    raw = _options_raw(ft, existing.options) if existing and ft.key == existing.type else {}
    if request.method == "POST":
        options, raw = _options_from_post(ft, request.POST)
        try:
            order = int(values["order"] or 0)
        except ValueError:
            errors["order"] = [_("a whole number")]
            order = 0
        if not errors:
            try:
                if existing:
                    services.update_field(actor=actor, object_key=key, field_key=existing.key, label=values["label"],
                                          type=ft.key, options=options, required=values["required"],
                                          indexed=values["indexed"], order=order)
                    messages.success(request, _("The field is saved."))
                else:
                    services.create_field(actor=actor, object_key=key, key=values["key"], label=values["label"],
                                          type=ft.key, options=options, required=values["required"],
                                          indexed=values["indexed"], order=order)
                    messages.success(request, _("The field is added."))
                target = f"{reverse('platform_fields')}?object={key}"
                if request.htmx:
                    return HttpResponse(status=204, headers={"HX-Redirect": target})
                return redirect(target)
            except DomainError as exc:
                errors = exc.fields or {"form": [exc.message]}
    context = {
        "object_key": key, "existing": existing, "values": values, "errors": errors,
        "types": _type_choices(existing.type if existing else None), **_options_context(actor, ft, raw),
    }
    template = "platform/field_form.html#form" if request.htmx else "platform/field_form.html"
    return render(request, template, context)


@require_GET
@console_page("platform.field.manage")
def field_options(request: HttpRequest, actor):
    """The options editor of one type (htmx swaps it in when the type select changes)."""
    ft = registry.get(request.GET.get("type", "")) or registry.get("text")
    return render(request, "platform/field_form.html#options", _options_context(actor, ft, {}))


@require_POST
@console_page("platform.field.manage")
def field_archive(request: HttpRequest, actor):
    key = _object_key(request)
    try:
        services.archive_field(actor=actor, object_key=key, field_key=(request.POST.get("field") or "")[:40])
        messages.success(request, _("The field is archived; stored values are kept."))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    target = f"{reverse('platform_fields')}?object={key}"
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


@require_http_methods(["GET", "POST"])
@console_page("platform.object.read")
def objects_page(request: HttpRequest, actor):
    errors: dict[str, list[str]] = {}
    values = {"key": "", "label": ""}
    if request.method == "POST":
        values = {"key": request.POST.get("key", "")[:60], "label": request.POST.get("label", "")[:200]}
        try:
            obj = services.create_object(actor=actor, key=values["key"], label=values["label"])
            messages.success(request, _("The object is created."))
            return redirect(f"{reverse('platform_fields')}?object={obj.key}")
        except DomainError as exc:
            errors = exc.fields or {"form": [exc.message]}
    custom = [o for o in selectors.list_objects(actor) if not o.is_standard]
    return render(request, "platform/objects.html", {
        "objects": custom, "errors": errors, "values": values, "can_manage": actor.can("platform.object.manage"),
    }, status=422 if errors else 200)


@require_GET
@console_page("platform.record.read")
def records_page(request: HttpRequest, actor, key: str):
    meta = selectors.custom_object_meta(actor, key[:80])
    try:
        context = record_list(request, actor, meta.key)
    except DomainError as exc:  # a bad filter typed into the URL: show why, not a 500
        return render(request, "platform/records.html", {"meta": meta, "list_error": exc.fields or exc.message},
                      status=422)
    context["meta"] = meta
    if request.htmx and context["list_is_more"]:
        return render(request, "platform/_record_list.html#rows", context)
    if request.htmx:
        return render(request, "platform/_record_list.html", context)
    return render(request, "platform/records.html", context)
