"""The audit port: kernel and every context record writes and security events here; the audit context
registers the sink that appends them to the hash-chained log (dependency inversion: kernel imports no context).

Services call :func:`record` inside the transaction of the write, so the entry commits or rolls back with it.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .actor import Actor
from .crypto import mask


@dataclass(frozen=True)
class AuditEntry:
    org_id: int | None
    action: str  # create, update, delete, login, login_failed, logout, denied, export, unmask, …
    object_type: str = ""  # object key, e.g. "iam.user"
    object_id: str = ""
    actor_user_id: int | None = None
    actor_api_key_id: int | None = None
    actor_label: str = ""
    changes: dict[str, list[Any]] = field(default_factory=dict)  # field -> [before, after], personal data masked
    ip: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


_sink: Callable[[AuditEntry], None] | None = None


def register_sink(sink: Callable[[AuditEntry], None]) -> None:
    global _sink
    _sink = sink


def record(entry: AuditEntry) -> None:
    if _sink is None:
        raise RuntimeError("no audit sink registered: is siyu.audit installed?")
    _sink(entry)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "pk"):
        return value.pk
    return value


def diff(before: dict[str, Any], after: dict[str, Any], *, personal: dict[str, str] | None = None) -> dict[str, list[Any]]:
    """Changed fields as ``{field: [before, after]}``; fields named in ``personal`` (field -> mask kind) are masked."""
    personal = personal or {}
    out: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        b, a = _plain(before.get(name)), _plain(after.get(name))
        if b == a:
            continue
        if name in personal:
            b = mask(str(b), personal[name]) if b not in (None, "") else b
            a = mask(str(a), personal[name]) if a not in (None, "") else a
        out[name] = [b, a]
    return out


def snapshot(instance: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {f: _plain(getattr(instance, f"{f}_id" if hasattr(instance, f"{f}_id") else f, None)) for f in fields}


def record_write(
    actor: Actor, action: str, object_type: str, object_id: Any, changes: dict[str, list[Any]] | None = None,
    *, ip: str | None = None, **meta: Any,
) -> None:
    record(
        AuditEntry(
            org_id=actor.org_id, action=action, object_type=object_type, object_id=str(object_id),
            actor_user_id=actor.user_id, actor_api_key_id=actor.api_key_id, actor_label=actor.label,
            changes=changes or {}, ip=ip, meta=meta,
        )
    )
