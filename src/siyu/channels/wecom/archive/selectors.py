"""Reads of the conversation archive. Reading a conversation shows personal content: it needs
``channels.archive.read``, the customer within the reader's data scope, and it is audited."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from siyu.cdp import selectors as cdp_selectors
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import PermissionDenied

from .ingest import content_of
from .models import ArchiveAlert, ArchiveConfig, ArchivedMessage, SensitiveWordRule

READ = "channels.archive.read"


def _require(actor: Actor) -> None:
    if not actor.can(READ):
        raise PermissionDenied(f"this needs the {READ} permission")


def configs(actor: Actor) -> QuerySet:
    _require(actor)
    return ArchiveConfig.objects.in_org(actor).select_related("corp").order_by("pk")


def words(actor: Actor) -> QuerySet:
    _require(actor)
    return SensitiveWordRule.objects.in_org(actor).order_by("word")


def alerts(actor: Actor, *, limit: int = 100) -> list[ArchiveAlert]:
    _require(actor)
    return list(ArchiveAlert.objects.in_org(actor).select_related("employee", "profile", "rule")
                .order_by("-id")[:limit])


def conversation(actor: Actor, profile_id: Any, *, ip: str | None = None, limit: int = 500) -> dict[str, Any]:
    """The customer's archived messages, oldest first, decrypted; one audit entry per reading."""
    _require(actor)
    profile = cdp_selectors.profile_detail(actor, profile_id)  # NotFound outside the reader's scope
    rows = list(ArchivedMessage.objects.in_org(actor).filter(profile=profile).select_related("employee")
                .order_by("-msgtime", "-pk")[:limit])
    rows.reverse()
    record_write(actor, "read", "channels.archive_conversation", profile.pk, {}, ip=ip, messages=len(rows))
    return {"profile": profile, "chat": [
        {"id": m.pk, "at": m.msgtime, "direction": m.direction, "msgtype": m.msgtype,
         "employee": (m.employee.name or m.employee.userid) if m.employee else "", "content": content_of(m)}
        for m in rows]}
