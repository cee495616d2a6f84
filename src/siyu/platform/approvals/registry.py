"""What the engine needs from the outside, registered at start-up (platform imports only kernel):

* subjects: per object key, how to load a record the actor may see, snapshot it, title it and tell it its new
  approval state (the owner of the record locks it while pending and after approval);
* approver resolvers: per kind (``manager``, ``department_head``, ``role``, ``user``, ``field``, …), the user ids
  that approve a step;
* notifiers: extra ways to tell approvers (WeCom app messages are registered by the composition of contexts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from siyu.kernel.actor import Actor


@dataclass(frozen=True)
class Subject:
    object_key: str
    load: Callable[[Actor, str], Any]  # the record if ``actor`` may see it, else None
    snapshot: Callable[[Any], dict[str, Any]]
    title: Callable[[Any], str]
    on_state: Callable[[Actor, Any, str], None]  # "pending", "approved", "rejected", "recalled"
    load_for_system: Callable[[int, str], Any] | None = None  # for approvers outside the record's data scope
    submit_permission: str = ""  # the owner's own operation that also allows submitting and recalling


@dataclass(frozen=True)
class ResolveContext:
    org_id: int
    submitter_id: int | None
    value: Any
    snapshot: dict[str, Any]


Resolver = Callable[[ResolveContext], list[int]]
Notifier = Callable[[int, list[int], str, int], None]  # (org_id, user ids, text, request id)

_subjects: dict[str, Subject] = {}
_resolvers: dict[str, Resolver] = {}
_notifiers: dict[str, Notifier] = {}


def register_subject(subject: Subject) -> None:
    _subjects[subject.object_key] = subject


def subject(object_key: str) -> Subject | None:
    return _subjects.get(object_key)


def register_resolver(kind: str, fn: Resolver) -> None:
    _resolvers[kind] = fn


def resolver(kind: str) -> Resolver | None:
    return _resolvers.get(kind)


def resolver_kinds() -> list[str]:
    return sorted(_resolvers)


def register_notifier(name: str, fn: Notifier) -> None:
    _notifiers[name] = fn


def notifiers() -> list[Notifier]:
    return list(_notifiers.values())


def _named_user(ctx: ResolveContext) -> list[int]:
    values = ctx.value if isinstance(ctx.value, list) else [ctx.value]
    return [int(v) for v in values if str(v).isdigit()]


def _field(ctx: ResolveContext) -> list[int]:
    value = ctx.snapshot.get(str(ctx.value))
    return [int(value)] if value is not None and str(value).isdigit() else []


# The two kinds that need nothing but the record itself live here; the rest are registered by iam's users.
register_resolver("user", _named_user)
register_resolver("field", _field)
