"""Audit writes other code calls: exports and denied access. Writes and logins go through
``kernel.auditing.record_write`` / ``record`` directly; everything lands in :mod:`siyu.audit.sink`."""

from __future__ import annotations

from typing import Any

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import AuditEntry, record, record_write


def record_export(actor: Actor, object_type: str, count: int, fmt: str, *, ip: str | None = None, **meta: Any) -> None:
    """Record that ``actor`` exported ``count`` rows of ``object_type`` (e.g. ``"cdp.profile"``) as ``fmt``
    (``"csv"``, ``"xlsx"``, …). Call it in the export's transaction, before the first byte is sent."""
    record_write(actor, "export", object_type, "", ip=ip, count=count, format=fmt, **meta)


def record_denied(
    actor: Actor | None, *, status: int, code: str, method: str, path: str, ip: str | None = None,
) -> None:
    """Record a refused request (403, or 404 for a record out of the actor's organisation or scope).

    Without an actor (not signed in) the entry goes to the pre-organisation chain.
    """
    record(AuditEntry(
        org_id=actor.org_id if actor else None, action="denied",
        actor_user_id=actor.user_id if actor else None, actor_api_key_id=actor.api_key_id if actor else None,
        actor_label=actor.label if actor else "", ip=ip,
        meta={"status": status, "code": code, "method": method, "path": path[:300]},
    ))
