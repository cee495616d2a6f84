"""What sales plugs into the platform's approval engine: the people resolvers that need iam (submitter's
manager, department head, role), WeCom app messages through the channel port, and quotes and contracts as
approvable subjects. Called once from the composition root (``siyu.wiring``)."""

from __future__ import annotations

import hashlib
import logging

from django.db import transaction

from siyu.iam.models import Department, Membership
from siyu.kernel.actor import Actor
from siyu.platform.approvals import registry

from ...models.commerce import Contract, Quote
from . import contracts, quotes

log = logging.getLogger(__name__)


def _system(org_id: int) -> Actor:
    return Actor.system(org_id, label="approvals")


def _manager_of(org_id: int, dept_id: int | None, exclude: int | None) -> list[int]:
    """The manager of ``dept_id``, walking up while the manager is the person themself (or missing)."""
    seen = 0
    while dept_id is not None and seen < 50:
        dept = Department.objects.in_org(_system(org_id)).filter(pk=dept_id).first()
        if dept is None:
            return []
        if dept.manager_id and dept.manager_id != exclude:
            return [dept.manager_id]
        dept_id, seen = dept.parent_id, seen + 1
    return []


def submitter_manager(ctx: registry.ResolveContext) -> list[int]:
    m = Membership.objects.in_org(_system(ctx.org_id)).filter(user_id=ctx.submitter_id).first()
    return _manager_of(ctx.org_id, m.department_id if m else None, ctx.submitter_id)


def department_head(ctx: registry.ResolveContext) -> list[int]:
    """Head of the record's department (``department_id`` on the record), else of the submitter's."""
    dept = ctx.snapshot.get("department_id")
    if dept is None:
        m = Membership.objects.in_org(_system(ctx.org_id)).filter(user_id=ctx.submitter_id).first()
        dept = m.department_id if m else None
    return _manager_of(ctx.org_id, dept, None)


def role_members(ctx: registry.ResolveContext) -> list[int]:
    """Active members holding the role named (or with the id) ``value``."""
    qs = Membership.objects.in_org(_system(ctx.org_id)).filter(is_active=True)
    value = str(ctx.value or "")
    qs = qs.filter(roles__pk=int(value)) if value.isdigit() else qs.filter(roles__name=value)
    return sorted(set(qs.values_list("user_id", flat=True)))


def wecom_notifier(org_id: int, user_ids: list[int], text: str, request_id: int) -> None:
    """A WeCom app message per approver, after commit, only when a "wecom" adapter is registered. The
    recipient address is the Siyu user id (``ref``); the adapter maps it to the employee's WeCom userid."""
    from siyu.channels import ports

    if "wecom" not in ports.registry.channels() or not user_ids:
        return

    # A stable digest of the text: Python's str hash differs per process, so a notice retried by another worker
    # would not have matched the send-once ledger's key.
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]

    def send() -> None:
        try:
            adapter = ports.registry.adapter("wecom", org_id=org_id)
            for uid in user_ids:
                adapter.send_direct(idempotency_key=f"approval:{request_id}:{uid}:{digest}",
                                    recipient=ports.Recipient(address=f"user:{uid}", sender="app", ref=str(uid)),
                                    content=ports.MessageContent(text=text))
        except Exception:  # a channel outage must not undo or block the approval; the inbox has it
            log.exception("approval %s: WeCom notification failed", request_id)

    transaction.on_commit(send, robust=True)


def _loader(model, read_permission: str):
    def load(actor: Actor, object_id: str):
        if not actor.is_system and not actor.can(read_permission):
            return None
        return model.objects.visible_to(actor).filter(pk=int(object_id)).first() if object_id.isdigit() else None

    return load


def _system_loader(model):
    def load(org_id: int, object_id: str):
        return model.objects.in_org(_system(org_id)).filter(pk=int(object_id)).first() if object_id.isdigit() \
            else None

    return load


def register() -> None:
    from siyu.console import navigation
    from siyu.sales import commerce_permissions  # noqa: F401  (declares sales.quote.*, … at start-up)
    from siyu.sales.commerce_nav import NAV

    from . import forecasts  # noqa: F401  (registers the sales.forecast.snapshot scheduled action)

    navigation.register(*NAV)

    registry.register_resolver("manager", submitter_manager)
    registry.register_resolver("department_head", department_head)
    registry.register_resolver("role", role_members)
    registry.register_notifier("wecom", wecom_notifier)
    from ..gate_approvals import register as register_gate_approvals

    register_gate_approvals()
    registry.register_subject(registry.Subject(
        object_key="sales.quote", load=_loader(Quote, "sales.quote.read"), snapshot=quotes.quote_snapshot,
        title=lambda q: f"报价 {q.number} v{q.version} {q.title}", on_state=quotes.set_quote_state,
        load_for_system=_system_loader(Quote), submit_permission="sales.quote.update"))
    registry.register_subject(registry.Subject(
        object_key="sales.contract", load=_loader(Contract, "sales.contract.read"),
        snapshot=contracts.contract_snapshot, title=lambda c: f"合同 {c.number} v{c.version} {c.title}",
        on_state=contracts.set_contract_state, load_for_system=_system_loader(Contract),
        submit_permission="sales.contract.update"))
