"""Customer transfers: on-job (在职继承, ``transfer_customer``) and resigned inheritance (离职继承,
``resigned/transfer_customer``), their results (``transfer_result``) and the follow relation moving with them.

WeCom's rules (protocol document §2.2): at most 100 customers per call; WeCom hands a customer over by itself 24 h
after the start unless the customer refuses (on-job only); a customer can be transferred at most twice in 90 days;
the resigned form needs a handover member who has left (40097 otherwise). Siyu checks what it can know before the
call and refuses the whole request with a reason per customer (nothing is sent, nothing written); WeCom's own
per-customer refusals are kept as failed transfers with the reason. Results are polled (``poll_results``, every
15 minutes and from the console); when WeCom reports a takeover the handover's relation ends (deleted by
``transfer``) and the takeover's relation is recorded and announced, exactly once whatever the callbacks did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_noop as _

from siyu.cdp.timeline import add_entry
from siyu.kernel import clock
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import ValidationFailed

from . import contacts, timeline_kinds
from . import validation as v
from .callbacks import event_time
from .contacts import at_from, system_actor
from .corps import client_for, corp_of, require
from .models import Corp, DeletedBy, Employee, ExternalContact, FollowRelation, Transfer
from .selectors import visible_contact_ids

OBJECT = "wecom.transfer"
TAKEOVER_DELAY = dt.timedelta(hours=24)
WINDOW = dt.timedelta(days=90)
PER_WINDOW = 2
RESIGNED_STATUS = 5  # WeCom member status: left the corp

# transfer_result ``status`` → ours
RESULT_STATUS = {1: Transfer.Status.DONE, 2: Transfer.Status.WAITING, 3: Transfer.Status.REFUSED,
                 4: Transfer.Status.LIMIT, 5: Transfer.Status.NONE}
# WeCom's per-customer codes of transfer_customer, and what they mean for a person (stored and answered in English
# like every field error of this package; the console translates them when it shows them)
ITEM_REASONS = {
    40128: _("transferred too often: a customer can be transferred at most twice in 90 days"),
    40129: _("a transfer of this customer is already waiting"),
    40131: _("the handover employee does not follow this customer"),
    40096: _("unknown customer"),
}
FAIL_REASONS = {"customer_refused": Transfer.Status.REFUSED, "customer_limit_exceed": Transfer.Status.LIMIT}


def _employee(actor: Actor, corp: Corp, userid: Any, field: str, errors: dict) -> Employee | None:
    userid = str(userid or "").strip()
    if not userid:
        errors.setdefault(field, []).append("required")
        return None
    employee = Employee.objects.in_org(actor).filter(corp=corp, userid=userid).first()
    if employee is None:
        errors.setdefault(field, []).append(f"no employee {userid} in this corp")
    return employee


def _has_left(employee: Employee) -> bool:
    return employee.status == RESIGNED_STATUS or employee.left_at is not None


def _clean(actor: Actor, corp: Corp, data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    kind = str(data.get("kind") or Transfer.Kind.ON_JOB)
    if kind not in Transfer.Kind.values:
        errors.setdefault("kind", []).append(f"one of {', '.join(Transfer.Kind.values)}")
    handover = _employee(actor, corp, data.get("handover"), "handover", errors)
    takeover = _employee(actor, corp, data.get("takeover"), "takeover", errors)
    if handover and takeover and handover.pk == takeover.pk:
        errors.setdefault("takeover", []).append("must differ from the handover employee")
    if takeover and _has_left(takeover):
        errors.setdefault("takeover", []).append("this employee has left the corp")
    if handover and kind == Transfer.Kind.RESIGNED and not _has_left(handover):
        errors.setdefault("handover", []).append("resigned inheritance needs an employee who has left the corp")
    if handover and kind == Transfer.Kind.ON_JOB and _has_left(handover):
        errors.setdefault("handover", []).append("this employee has left: use resigned inheritance")
    message = str(data.get("message") or "").strip()
    if len(message) > v.TRANSFER_MSG_MAX_CHARS:
        errors.setdefault("message", []).append(f"at most {v.TRANSFER_MSG_MAX_CHARS} characters")
    if message and kind == Transfer.Kind.RESIGNED:
        errors.setdefault("message", []).append("only on-job transfers send a message")
    raw = data.get("external_userids")
    ids = list(dict.fromkeys(str(x).strip() for x in raw if str(x).strip())) if isinstance(raw, list) else []
    if not 1 <= len(ids) <= v.TRANSFER_CUSTOMERS_MAX:
        errors.setdefault("external_userids", []).append(f"between 1 and {v.TRANSFER_CUSTOMERS_MAX} customers")
    # A customer outside the person's scope is as unknown as one that does not exist (nothing tells them apart).
    found = {c.external_userid: c for c in ExternalContact.objects.visible_to(actor).filter(corp=corp,
                                                                                            external_userid__in=ids)}
    refusals = _refusals(actor, list(found.values()), handover, clock.now())
    for n, external in enumerate(ids):
        contact = found.get(external)
        reason = refusals.get(contact.pk, "") if contact is not None else _("unknown customer")
        if reason:
            errors.setdefault(f"external_userids.{n}", []).append(f"{external}: {reason}")
    if errors:
        raise ValidationFailed("the transfer cannot start", fields=errors)
    return {"kind": kind, "handover": handover, "takeover": takeover, "message": message,
            "contacts": [found[x] for x in ids]}


def _refusals(actor: Actor, contacts: list[ExternalContact], handover: Employee | None,
              now: dt.datetime) -> dict[int, str]:
    """Why WeCom would refuse to transfer each customer, as far as Siyu knows, by contact pk (absent when it may
    go): one query for the follows and one for the transfers, not a few per customer."""
    pks = [c.pk for c in contacts]
    followed: set[int] = set()
    if handover is not None:
        followed = set(FollowRelation.objects.in_org(actor).filter(
            external_contact_id__in=pks, employee=handover, deleted=False).values_list("external_contact_id", flat=True))
    waiting: set[int] = set()
    counted: dict[int, list[dt.datetime]] = {}  # waiting or done inside the window, per customer
    for pk, status, started in Transfer.objects.in_org(actor).filter(external_contact_id__in=pks).filter(
            Q(status=Transfer.Status.WAITING) | Q(status=Transfer.Status.DONE, started_at__gt=now - WINDOW)
    ).values_list("external_contact_id", "status", "started_at"):
        if status == Transfer.Status.WAITING:
            waiting.add(pk)
        if started > now - WINDOW:
            counted.setdefault(pk, []).append(started)
    reasons: dict[int, str] = {}
    for pk in pks:
        if handover is not None and pk not in followed:
            reasons[pk] = ITEM_REASONS[40131]
        elif pk in waiting:
            reasons[pk] = ITEM_REASONS[40129]
        elif len(counted.get(pk, ())) >= PER_WINDOW:
            again = min(counted[pk]) + WINDOW
            reasons[pk] = (f"already transferred twice in the last {WINDOW.days} days; possible again after "
                           f"{again.date().isoformat()}")
    return reasons


def start_transfer(*, actor: Actor, corp_pk: Any, data: Mapping[str, Any]) -> list[Transfer]:
    """Start a transfer of up to 100 customers; one ``Transfer`` per customer, waiting or failed with WeCom's
    reason."""
    require(actor, "channels.wecom.manage")
    corp = corp_of(actor, corp_pk)
    values = _clean(actor, corp, data)
    kind, handover, takeover = values["kind"], values["handover"], values["takeover"]
    answer = client_for(corp).transfer_customer(
        handover_userid=handover.userid, takeover_userid=takeover.userid,
        external_userid=[c.external_userid for c in values["contacts"]],
        transfer_success_msg=values["message"] or None, resigned=kind == Transfer.Kind.RESIGNED)
    codes = {str(i.get("external_userid")): int(i.get("errcode") or 0) for i in answer.get("customer") or ()}
    now = clock.now()
    made = []
    for contact in values["contacts"]:
        code = codes.get(contact.external_userid, 0)
        transfer = Transfer.objects.create(
            org_id=actor.org_id, corp=corp, kind=kind, handover=handover, takeover=takeover, external_contact=contact,
            status=Transfer.Status.FAILED if code else Transfer.Status.WAITING, errcode=code,
            reason=str(ITEM_REASONS.get(code, f"WeCom error {code}" if code else ""))[:200],
            message=values["message"], started_at=now, requested_by_id=actor.user_id)
        record_write(actor, "create", OBJECT, transfer.pk, {
            "kind": [None, kind], "handover": [None, handover.userid], "takeover": [None, takeover.userid],
            "external_userid": [None, contact.external_userid], "status": [None, transfer.status]})
        made.append(transfer)
    return made


# --- results -------------------------------------------------------------------------------------------------------


def poll_results(corp: Corp, *, actor: Actor | None = None) -> int:
    """Ask WeCom about every waiting transfer of the corp; returns how many settled."""
    if actor is not None:
        require(actor, "channels.wecom.manage")
    system = system_actor(corp)
    waiting = Transfer.objects.in_org(system).filter(corp=corp, status=Transfer.Status.WAITING).select_related(
        "handover", "takeover", "external_contact")
    pairs: dict[tuple[str, int, int], list[Transfer]] = {}
    for transfer in waiting:
        pairs.setdefault((transfer.kind, transfer.handover_id, transfer.takeover_id), []).append(transfer)
    client = client_for(corp)
    settled = 0
    for (kind, _h, _t), items in pairs.items():
        results: dict[str, Mapping[str, Any]] = {}
        cursor = ""
        while True:
            page = client.transfer_result(handover_userid=items[0].handover.userid,
                                          takeover_userid=items[0].takeover.userid, cursor=cursor,
                                          resigned=kind == Transfer.Kind.RESIGNED)
            for item in page.get("customer") or ():
                results[str(item.get("external_userid"))] = item
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        for transfer in items:
            item = results.get(transfer.external_contact.external_userid)
            transfer.checked_at = clock.now()
            status = RESULT_STATUS.get(int(item.get("status") or 0)) if item else None
            if status is None or status == Transfer.Status.WAITING:
                transfer.save(update_fields=["checked_at", "updated_at"])
                continue
            settle(corp, transfer, status, at=at_from(item.get("takeover_time")))
            settled += 1
    return settled


def settle(corp: Corp, transfer: Transfer, status: str, *, at: dt.datetime | None = None) -> None:
    """Record WeCom's outcome; a takeover moves the follow relation to the takeover employee."""
    before = transfer.status
    transfer.status = status
    transfer.checked_at = clock.now()
    if status == Transfer.Status.DONE:
        transfer.takeover_at = at or clock.now()
        _move(corp, transfer)
    transfer.save()
    record_write(system_actor(corp), "update", OBJECT, transfer.pk, {"status": [before, status]})


