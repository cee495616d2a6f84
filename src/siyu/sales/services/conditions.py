"""Assignment-rule conditions evaluated in Python for one lead, with the same semantics as the platform's SQL
filters (``platform.filtering``): the same field resolution, operators, value parsing and text forms.

``tests/sales/test_conditions.py`` checks that every operator gives the same answer here and in SQL."""

from __future__ import annotations

import operator
from collections.abc import Callable
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


def _resolve(meta: ObjectMeta, key: str) -> tuple[Any, Any, Callable[[Any], Any], bool]:
    """(field type, spec, how to read the value in the type's stored form from a lead (or None), is custom)."""
    fd = meta.custom_field(key)
    if fd is not None:
        return meta.type_of(fd.type), meta.spec(fd), lambda lead: (lead.custom or {}).get(key), True
    sf = meta.standard_field(key)
    if sf is None:
        raise LookupError(key)
    parts = sf.path.split("__")

    def read(lead: Any) -> Any:
        value: Any = lead
        for part in parts:
            value = getattr(value, part, None)
        return value

    return meta.type_of(sf.type), meta.standard_spec(sf), read, False


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


def _never(lead: Any) -> bool:
    return False


def compile_condition(actor: Actor, meta: ObjectMeta, condition: dict[str, Any]) -> Callable[[Any], bool]:
    """One condition as a test of a lead: the field, the operator and the value are resolved and parsed once
    (a bulk chunk tests every rule's conditions on a thousand leads); a condition that no longer parses (a field
    archived since) or names a field hidden from ``actor`` is false, so the rule does not fire on a guess."""
    key, op = condition["field"], condition["op"]
    try:
        ft, spec, read, custom = _resolve(meta, key)
        value = ft.filter_value(op, condition.get("value"), spec)
    except (LookupError, FieldError, ValidationFailed):
        return _never
    if key in actor.hidden_fields(meta.key):
        return _never
    if not custom and op not in ("is_empty", "contains"):
        python = ft.to_python
        value = [python(v) for v in value] if op == "in" else python(value)
        if op == "eq":
            return lambda lead: read(lead) == value
        if op == "ne":
            return lambda lead: (stored := read(lead)) is None or stored != value
        if op == "in":
            return lambda lead: read(lead) in value
        compare = _COMPARE[op]
        return lambda lead: (stored := read(lead)) is not None and compare(stored, value)
    if op == "is_empty":
        empties = ft.empty_texts if custom else ("",)

        def is_empty(lead: Any) -> bool:
            text = _text_of(ft, read(lead), custom)
            empty = text is None or text in empties
            return empty if value else not empty

        return is_empty
    if op == "contains":
        needle = value.casefold()
        return lambda lead: (text := _text_of(ft, read(lead), custom)) is not None and needle in text.casefold()
    if op == "eq":
        wanted = ft.text_form(value)
        return lambda lead: _text_of(ft, read(lead), custom) == wanted
    if op == "ne":
        wanted = ft.text_form(value)
        return lambda lead: (text := _text_of(ft, read(lead), custom)) is None or text != wanted
    if op == "in":
        texts = {ft.text_form(v) for v in value}
        return lambda lead: _text_of(ft, read(lead), custom) in texts
    right: Any = ft.compare_value(value)
    compare = _COMPARE[op]

    def ordered(lead: Any) -> bool:
        text = _text_of(ft, read(lead), custom)
        if text is None:
            return False
        left: Any = _number(text) if ft.numeric else text
        return left is not None and compare(left, right)

    return ordered


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le,
                                                   "gte": operator.ge}


def compile_all(actor: Actor, meta: ObjectMeta, conditions: list[dict[str, Any]]) -> Callable[[Any], bool]:
    tests = [compile_condition(actor, meta, c) for c in conditions]
    return lambda lead: all(test(lead) for test in tests)


def holds(actor: Actor, meta: ObjectMeta, lead: Any, condition: dict[str, Any]) -> bool:
    """Whether one condition holds for ``lead`` (see ``compile_condition``)."""
    return compile_condition(actor, meta, condition)(lead)


def all_hold(actor: Actor, meta: ObjectMeta, lead: Any, conditions: list[dict[str, Any]]) -> bool:
    return compile_all(actor, meta, conditions)(lead)


def describe(conditions: list[dict[str, Any]]) -> str:
    if not conditions:
        return "no conditions (matches every lead)"
    return " and ".join(f"{c['field']} {c['op']} {c.get('value')!r}" for c in conditions)
