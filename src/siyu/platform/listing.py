"""The generic list view: records of any object (standard or custom) rendered from metadata, with custom fields
as columns, per-column filter inputs, sortable headers and keyset "load more". Other contexts reuse it::

    from siyu.platform.listing import record_list
    ctx = record_list(request, actor, "iam.user", Membership.objects.visible_to(actor).select_related("user"))
    return render(request, "platform/_record_list.html", ctx)   # or {% include %} it in a page

Filters come from the query string in the API's form (``filter[field][op]=value``, ``sort``, ``cursor``), so a
list URL can be shared and the same parsing (``filtering.py``) applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest

from siyu.kernel.actor import Actor
from siyu.kernel.pagination import paginate

from .field_types.single_select import labels
from .filtering import apply_filters, parse_query_filters
from .selectors import ObjectMeta, object_meta, records_visible_to
from .serialization import display_cells, visible_columns

PAGE_SIZE = 25


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    type: str
    filter_op: str | None  # the operator the column's filter input uses, None when it has none
    filter_name: str
    filter_value: str
    choices: list[tuple[str, str]]
    sort_url: str
    sorted: str  # "", "asc", "desc"


def _filter_op(ft) -> str | None:
    for op in ("contains", "eq"):
        if op in ft.operators:
            return op
    return None


def _choices(meta: ObjectMeta, key: str, type_key: str) -> list[tuple[str, str]]:
    if type_key == "boolean":
        return [("true", "✓"), ("false", "✗")]
    fd = meta.custom_field(key)
    if fd is not None and type_key in {"single_select", "multi_select"}:
        return list(labels(meta.spec(fd)).items())
    return []


def record_list(request: HttpRequest, actor: Actor, object_key: str, queryset: QuerySet | None = None,
                *, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """Template context for ``platform/_record_list.html``. ``queryset`` defaults to the object's records the
    actor may see; pass one (already scoped with ``visible_to``) to add ``select_related`` or narrow it."""
    meta = object_meta(actor, object_key)
    qs = records_visible_to(actor, meta) if queryset is None else queryset
    # empty filter inputs of the list form mean "no filter", not "equal to nothing"
    params = {k: v for k, v in request.GET.items() if v.strip() != ""}
    filters = parse_query_filters(params)
    sort = params.get("sort") or ""
    qs, order = apply_filters(qs, actor=actor, meta=meta, filters=filters, sort=sort)
    page = paginate(qs, order=order, cursor=params.get("cursor") or None, limit=page_size)
    cols = visible_columns(actor, meta)
    kept = [(k, v) for k, v in params.items() if k.startswith("filter[")]
    columns = []
    for key, label, type_key in cols:
        ft = meta.type_of(type_key)
        op = _filter_op(ft)
        sf = meta.standard_field(key)
        sortable = ft.sortable and (sf is None or sf.sortable)
        if sf is not None and not sf.filterable:
            op = None
        name = f"filter[{key}][{op}]" if op else ""
        next_sort = f"-{key}" if sort == key else key
        columns.append(Column(
            key=key, label=str(label), type=type_key, filter_op=op, filter_name=name,
            filter_value=params.get(name, "") if name else "", choices=_choices(meta, key, type_key),
            sort_url="?" + urlencode([*kept, ("sort", next_sort)]) if sortable else "",
            sorted="asc" if sort == key else ("desc" if sort == f"-{key}" else ""),
        ))
    more = ""
    if page.next_cursor:
        more = "?" + urlencode([*kept, *([("sort", sort)] if sort else []), ("cursor", page.next_cursor)])
    return {
        "list_meta": meta,
        "list_columns": columns,
        "list_rows": [(row.pk, display_cells(actor, meta, row, cols)) for row in page.items],
        "list_more_url": more,
        "list_sort": sort,
        "list_is_more": bool(params.get("cursor")),
    }
