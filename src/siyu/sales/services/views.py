"""Saved filters of the console's lists: a person names the filters and sort of a list to come back to them.
Only the list's own parameters are kept (``filter[…]``, ``filters``, ``sort``, ``mine``), never a cursor."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.platform.objects import standard_object

from ..models.views import SavedFilter
from .common import as_int, text


def _clean_query(query: str) -> str:
    kept = [(k, v) for k, v in parse_qsl(query or "", keep_blank_values=False)
            if (k.startswith("filter[") or k in {"filters", "sort", "mine"}) and v.strip()]
    out = urlencode(kept)
    if not kept:
        raise ValidationFailed("nothing to save", fields={"query": ["set a filter or a sort first"]})
    if len(out) > 2000:
        raise ValidationFailed("too long", fields={"query": ["at most 2000 characters"]})
    return out


def saved_filters(actor: Actor, object_key: str):
    if not actor.user_id:
        return SavedFilter.objects.none()
    return SavedFilter.objects.in_org(actor).filter(user_id=actor.user_id, object_key=object_key).order_by("name")


def save_filter(*, actor: Actor, object_key: str, name: str, query: str) -> SavedFilter:
    """Save (or replace, by name) the current filters of a list for the person acting."""
    if not actor.user_id:
        raise PermissionDenied("only a person saves filters")
    if standard_object(object_key) is None or not object_key.startswith("sales."):
        raise ValidationFailed("unknown list", fields={"object_key": ["not a sales list"]})
    name = text(name, "name", 80, required=True)
    query = _clean_query(query)
    row = saved_filters(actor, object_key).filter(name=name).first()
    before = row.query if row else None
    if row is None:
        row = SavedFilter(org_id=actor.org_id, user_id=actor.user_id, object_key=object_key, name=name)
    row.query = query
    row.save()
    record_write(actor, "update" if before is not None else "create", "sales.saved_filter", row.pk,
                 {"query": [before, query]}, object_key=object_key, name=name)
    return row


def delete_filter(*, actor: Actor, filter_id: int) -> None:
    row = SavedFilter.objects.in_org(actor).filter(pk=as_int(filter_id), user_id=actor.user_id).first()
    if row is None:
        raise NotFound("not found")
    record_write(actor, "delete", "sales.saved_filter", row.pk, {"query": [row.query, None]}, name=row.name)
    row.delete()
