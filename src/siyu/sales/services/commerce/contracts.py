"""Contracts: drafted (from an approved quote or by hand), approved through the engine (object key
``sales.contract``), frozen on approval (``snapshot`` + SHA-256 ``snapshot_hash``; no path edits the row after).
An amendment is a new draft version; when it is approved the earlier version becomes superseded."""

from __future__ import annotations

from typing import Any

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import diff, record_write
from siyu.kernel.errors import Conflict, ValidationFailed
from siyu.platform.approvals import services as approvals

from ...models.commerce import Contract, DocStatus, Quote
from ...models.opportunities import Opportunity
from ..common import as_int, money, require, text
from .base import create_numbered, ensure_editable, owner_department, visible

FIELDS = ("title", "customer_name", "amount", "starts_on", "ends_on", "terms", "signed_on", "status")


def _state(c: Contract) -> dict[str, Any]:
    return {f: getattr(c, f) for f in FIELDS}


def _apply(actor: Actor, c: Contract, data: dict[str, Any], *, new: bool) -> None:
    if new or "title" in data:
        c.title = text(data.get("title"), "title", 200, required=True)
    if "customer_name" in data:
        c.customer_name = text(data.get("customer_name"), "customer_name", 200)
    if "terms" in data:
        c.terms = text(data.get("terms"), "terms", 20000)
    if "amount" in data:
        c.amount = money(data.get("amount"))
    for name in ("starts_on", "ends_on", "signed_on"):
        if name in data:
            setattr(c, name, data[name])
    if c.starts_on and c.ends_on and c.ends_on < c.starts_on:
        raise ValidationFailed("bad dates", fields={"ends_on": ["before starts_on"]})
    if data.get("opportunity_id") is not None:
        opp = visible(Opportunity, actor, data["opportunity_id"])
        c.opportunity, c.account_id, c.currency = opp, opp.account_id, opp.currency
    if data.get("quote_id") is not None:
        quote = visible(Quote, actor, data["quote_id"])
        if quote.status != DocStatus.APPROVED:
            raise ValidationFailed("quote not approved", fields={"quote_id": ["only an approved quote"]})
        c.quote, c.opportunity_id, c.account_id, c.currency = quote, quote.opportunity_id, quote.account_id, \
            quote.currency
        c.customer_name = c.customer_name or quote.customer_name
        if "amount" not in data:
            c.amount = quote.total


def create_contract(*, actor: Actor, data: dict[str, Any]) -> Contract:
    """A draft contract ``C-000001`` version 1 (amount from the approved quote when one is given)."""
    require(actor, "sales.contract.create")
    c = Contract(org_id=actor.org_id, **owner_department(actor))
    _apply(actor, c, data, new=True)
    fields = {f.attname: getattr(c, f.attname) for f in Contract._meta.concrete_fields
              if f.attname not in {"id", "org_id", "number", "created_at", "updated_at"}}
    c = create_numbered(Contract, actor, "C", **fields)
    record_write(actor, "create", "sales.contract", c.pk, diff({}, _state(c)), number=c.number)
    return c


def update_contract(*, actor: Actor, contract_id: int, data: dict[str, Any]) -> Contract:
    """Edit a draft or rejected contract; pending, approved and superseded ones answer 409 unchanged."""
    require(actor, "sales.contract.update")
    c = visible(Contract, actor, contract_id, for_update=True)
    ensure_editable(c)
    before = _state(c)
    _apply(actor, c, data, new=False)
    c.save()
    record_write(actor, "update", "sales.contract", c.pk, diff(before, _state(c)))
    return c


def amend_contract(*, actor: Actor, contract_id: int, data: dict[str, Any] | None = None) -> Contract:
    """An amendment: a new draft version of the latest approved contract, with ``data`` applied."""
    require(actor, "sales.contract.update")
    old = visible(Contract, actor, contract_id, for_update=True)
    if old.status != DocStatus.APPROVED:
        raise Conflict("only an approved contract is amended", code="contract_not_approved")
    if Contract.objects.in_org(actor).filter(number=old.number, version__gt=old.version).exists():
        raise Conflict("an amendment already exists", code="not_latest_version")
    fields = {f.attname: getattr(old, f.attname) for f in Contract._meta.concrete_fields
              if f.attname not in {"id", "created_at", "updated_at", "version", "status", "snapshot",
                                   "snapshot_hash"}}
    new = Contract(**fields, version=old.version + 1, status=DocStatus.DRAFT)
    _apply(actor, new, data or {}, new=False)
    new.save()
    record_write(actor, "create", "sales.contract", new.pk, diff({}, _state(new)), amends=old.pk,
                 number=new.number, version=new.version)
    return new


def submit_contract(*, actor: Actor, contract_id: int, comment: str = ""):
    require(actor, "sales.contract.update")
    return approvals.submit(actor=actor, object_key="sales.contract", object_id=as_int(contract_id),
                            comment=comment)


def contract_snapshot(c: Contract) -> dict[str, Any]:
    return {
        "id": c.pk, "number": c.number, "version": c.version, "title": c.title, "customer_name": c.customer_name,
        "quote_id": c.quote_id, "opportunity_id": c.opportunity_id, "account_id": c.account_id,
        "amount": str(c.amount), "currency": c.currency, "terms": c.terms, "owner_id": c.owner_id,
        "department_id": c.department_id,
        **{n: getattr(c, n).isoformat() if getattr(c, n) else None for n in ("starts_on", "ends_on", "signed_on")},
    }


def set_contract_state(actor: Actor, c: Contract, state: str) -> None:
    """The approval engine's callback; approval freezes the snapshot on the row as well."""
    status = {"recalled": DocStatus.DRAFT}.get(state, state)
    before = c.status
    c.status = status
    fields = ["status", "updated_at"]
    if status == DocStatus.APPROVED:
        c.snapshot = contract_snapshot(c)
        c.snapshot_hash = approvals.canonical_hash(c.snapshot)
        fields += ["snapshot", "snapshot_hash"]
        Contract.objects.in_org(actor).filter(number=c.number, version__lt=c.version,
                                              status=DocStatus.APPROVED).update(status=DocStatus.SUPERSEDED)
    c.save(update_fields=fields)
    record_write(actor, "update", "sales.contract", c.pk, {"status": [before, status]}, via="approval",
                 snapshot_hash=c.snapshot_hash)
