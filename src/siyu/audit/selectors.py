"""Reads of the audit log, already limited to the actor's organisation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from siyu.kernel.actor import Actor
from siyu.kernel.api import get_visible_or_404
from siyu.kernel.errors import ValidationFailed
from siyu.kernel.pagination import Page, paginate

from .models import AuditLogEntry


@dataclass(frozen=True)
class EntryFilters:
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    actor_user_id: int | None = None
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)  # a bare date-time means the console's time zone
    return value


def search_entries(*, actor: Actor, filters: EntryFilters) -> QuerySet[AuditLogEntry]:
    """The actor's organisation's entries matching ``filters`` (unordered: the caller paginates)."""
    qs = AuditLogEntry.objects.visible_to(actor)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.actor_user_id is not None:
        qs = qs.filter(actor_user_id=filters.actor_user_id)
    if filters.since is not None:
        qs = qs.filter(at__gte=_aware(filters.since))
    if filters.until is not None:
        qs = qs.filter(at__lt=_aware(filters.until))
    return qs


NEWEST_FIRST = ["-at"]  # paginate appends -pk


def page_entries(*, actor: Actor, filters: EntryFilters, cursor: str | None, limit: int) -> Page:
    """One page of :func:`search_entries`, newest first, by keyset cursor."""
    qs = search_entries(actor=actor, filters=filters)
    try:
        with transaction.atomic():  # a cursor the database chokes on must not poison the caller's transaction
            return paginate(qs, order=NEWEST_FIRST, cursor=cursor, limit=limit)
    except (ValueError, TypeError, OverflowError, DjangoValidationError, DatabaseError) as exc:
        raise ValidationFailed("bad cursor", fields={"cursor": ["not a cursor this API issued"]}) from exc


def export_snapshot(*, actor: Actor, filters: EntryFilters) -> tuple[QuerySet[AuditLogEntry], int]:
    """The entries an export will contain, pinned to those that exist now, and how many there are.

    The file is streamed after the request's transaction has ended; pinning to the current highest id keeps
    later entries (the export's own among them) out of it, so the recorded count is what the file holds
    (short of an entry with a lower id committing in the same instant).
    """
    qs = search_entries(actor=actor, filters=filters)
    upper = qs.aggregate(m=Max("id"))["m"]
    if upper is None:
        return qs.none(), 0
    qs = qs.filter(id__lte=upper)
    return qs, qs.count()


def get_entry(*, actor: Actor, entry_id: int) -> AuditLogEntry:
    """One entry of the actor's organisation; another organisation's entry is simply not found (404)."""
    return get_visible_or_404(AuditLogEntry.objects, actor, pk=entry_id)
