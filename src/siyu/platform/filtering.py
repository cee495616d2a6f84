"""Filters and sorting on standard and custom fields, from ``?filter[field][op]=value&sort=-field`` or a JSON list
``[{"field": "amount", "op": "gt", "value": "10"}]``.

Custom fields filter on the JSON column through their type's expression (``JsonText``: ``->>`` on PostgreSQL,
``json_extract`` on SQLite); standard fields use ordinary ORM lookups on their columns. Unknown fields, hidden
fields, unsupported operators and bad values are a 422 naming the filter, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull

from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed

from .field_types.base import FieldError, FieldSpec, FieldType
from .objects import StandardField
from .selectors import ObjectMeta, object_meta

QUERY_KEY = re.compile(r"^filter\[([a-z][a-z0-9_]{0,39})\]\[([a-z_]{1,20})\]$")
MAX_FILTERS = 20
MAX_SORT_KEYS = 3
COLUMN_LOOKUPS = {"eq": "exact", "lt": "lt", "gt": "gt", "lte": "lte", "gte": "gte", "in": "in",
                  "contains": "icontains"}
TEXT_COLUMNS = {"text", "long_text", "url", "single_select"}


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: Any


def parse_query_filters(params: Mapping[str, Any]) -> list[Filter]:
    """``filter[amount][gt]=10`` pairs of a query string; other parameters are ignored."""
    out = []
    for name in params:
        m = QUERY_KEY.match(name)
        if m:
            out.append(Filter(m.group(1), m.group(2), params[name]))
        elif name.startswith("filter["):
            raise ValidationFailed("bad filter", fields={name: ["use filter[field][operator]=value"]})
    return out


def parse_json_filters(text: str | None) -> list[Filter]:
    if not text:
        return []
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed("bad filters", fields={"filters": ["not valid JSON"]}) from exc
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("field"), str) and isinstance(i.get("op"), str) for i in items
    ):
        raise ValidationFailed("bad filters", fields={"filters": ['a list of {"field", "op", "value"}']})
    return [Filter(i["field"], i["op"], i.get("value")) for i in items]


def _fail(name: str, message: str) -> ValidationFailed:
    return ValidationFailed("bad filter", fields={name: [message]})


def _resolve(actor: Actor, meta: ObjectMeta, key: str) -> tuple[FieldSpec, FieldType, StandardField | None] | None:
    if key in actor.hidden_fields(meta.key):
        return None
    fd = meta.custom_field(key)
    if fd is not None:
        return meta.spec(fd), meta.type_of(fd.type), None
    sf = meta.standard_field(key)
    if sf is not None:
        return meta.standard_spec(sf), meta.type_of(sf.type), sf
    return None


def _column_condition(sf: StandardField, ft: FieldType, op: str, value: Any) -> Q:
    path = sf.index_lookup if ft.mask_kind else sf.path
    if op == "is_empty":
        empty = Q(**{f"{path}__isnull": True})
        if ft.key in TEXT_COLUMNS or ft.mask_kind:  # text columns store "no value" as ""
            empty |= Q(**{path: ""})
        return empty if value else ~empty
    if op == "ne":
        return ~Q(**{path: _python(ft, value)}) | Q(**{f"{path}__isnull": True})
    if op == "in":
        return Q(**{f"{path}__in": [_python(ft, v) for v in value]})
    if op == "contains":
        return Q(**{f"{path}__icontains": value})
    return Q(**{f"{path}__{COLUMN_LOOKUPS[op]}": _python(ft, value)})


def _python(ft: FieldType, value: Any) -> Any:
    return value if ft.mask_kind else ft.to_python(value)


def build_condition(actor: Actor, meta: ObjectMeta, f: Filter) -> Q:
    name = f"filter[{f.field}][{f.op}]"
    resolved = _resolve(actor, meta, f.field)
    if resolved is None:
        raise _fail(name, "unknown field")
    spec, ft, sf = resolved
    if f.op not in ft.operators or (sf is not None and not sf.filterable):
        raise _fail(name, f"operator {f.op} is not supported for this field")
    if f.value is None or isinstance(f.value, dict):
        raise _fail(name, "give a value")
    try:
        value = ft.filter_value(f.op, f.value, spec)
        if sf is not None:
            return _column_condition(sf, ft, f.op, value)
        return ft.condition(meta.column, spec, f.op, value)
    except FieldError as exc:
        raise _fail(name, str(exc)) from exc


def apply_filters(
    qs: QuerySet, *, actor: Actor, meta: ObjectMeta | None = None, object_key: str | None = None,
    filters: list[Filter], sort: str | None = None,
) -> tuple[QuerySet, list[str]]:
    """``qs`` (already scoped with ``visible_to``) narrowed by every filter (AND) and annotated for ``sort``;
    returns it with the ``order`` list that ``kernel.pagination.paginate`` takes (empty values sort last, the
    primary key breaks ties). Give the object's ``meta`` or its ``object_key``."""
    if meta is None:
        if object_key is None:
            raise TypeError("apply_filters needs meta or object_key")
        meta = object_meta(actor, object_key)
    if len(filters) > MAX_FILTERS:
        raise ValidationFailed("too many filters", fields={"filters": [f"at most {MAX_FILTERS}"]})
    for f in filters:
        qs = qs.filter(build_condition(actor, meta, f))
    order: list[str] = []
    keys = [k.strip() for k in (sort or "").split(",") if k.strip()]
    if len(keys) > MAX_SORT_KEYS:
        raise ValidationFailed("bad sort", fields={"sort": [f"at most {MAX_SORT_KEYS} keys"]})
    for i, raw in enumerate(keys):
        desc, key = raw.startswith("-"), raw.lstrip("-")
        resolved = _resolve(actor, meta, key)
        if resolved is None or not resolved[1].sortable or (resolved[2] is not None and not resolved[2].sortable):
            raise ValidationFailed("bad sort", fields={"sort": [f"cannot sort by {key}"]})
        spec, ft, sf = resolved
        if sf is not None and not _nullable(meta.model, sf.path):
            # a plain column: ordered directly, so its index serves (paginate adds the pk tie-break)
            order.append(f"{'-' if desc else ''}{'id' if sf.path == 'pk' else sf.path}")
            continue
        if sf is not None:
            if ft.key not in _SENTINELS:
                raise ValidationFailed("bad sort", fields={"sort": [f"cannot sort by {key}"]})
            expr = F(sf.path)
            empty = Case(When(IsNull(expr, True), then=Value(1)), default=Value(0))
            value = Coalesce(expr, Value(_SENTINELS[ft.key]))
        else:
            empty, value = ft.sort_expressions(meta.column, spec)
        qs = qs.annotate(**{f"_sort{i}_empty": empty, f"_sort{i}": value})
        order += [f"_sort{i}_empty", f"{'-' if desc else ''}_sort{i}"]
    return qs, order


# What an empty nullable standard column sorts as (after the is-empty flag, so only ties among empties see it).
_SENTINELS: dict[str, Any] = {
    "integer": 0, "user": 0, "lookup": 0, "boolean": False, "text": "", "single_select": "", "url": "",
    "decimal": Decimal(0), "date": dt.date(1, 1, 1), "datetime": dt.datetime(1, 1, 1, tzinfo=dt.UTC),
}


def _nullable(model: Any, path: str) -> bool:
    for part in path.split("__"):
        if part == "pk":
            return False
        field = model._meta.get_field(part)
        if field.null:
            return True
        model = field.related_model if field.is_relation else model
    return False
