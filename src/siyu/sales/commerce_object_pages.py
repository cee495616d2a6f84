"""Console list, detail, create and edit pages of the commerce objects (``commerce_forms.KINDS``), mounted at
``sales/commerce/<slug>/``, and the saved filters of every sales list.

Lists are the platform's generic list (custom fields as columns, per-column filters, sort, keyset paging) with
the person's saved filters. A form posts everything at once: the posted text is read first, custom values are
validated by the platform, and only then does one service write inside a savepoint — any refusal re-renders the
form with the reason next to each field and leaves nothing written."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.kernel.errors import DomainError, NotFound, PermissionDenied
from siyu.platform.listing import record_list
from siyu.platform.selectors import object_meta
from siyu.platform.serialization import display_cells, visible_columns
from siyu.platform.services import validate_custom

from .commerce_forms import KINDS, Kind, parse
from .pages import _problem, sales_page
from .services import views
from .services.commerce import base, contracts
from .services.commerce.base import visible

CUSTOM = "custom."


def _kind(slug: str) -> Kind:
    kind = KINDS.get(slug)
    if kind is None:
        raise Http404("no such list")
    return kind


def list_context(request, actor, object_key: str, queryset) -> dict[str, Any]:
    """The generic list plus the person's saved filters of it (shared with the lead list)."""
    try:
        context, error = record_list(request, actor, object_key, queryset), ""
    except DomainError as exc:  # a bad filter in the URL: say so, show nothing
        context, error = {"list_columns": [], "list_rows": []}, _problem(exc)
    context.update({"error": error, "object_key": object_key, "saved": list(views.saved_filters(actor, object_key)),
                    "current_query": request.GET.urlencode()})
    return context


def object_list(request, slug: str):
    kind = _kind(slug)

    @sales_page(kind.read)
    def view(request, actor):
        qs = kind.model.objects.visible_to(actor).select_related(*kind.related)
        context = list_context(request, actor, kind.object_key, qs)
        if request.htmx and not request.GET.get("full"):
            return render(request, "platform/_record_list.html", context)
        row_url = reverse(kind.detail_url_name, args=[0]) if kind.detail_url_name else \
            reverse("sales_object", args=[kind.slug, 0])
        context.update({"kind": kind, "row_url": row_url, "can_create": actor.can(kind.create)})
        return render(request, "sales/commerce/object_list.html", context)

    return view(request)


def _custom_inputs(actor, meta) -> list[dict[str, Any]]:
    locked = actor.read_only_fields(meta.key) | actor.hidden_fields(meta.key)
    return [{"name": CUSTOM + fd.key, "key": fd.key, "label": fd.label, "type": fd.type, "required": fd.required,
             "choices": [(c.get("value"), c.get("label")) for c in (fd.options or {}).get("choices", [])]}
            for fd in meta.fields if fd.key not in locked]


