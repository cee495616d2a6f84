"""Records out: API dictionaries and console cells, with field security (hidden fields left out) and personal
values masked unless the caller has been allowed to unmask (``services.unmask_record`` checks and audits)."""

from __future__ import annotations

from typing import Any

from siyu.kernel.actor import Actor

from .field_types.base import FieldSpec, FieldType
from .objects import StandardField
from .selectors import ObjectMeta


def _attribute(obj: Any, path: str) -> Any:
    value = obj
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def standard_stored(meta: ObjectMeta, sf: StandardField, obj: Any) -> tuple[FieldType, FieldSpec, Any]:
    """A standard column's value in its type's stored form, so one type renders standard and custom fields."""
    ft, spec = meta.type_of(sf.type), meta.standard_spec(sf)
    value = _attribute(obj, sf.attribute)
    if ft.mask_kind:
        stored = {"ct": value} if value else None  # the column already holds the kernel.crypto envelope
    else:
        stored = ft.from_python(value, spec) if value is not None else None
    return ft, spec, stored


def serialize_record(actor: Actor, meta: ObjectMeta, obj: Any, *, unmask: bool = False) -> dict[str, Any]:
    """``{standard field: value, …, "data": {custom field: value}}`` without the fields hidden from the actor."""
    hidden = actor.hidden_fields(meta.key)
    out: dict[str, Any] = {}
    for sf in meta.standard_fields:
        if sf.key in hidden:
            continue
        ft, spec, stored = standard_stored(meta, sf, obj)
        out[sf.key] = _api_value(ft, spec, stored, unmask)
    values = getattr(obj, meta.column) or {}
    data = {}
    for fd in meta.fields:
        if fd.key in hidden or fd.key not in values:
            continue
        data[fd.key] = meta.type_of(fd.type).to_api(values[fd.key], meta.spec(fd), unmask=unmask)
    out["data"] = data
    return out


def _api_value(ft: FieldType, spec: FieldSpec, stored: Any, unmask: bool) -> Any:
    if stored is None:
        return None
    if ft.key == "datetime":
        return ft.to_python(stored)
    return ft.to_api(stored, spec, unmask=unmask)


def visible_columns(actor: Actor, meta: ObjectMeta) -> list[tuple[str, str, str]]:
    """(key, label, type) of the columns a list shows: standard fields then custom fields, minus hidden ones."""
    hidden = actor.hidden_fields(meta.key)
    cols = [(sf.key, sf.label, sf.type) for sf in meta.standard_fields if sf.key not in hidden]
    return cols + [(fd.key, fd.label, fd.type) for fd in meta.fields if fd.key not in hidden]


def display_cells(actor: Actor, meta: ObjectMeta, obj: Any, columns: list[tuple[str, str, str]]) -> list[str]:
    """Display text per column (personal values masked), for the generic list view."""
    values = getattr(obj, meta.column) or {}
    cells = []
    for key, _label, _type in columns:
        fd = meta.custom_field(key)
        if fd is not None:
            stored = values.get(key)
            cells.append(meta.type_of(fd.type).display(stored, meta.spec(fd)) if stored is not None else "")
            continue
        sf = meta.standard_field(key)
        ft, spec, stored = standard_stored(meta, sf, obj)
        cells.append(ft.display(stored, spec) if stored is not None else "")
    return cells

