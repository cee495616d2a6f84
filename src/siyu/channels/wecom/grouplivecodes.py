"""Group live codes (群活码): a WeCom join way (``groupchat/add_join_way``, QR scene, WeCom doc path/92229; the
protocol document does not cover join ways) over up to 5 customer groups, with a unique ``state`` that WeCom puts
on every member who joins through it.

Routing: WeCom sends a scanner to a group on the join way's list; Siyu keeps only groups with room on that list
(present members below the code's ``capacity``, 200 by default: WeCom's QR join limit), in the chosen order. When
every group is full the list keeps the last group, and with ``auto_create_room`` WeCom opens a new group named
``room_base_name`` + ``room_base_id`` and adds it to the join way; Siyu reads the join way back
(``get_join_way``) after each change and adopts such groups (up to 5). WeCom is called first and the row written
after, so a refusal leaves nothing behind.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import ValidationFailed

from . import validation as v
from .contacts import system_actor
from .corps import client_for, corp_of, require
from .livecodes import _text, code_row, retire
from .models import Corp, GroupChat, GroupLiveCode

OBJECT = "wecom.group_live_code"
AUDITED = ("name", "state", "chat_ids", "capacity", "auto_create_room", "room_base_name", "room_base_id",
           "is_active")
CAPACITY_MAX = 500  # a customer group's size limit


def _clean(actor: Actor, corp: Corp, data: Mapping[str, Any], *, creating: bool,
           code: GroupLiveCode | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if creating or "name" in data:
        out["name"] = _text(data, "name", 80, errors, required=True)
    if creating or "state" in data:
        out["state"] = _text(data, "state", v.STATE_MAX_CHARS, errors) or "gc" + secrets.token_hex(8)
        if any(c.isspace() for c in out["state"]):
            errors.setdefault("state", []).append("no spaces")
        taken = GroupLiveCode.objects.in_org(actor).filter(corp=corp, state=out["state"])
        if code is not None:
            taken = taken.exclude(pk=code.pk)
        if taken.exists():
            errors.setdefault("state", []).append("already used by another group live code of this corp")
    if creating or "chat_ids" in data:
        raw = data.get("chat_ids")
        chats = [str(c) for c in raw] if isinstance(raw, list) else []
        chats = list(dict.fromkeys(c for c in chats if c))
        if not 1 <= len(chats) <= v.JOIN_WAY_CHATS_MAX:
            errors.setdefault("chat_ids", []).append(f"between 1 and {v.JOIN_WAY_CHATS_MAX} groups")
        known = set(GroupChat.objects.in_org(actor).filter(corp=corp, chat_id__in=chats, dismissed_at__isnull=True)
                    .values_list("chat_id", flat=True))
        unknown = [c for c in chats if c not in known]
        if unknown:
            errors.setdefault("chat_ids", []).extend(f"no live group {c} in this corp (sync the groups first)"
                                                     for c in unknown)
        out["chat_ids"] = chats
    if "capacity" in data or creating:
        try:
            out["capacity"] = int(data.get("capacity") or 200)
            if not 1 <= out["capacity"] <= CAPACITY_MAX:
                raise ValueError
        except (TypeError, ValueError):
            errors.setdefault("capacity", []).append(f"a number from 1 to {CAPACITY_MAX}")
    if "auto_create_room" in data or creating:
        out["auto_create_room"] = bool(data.get("auto_create_room"))
    if "room_base_name" in data or creating:
        out["room_base_name"] = _text(data, "room_base_name", v.JOIN_WAY_ROOM_NAME_MAX_CHARS, errors)
    auto = out.get("auto_create_room", code.auto_create_room if code else False)
    if auto and not out.get("room_base_name", code.room_base_name if code else ""):
        errors.setdefault("room_base_name", []).append("required when new groups are opened automatically")
    if "room_base_id" in data:
        raw = data.get("room_base_id")
        try:
            out["room_base_id"] = None if raw in (None, "") else int(raw)
            if out["room_base_id"] is not None and not 1 <= out["room_base_id"] <= 10_000:
                raise ValueError
        except (TypeError, ValueError):
            errors.setdefault("room_base_id", []).append("a number from 1 to 10000, or empty")
    if errors:
        raise ValidationFailed("some fields are not valid", fields=errors)
    return out


def _way(code: GroupLiveCode, chats: list[str]) -> dict[str, Any]:
    return {"chat_id_list": chats, "state": code.state, "remark": code.name[:30], "scene": 2,
            "auto_create_room": int(code.auto_create_room), "room_base_name": code.room_base_name or None,
            "room_base_id": code.room_base_id if code.auto_create_room else None}


def create_group_code(*, actor: Actor, corp_pk: Any, data: Mapping[str, Any]) -> GroupLiveCode:
    require(actor, "channels.livecode.manage")
    corp = corp_of(actor, corp_pk)
    values = _clean(actor, corp, data, creating=True)
    code = GroupLiveCode(org_id=actor.org_id, corp=corp, **values)
    chats = target_chats(code)
    client = client_for(corp)
    code.config_id = str(client.add_join_way(**_way(code, chats)).get("config_id") or "")
    code.qr_code = str((client.get_join_way(config_id=code.config_id).get("join_way") or {}).get("qr_code") or "")
    code.current_chat_ids = chats
    code.save()
    record_write(actor, "create", OBJECT, code.pk, {f: [None, getattr(code, f)] for f in AUDITED})
    return code


def update_group_code(*, actor: Actor, code_pk: Any, data: Mapping[str, Any]) -> GroupLiveCode:
    require(actor, "channels.livecode.manage")
    code = group_code_of(actor, code_pk, active=True)
    values = _clean(actor, code.corp, data, creating=False, code=code)
    before = {f: getattr(code, f) for f in AUDITED}
    for field, value in values.items():
        setattr(code, field, value)
    chats = target_chats(code)
    if code.config_id:
        client_for(code.corp).update_join_way(config_id=code.config_id, **_way(code, chats))
    code.current_chat_ids = chats
    code.save()
    after = {f: getattr(code, f) for f in AUDITED}
    record_write(actor, "update", OBJECT, code.pk, {k: [before[k], w] for k, w in after.items() if before[k] != w})
    return code


def delete_group_code(*, actor: Actor, code_pk: Any) -> GroupLiveCode:
    """Delete the join way in WeCom; the code stays (inactive) with its ``state`` and its join counts."""
    require(actor, "channels.livecode.manage")
    code = group_code_of(actor, code_pk, active=True)
    return retire(actor, code, OBJECT, lambda config_id: client_for(code.corp).del_join_way(config_id=config_id))


def group_code_of(actor: Actor, code_pk: Any, *, active: bool = False) -> GroupLiveCode:
    return code_row(GroupLiveCode.objects.in_org(actor), code_pk, active=active)


# --- routing ---------------------------------------------------------------------------------------------------------


def target_chats(code: GroupLiveCode) -> list[str]:
    """The chosen groups that are still live and have room, in order; when all are full, the last live one (WeCom
    opens a new group after it with ``auto_create_room``, otherwise it is the least bad place to send a scanner)."""
    groups = {g.chat_id: g for g in GroupChat.objects.in_org(system_actor(code.corp)).filter(
        corp=code.corp, chat_id__in=code.chat_ids, dismissed_at__isnull=True)}
    live = [c for c in code.chat_ids if c in groups]
    with_room = [c for c in live if groups[c].member_count < code.capacity]
    return with_room or live[-1:] or list(code.chat_ids[-1:])


def route(code: GroupLiveCode) -> bool:
    """Adopt groups WeCom opened for the code, then point the join way at the groups with room; True when WeCom's
    list changed."""
    if not code.is_active or not code.config_id:
        return False
    client = client_for(code.corp)
    wecom = [str(c) for c in (client.get_join_way(config_id=code.config_id).get("join_way") or {})
             .get("chat_id_list") or ()]
    opened = [c for c in wecom if c not in code.chat_ids]
    if opened:  # groups WeCom created when all were full: the newest ones are the ones with room
        from . import groups

        for chat in opened:
            groups.refresh_group(code.corp, chat)
        code.chat_ids = (code.chat_ids + opened)[-v.JOIN_WAY_CHATS_MAX:]
    chats = target_chats(code)
    changed = chats != wecom
    if changed:
        client.update_join_way(config_id=code.config_id, **_way(code, chats))
    code.current_chat_ids = chats
    code.save(update_fields=["chat_ids", "current_chat_ids", "updated_at"])
    return changed


def codes_for_group(group: GroupChat):
    """Active codes listing ``group`` (JSON containment is not portable across SQLite and PostgreSQL: filtered
    here; a corp has few group codes)."""
    qs = GroupLiveCode.objects.in_org(system_actor(group.corp)).filter(corp=group.corp, is_active=True)
    return [c for c in qs.select_related("corp") if group.chat_id in c.chat_ids]


def codes_for(actor: Actor, corp: Corp | None = None):
    qs = GroupLiveCode.objects.in_org(actor).select_related("corp").order_by("-is_active", "-pk")
    return qs.filter(corp=corp) if corp is not None else qs
