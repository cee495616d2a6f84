"""Domain events of the WeCom channel."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.kernel.events import DomainEvent


@dataclass(frozen=True)
class CallbackReceived(DomainEvent):
    """A callback was stored (``CallbackLog``) and waits to be processed."""

    topic = "wecom.CallbackReceived"
    callback_log_id: int


@dataclass(frozen=True)
class ContactAdded(DomainEvent):
    """An external contact added an employee (by callback or found by a sync) and the CDP knows it."""

    topic = "wecom.ContactAdded"
    corp_id: str
    external_userid: str
    userid: str
    profile_id: int | None
    state: str = ""
    live_code_id: int | None = None


@dataclass(frozen=True)
class ContactDeleted(DomainEvent):
    """A follow relation ended: ``deleted_by`` is customer, employee, transfer or reconcile."""

    topic = "wecom.ContactDeleted"
    corp_id: str
    external_userid: str
    userid: str
    deleted_by: str
    profile_id: int | None = None