def _custom_data(post, inputs: list[dict[str, Any]], *, new: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in inputs:
        if i["type"] == "boolean":
            out[i["key"]] = True if post.get(i["name"]) else None
        elif i["type"] == "multi_select":
            out[i["key"]] = post.getlist(i["name"]) or None
        else:
            raw = (post.get(i["name"]) or "").strip()
            if raw or not new:
                out[i["key"]] = raw or None
    return out


def _form(request, actor, kind: Kind, row=None):
    new = row is None
    meta = object_meta(actor, kind.object_key)
    inputs = kind.shown(new=new)
    customs = _custom_inputs(actor, meta)
    values: dict[str, Any] = kind.initial(row) if row is not None else {"is_active": True}
    if row is not None:
        stored = getattr(row, meta.column) or {}
        values.update({CUSTOM + k: v for k, v in stored.items()})
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    if request.method == "POST":
        values = {i.name: request.POST.get(i.name, "") for i in inputs}
        values.update({i.name: request.POST.get(i.name, "") for i in inputs if i.kind == "bool"})
        values.update({c["name"]: request.POST.get(c["name"], "") for c in customs})
        data, errors = parse(actor, inputs, request.POST)
        custom = _custom_data(request.POST, customs, new=new)
        try:
            validate_custom(actor=actor, object_key=kind.object_key, data=custom, partial=not new)
        except DomainError as exc:
            errors.update({CUSTOM + k: v for k, v in exc.fields.items()})
        if not errors:
            try:
                with transaction.atomic():  # the service's write and the custom values, or neither
                    if new:
                        row = kind.create_fn(actor, data)
                    elif kind.update_fn is not None:
                        row = kind.update_fn(actor, row, data)
                    base.set_custom(actor=actor, object_key=kind.object_key, row=row, data=custom,
                                    permission=kind.create if new else kind.update)
            except (NotFound, PermissionDenied):
                raise
            except DomainError as exc:
                row = None if new else row
                names = {i.name for i in inputs} | {c["key"] for c in customs}
                for key, reasons in exc.fields.items():
                    target = key if key in {i.name for i in inputs} else (CUSTOM + key if key in names else "")
                    if target:
                        errors[target] = reasons
                    else:
                        general.append(f"{key}: {', '.join(reasons)}")
                if not exc.fields:
                    general.append(exc.message)
                if not errors and not general:
                    general.append(exc.message)
            else:
                messages.success(request, _("Saved."))
                url = reverse(kind.detail_url_name, args=[row.pk]) if kind.detail_url_name else \
                    reverse("sales_object", args=[kind.slug, row.pk])
                if request.htmx:
                    resp = HttpResponse(status=204)
                    resp["HX-Redirect"] = url
                    return resp
                return HttpResponseRedirect(url)
    fields = [{"input": i, "value": values.get(i.name, ""), "errors": errors.get(i.name, []),
               "choices": i.choices(actor) if i.choices else []} for i in inputs]
    custom_fields = [{**c, "value": values.get(c["name"], ""), "errors": errors.get(c["name"], [])}
                     for c in customs]
    context = {"kind": kind, "row": row if not new else None, "fields": fields, "custom_fields": custom_fields,
               "general": general, "has_errors": bool(errors or general)}
    template = "sales/commerce/_object_form.html" if request.htmx else "sales/commerce/object_form.html"
    return render(request, template, context)


def object_create(request, slug: str):
    kind = _kind(slug)

    @sales_page(kind.create)
    def view(request, actor):
        return _form(request, actor, kind)

    return view(request)


def object_edit(request, slug: str, pk: int):
    kind = _kind(slug)

    @sales_page(kind.update)
    def view(request, actor):
        return _form(request, actor, kind, visible(kind.model, actor, pk))

    return view(request)


def object_detail(request, slug: str, pk: int):
    kind = _kind(slug)

    @sales_page(kind.read)
    def view(request, actor):
        row = visible(kind.model, actor, pk)
        if request.method == "POST" and kind.slug == "contracts":
            return _contract_action(request, actor, row)
        meta = object_meta(actor, kind.object_key)
        cols = visible_columns(actor, meta)
        cells = display_cells(actor, meta, row, cols)
        frozen = hasattr(row, "version") and row.status in base.LOCKED
        return render(request, "sales/commerce/object_detail.html", {
            "kind": kind, "row": row, "cells": [(label, value) for (_k, label, _t), value in zip(cols, cells,
                                                                                                 strict=True)],
            "can_edit": actor.can(kind.update) and not frozen, "frozen": frozen,
            "can_submit": kind.slug == "contracts" and actor.can("sales.contract.update"),
        })

    return view(request)


def _contract_action(request, actor, contract):
    from .pages import _attempt

    action = request.POST.get("action")
    if action == "submit":
        _attempt(request, lambda: contracts.submit_contract(actor=actor, contract_id=contract.pk,
                                                            comment=request.POST.get("comment", "")),
                 _("Submitted for approval."))
    elif action == "amend":
        new = _attempt(request, lambda: contracts.amend_contract(actor=actor, contract_id=contract.pk),
                       _("New version."))
        if new is not None:
            return HttpResponseRedirect(reverse("sales_object", args=["contracts", new.pk]))
    return HttpResponseRedirect(reverse("sales_object", args=["contracts", contract.pk]))


def _back(request) -> str:
    back = request.POST.get("back") or ""
    return back if back.startswith("/sales/") and "//" not in back else reverse("sales_dashboard")


def _list_permission(object_key: str) -> str:
    """Saving a list's filters needs what reading that list needs."""
    perms = {k.object_key: k.read for k in KINDS.values()} | {"sales.lead": "sales.lead.read"}
    return perms.get(object_key, "sales.lead.read")


@require_POST
def saved_filter_save(request):
    @sales_page(_list_permission(request.POST.get("object_key", "")))
    def view(request, actor):
        from .pages import _attempt

        back = _back(request)
        row = _attempt(request, lambda: views.save_filter(
            actor=actor, object_key=request.POST.get("object_key", ""), name=request.POST.get("name", ""),
            query=request.POST.get("query", "")), _("Filter saved."))
        return HttpResponseRedirect(f"{back.split('?')[0]}?{row.query}" if row is not None else back)

    return view(request)


@require_POST
def saved_filter_delete(request, filter_id: int):
    @sales_page(_list_permission(request.POST.get("object_key", "")))
    def view(request, actor):
        from .pages import _attempt

        _attempt(request, lambda: views.delete_filter(actor=actor, filter_id=filter_id), _("Filter deleted."))
        return HttpResponseRedirect(_back(request))

    return view(request)
