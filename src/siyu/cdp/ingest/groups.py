"""``/v1/group``: link the person to a B2B company account found (or created) by its ``groupId``.

The account is a ``kind=company`` profile holding a ``group_id`` identity (one per account, unique per
organisation: the blind index and the resolution lock make two batches creating the same account meet on one
row). The group call's traits update the account: ``name`` the column, everything else merged into
``Profile.traits`` (later calls win, as identify's traits do for a person). The person's ``account_id`` is set
to that account (a person has one account: a later group call with another ``groupId`` moves them).

Called once per processed batch, after its profiles are written and merges followed, with the batch's group
calls in order; returns what changed so the batch can tell segments and the name search.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import diff, record_write

from ..models import Profile, ProfileKind, ProfileStatus
from ..resolution import resolve_profile
from .traits import identifier, without_identifiers

NAME_MAX = 200
SOURCE = "events"


@dataclass
class GroupCall:
    profile_id: int
    group_id: str
    traits: dict
    at: dt.datetime


@dataclass
class Linked:
    changed: set[int] = field(default_factory=set)  # accounts and people whose rows changed
    renamed: list[Profile] = field(default_factory=list)  # accounts whose name changed (search rows)


def _name(traits: dict) -> str:
    value = traits.get("name")
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip()[:NAME_MAX]
    return ""


def link_accounts(actor: Actor, calls: list[GroupCall], live) -> Linked:
    """``live(pid)`` follows a profile merged earlier in the batch to its survivor."""
    out = Linked()
    by_group: dict[str, list[GroupCall]] = {}
    for call in calls:
        by_group.setdefault(call.group_id, []).append(call)
    for group_id, group_calls in sorted(by_group.items()):  # one lock order for every batch: no deadlock
        ident = identifier("group_id", group_id)
        if ident is None:
            continue
        traits: dict = {}
        for call in group_calls:
            traits.update(without_identifiers(call.traits) or {})
        name = _name(traits)
        extra = {k: v for k, v in traits.items() if k != "name"}
        res = resolve_profile(actor=actor, identifiers=[ident], source=SOURCE,
                              defaults={"kind": ProfileKind.COMPANY, "name": name, "traits": extra})
        if res.review is not None:
            continue  # a blocklisted or conflicting groupId: the review queue decides, nobody is linked
        account = res.profile
        if account.kind != ProfileKind.COMPANY or account.status != ProfileStatus.ACTIVE:
            continue  # the id was put on a person by hand: do not make a person an account
        if res.created:
            out.changed.add(account.pk)
            if name:
                out.renamed.append(account)
        else:
            _update_account(actor, account, name, extra, out)
        people = sorted({live(c.profile_id) for c in group_calls} - {account.pk})
        moved = (Profile.objects.in_org(actor).filter(pk__in=people, kind=ProfileKind.PERSON)
                 .exclude(account_id=account.pk))
        before = dict(moved.values_list("pk", "account_id"))  # the batch holds these rows' locks (PostgreSQL)
        if before:
            Profile.objects.in_org(actor).filter(pk__in=before).update(account_id=account.pk)  # one statement
        for pid, was in before.items():
            record_write(actor, "update", "cdp.profile", pid, {"account_id": [was, account.pk]}, via="group")
            out.changed.add(pid)
    return out


def _update_account(actor: Actor, account: Profile, name: str, extra: dict, out: Linked) -> None:
    before = {"name": account.name, **{f"traits.{k}": (account.traits or {}).get(k) for k in extra}}
    if name:
        account.name = name
    account.traits = {**(account.traits or {}), **extra}
    after = {"name": account.name, **{f"traits.{k}": v for k, v in extra.items()}}
    changes = diff(before, after)
    if not changes:
        return
    account.save(update_fields=["name", "traits", "updated_at"])
    record_write(actor, "update", "cdp.profile", account.pk, changes, via="group")
    out.changed.add(account.pk)
    if before["name"] != account.name:
        out.renamed.append(account)
