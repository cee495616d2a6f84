"""Keyset (cursor) pagination: stable under inserts, constant cost at any depth (no OFFSET).

The cursor is an opaque base64 of the last row's ordering values. Ordering always ends with ``pk`` so that
ties are broken deterministically.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from .errors import ValidationFailed

MAX_LIMIT = 200


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("bad cursor", fields={"cursor": ["not a cursor this API issued"]}) from exc
    if not isinstance(values, list) or len(values) != width:
        raise ValidationFailed("bad cursor", fields={"cursor": ["not a cursor this API issued"]})
    return values


def paginate(qs: QuerySet, *, order: list[str] | None = None, cursor: str | None = None, limit: int = 50) -> Page:
    """``order`` names fields, ``-`` for descending; ``pk`` is appended. Values must be JSON-representable."""
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailed("bad limit", fields={"limit": [f"between 1 and {MAX_LIMIT}"]})
    order = [o for o in (order or []) if o.lstrip("-") != "pk"]
    desc_pk = bool(order) and order[0].startswith("-")
    keys = [*order, "-pk" if desc_pk else "pk"]
    names = [k.lstrip("-") for k in keys]
    qs = qs.order_by(*keys)
    if cursor:
        values = decode_cursor(cursor, len(keys))
        # (a, b, pk) > (va, vb, vpk) expanded as a disjunction, each term honouring its own direction
        cond = Q()
        for i, key in enumerate(keys):
            term = Q(**{n: v for n, v in zip(names[:i], values[:i], strict=True)})
            op = "lt" if key.startswith("-") else "gt"
            term &= Q(**{f"{names[i]}__{op}": values[i]})
            cond |= term
        qs = qs.filter(cond)
    rows = list(qs[: limit + 1])
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        nxt = encode_cursor([_value(last, n) for n in names])
    return Page(items=rows, next_cursor=nxt)


def _value(obj: Any, name: str) -> Any:
    value = obj
    for part in name.split("__"):
        value = getattr(value, "pk" if part == "pk" else part)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
