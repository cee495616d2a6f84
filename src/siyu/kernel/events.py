"""Domain events: past-tense facts a context publishes, and the registry of who reacts to them.

A context declares its events in its ``events.py``::

    @dataclass(frozen=True)
    class LeadAssigned(DomainEvent):
        lead_id: int
        owner_id: int

and its services emit them inside the transaction of the change (``ATOMIC_REQUESTS`` or the job's atomic)::

    events.emit(LeadAssigned(org_id=actor.org_id, lead_id=lead.pk, owner_id=owner.pk))

:func:`emit` writes an ``OutboxMessage`` row, so the event commits or rolls back with the change and is never
lost; after the commit a dispatch is nudged onto the job queue (the periodic claimer catches anything the nudge
misses). Reactions are registered in one visible place per context, its ``handlers.py``::

    events.subscribe(LeadAssigned, notify_owner, name="sales.notify_owner")

The dispatcher (:mod:`kernel.outbox`) runs every handler in its own transaction, keyed through
:mod:`kernel.effects` by ``(handler name, message id)``, so a handler's database effects happen once even when the
message is delivered again. Handler names are therefore stable identifiers: renaming one re-runs it for
messages not yet processed.

Payloads are ``dataclasses.asdict(event)`` and must be plain JSON (str, int, float, bool, None, lists, dicts):
carry datetimes as ISO strings and money as integer minor units or strings, so the event the handler gets is
equal to the one emitted.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import autodiscover_modules

from . import clock
from .coalesce import Coalescer
from .effects import require_transaction
from .models import OutboxMessage

logger = logging.getLogger(__name__)


def _new_event_id() -> str:
    return uuid.uuid4().hex


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every domain event. Subclasses are frozen dataclasses named in the past tense.

    ``event_id`` is stable across redeliveries: handlers use it to key effects outside the database (an
    idempotency key sent to a remote API). ``topic`` may be set on a subclass to pin its wire name; by default
    it is ``"<context>.<ClassName>"`` for ``siyu.<context>.…`` modules."""

    topic: ClassVar[str] = ""

    org_id: int | None
    event_id: str = dataclasses.field(default_factory=_new_event_id)


Handler = Callable[[Any], None]


@dataclasses.dataclass(frozen=True)
class Subscription:
    event_type: type[DomainEvent]
    handler: Handler
    name: str


_types: dict[str, type[DomainEvent]] = {}
_subscriptions: dict[str, list[Subscription]] = {}


def topic_of(event_type: type[DomainEvent]) -> str:
    if event_type.__dict__.get("topic"):
        return event_type.topic
    parts = event_type.__module__.split(".")
    context = parts[1] if parts[0] == "siyu" and len(parts) > 1 else event_type.__module__
    return f"{context}.{event_type.__name__}"


def _register_type(event_type: type[DomainEvent]) -> str:
    # "__dataclass_params__" in the class's own dict: a subclass that forgot @dataclass would silently drop
    # its fields from the payload. (Python itself refuses a non-frozen dataclass under a frozen base.)
    if not (isinstance(event_type, type) and issubclass(event_type, DomainEvent)
            and "__dataclass_params__" in event_type.__dict__):
        raise TypeError(f"{event_type!r} is not a frozen dataclass subclassing DomainEvent")
    topic = topic_of(event_type)
    known = _types.get(topic)
    if known is not None and known.__qualname__ != event_type.__qualname__:
        raise ValueError(f"event topic {topic!r} is taken by {known!r}")
    _types[topic] = event_type
    return topic


def subscribe(event_type: type[DomainEvent], handler: Handler, *, name: str) -> None:
    """Run ``handler(event)`` for every ``event_type`` emitted. ``name`` ("audit.record") is stable and unique
    per event type: it keys the handler's exactly-once record."""
    topic = _register_type(event_type)
    subs = _subscriptions.setdefault(topic, [])
    if any(s.name == name for s in subs):
        if any(s.name == name and s.handler is handler for s in subs):
            return  # the handlers module imported twice: nothing to do
        raise ValueError(f"a handler named {name!r} is already subscribed to {topic}")
    subs.append(Subscription(event_type, handler, name))


def subscriptions(topic: str) -> list[Subscription]:
    return list(_subscriptions.get(topic, ()))


def payload_of(event: DomainEvent) -> dict[str, Any]:
    payload = dataclasses.asdict(event)
    try:
        # Round-trip through JSON: what the handler receives must equal what was emitted.
        if json.loads(json.dumps(payload)) != payload:
            raise TypeError("tuples or non-string keys do not survive JSON")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{type(event).__name__} payload is not plain JSON: {exc}") from exc
    return payload


def emit(event: DomainEvent) -> OutboxMessage:
    """Write ``event`` to the outbox in the current transaction (raises outside one)."""
    require_transaction("events.emit()")
    topic = _register_type(type(event))
    message = OutboxMessage.objects.create(
        org_id=event.org_id, topic=topic, payload=payload_of(event), available_at=clock.now()
    )
    nudge_on_commit("kernel.outbox.dispatch")
    return message


def rebuild(topic: str, payload: dict[str, Any]) -> DomainEvent:
    event_type = _types.get(topic)
    if event_type is None:
        raise LookupError(f"no event type registered for topic {topic!r}")
    return event_type(**payload)


# At most one enqueue per claimer per NUDGE_INTERVAL in this process (kernel/coalesce.py): one claimer run drains
# every pending row, so the other enqueues of a busy second only made the worker run empty claims.
NUDGE_INTERVAL = 0.1
_nudges = Coalescer(NUDGE_INTERVAL)


def nudge_on_commit(task_name: str) -> None:
    """After the current transaction commits, enqueue the claimer task ``task_name`` once (not once per row),
    so work is picked up at once instead of at the next poll. Losing the nudge loses nothing: the rows are
    committed and the periodic claimer finds them."""
    connection = transaction.get_connection()
    flag = f"_siyu_nudge_{task_name}"
    pending = getattr(connection, "run_on_commit", [])
    if any(getattr(entry[1], "__name__", "") == flag for entry in pending):
        return

    def nudge() -> None:
        from huey.contrib.djhuey import HUEY

        from . import tasks  # the task module imports the dispatchers, which import this module

        task = tasks.BY_NAME[task_name]
        if HUEY.immediate:
            task()  # tests run the task inline, in the order of the commits
        else:
            _nudges.call(task_name, task)

    nudge.__name__ = flag
    transaction.on_commit(nudge, robust=True)


_discovered = False


def discover() -> None:
    """Import every installed app's ``handlers`` module and ``settings.SIYU_EXTRA_TASK_MODULES``, so the
    process that dispatches knows every subscription and scheduled action."""
    global _discovered
    if _discovered:
        return
    autodiscover_modules("handlers")
    for name in getattr(settings, "SIYU_EXTRA_TASK_MODULES", ()):
        importlib.import_module(name)
    _discovered = True
