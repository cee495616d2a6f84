"""Assignment-rule conditions evaluated in Python for one lead, with the same semantics as the platform's SQL
filters (``platform.filtering``): the same field resolution, operators, value parsing and text forms.

``tests/sales/test_conditions.py`` checks that every operator gives the same answer here and in SQL."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed
from siyu.platform.field_types.base import FieldError
from siyu.platform.filtering import Filter, build_condition
from siyu.platform.selectors import ObjectMeta

OBJECT = "sales.lead"


def validate(actor: Actor, meta: ObjectMeta, raw: Any) -> list[dict[str, Any]]:
    """Conditions as stored on a rule; each one is parsed by the platform (unknown fields, operators, bad values
    are a 422 naming ``conditions.<n>``)."""
    if not isinstance(raw, list) or len(raw) > 20:
        raise ValidationFailed("bad conditions", fields={"conditions": ['at most 20 {"field", "op", "value"}']})
    out = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("field"), str) or not isinstance(item.get("op"), str):
            raise ValidationFailed("bad conditions", fields={f"conditions.{n}": ['{"field", "op", "value"}']})
        value = item.get("value")
        try:
            build_condition(actor, meta, Filter(item["field"], item["op"], value))
        except ValidationFailed as exc:
            raise ValidationFailed("bad condition", fields={f"conditions.{n}": [m for v in exc.fields.values()
                                                                                for m in v]}) from None
        out.append({"field": item["field"], "op": item["op"], "value": value})
    return out


def _stored(meta: ObjectMeta, lead: Any, key: str) -> tuple[Any, Any, Any, bool]:
    """(field type, spec, value in the type's stored form or None, is custom)."""
    fd = meta.custom_field(key)
    if fd is not None:
        return meta.type_of(fd.type), meta.spec(fd), (lead.custom or {}).get(key), True
    sf = meta.standard_field(key)
    if sf is None:
        raise LookupError(key)
    value: Any = lead
    for part in sf.path.split("__"):
        value = getattr(value, part, None)
    return meta.type_of(sf.type), meta.standard_spec(sf), value, False


def _text_of(ft, stored: Any, custom: bool) -> str | None:
    if stored is None:
        return None
    if custom:
        return ft.text_form(stored)
    return str(stored)


def _number(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text is not None else None
    except InvalidOperation:
        return None


def holds(actor: Actor, meta: ObjectMeta, lead: Any, condition: dict[str, Any]) -> bool:
    """Whether one condition holds for ``lead``; a condition that no longer parses (a field archived since) is
    false, so the rule does not fire on a guess."""
    key, op = condition["field"], condition["op"]
    try:
        ft, spec, stored, custom = _stored(meta, lead, key)
        value = ft.filter_value(op, condition.get("value"), spec)
    except (LookupError, FieldError, ValidationFailed):
        return False
    if key in actor.hidden_fields(meta.key):
        return False
    if not custom and op not in ("is_empty", "contains"):
        python = ft.to_python
        value = [python(v) for v in value] if op == "in" else python(value)
        if op == "eq":
            return stored == value
        if op == "ne":
            return stored is None or stored != value
        if op == "in":
            return stored in value
        if stored is None:
            return False
        return {"lt": stored < value, "gt": stored > value, "lte": stored <= value, "gte": stored >= value}[op]
    text = _text_of(ft, stored, custom)
    if op == "is_empty":
        empty = text is None or text in (ft.empty_texts if custom else ("",))
        return empty if value else not empty
    if op == "contains":
        return text is not None and value.casefold() in text.casefold()
    if op == "eq":
        return text == ft.text_form(value)
    if op == "ne":
        return text is None or text != ft.text_form(value)
    if op == "in":
        return text in {ft.text_form(v) for v in value}
    if text is None:
        return False
    left: Any = _number(text) if ft.numeric else text
    right: Any = ft.compare_value(value)
    if left is None:
        return False
    return {"lt": left < right, "gt": left > right, "lte": left <= right, "gte": left >= right}[op]


def all_hold(actor: Actor, meta: ObjectMeta, lead: Any, conditions: list[dict[str, Any]]) -> bool:
    return all(holds(actor, meta, lead, c) for c in conditions)


def describe(conditions: list[dict[str, Any]]) -> str:
    if not conditions:
        return "no conditions (matches every lead)"
    return " and ".join(f"{c['field']} {c['op']} {c.get('value')!r}" for c in conditions)