def _move(corp: Corp, transfer: Transfer) -> None:
    from .processing import fetch_detail  # processing dispatches events to this module

    contact, at = transfer.external_contact, transfer.takeover_at
    contacts.apply_delete(corp, contact, transfer.handover, at=at, deleted_by=DeletedBy.TRANSFER)
    data, info = fetch_detail(corp, contact.external_userid, transfer.takeover.userid)
    if data:
        contacts.upsert_contact(corp, data)
    relation, live = contacts.apply_add(corp, contact, transfer.takeover, info or {"createtime": 0}, at=at)
    if live:
        contacts.announce(corp, relation)
    profile = contacts.current_profile(contact)
    if profile is not None:
        add_entry(profile=profile, kind=timeline_kinds.TRANSFERRED, at=at, ref_type="wecom.transfer",
                  ref_id=str(transfer.pk), data={"corp": corp.corp_id, "kind": transfer.kind,
                                                 "from": transfer.handover.name or transfer.handover.userid,
                                                 "to": transfer.takeover.name or transfer.takeover.userid})


def on_transfer_fail(corp: Corp, message: Mapping[str, Any]) -> None:
    """``transfer_fail`` (UserID = the takeover employee): the waiting transfer is refused or over the limit."""
    status = FAIL_REASONS.get(str(message.get("FailReason") or ""))
    if status is None:
        return
    transfer = (Transfer.objects.in_org(system_actor(corp))
                .filter(corp=corp, status=Transfer.Status.WAITING,
                        external_contact__external_userid=message.get("ExternalUserID", ""),
                        takeover__userid=message.get("UserID", ""))
                .order_by("-started_at").first())
    if transfer is not None:
        settle(corp, transfer, status, at=event_time(dict(message)))


def transfers_for(actor: Actor, corp: Corp | None = None):
    """The transfers of the customers the actor may see (each row names its customer)."""
    qs = (Transfer.objects.in_org(actor).filter(external_contact__in=visible_contact_ids(actor))
          .select_related("handover", "takeover", "external_contact", "corp"))
    return (qs.filter(corp=corp) if corp is not None else qs).order_by("-started_at", "-pk")


def expected_takeover(transfer: Transfer) -> dt.datetime:
    return transfer.started_at + TAKEOVER_DELAY
