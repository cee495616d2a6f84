"""Customer groups (``groupchat/list``, ``groupchat/get``), join ways (``groupchat/*_join_way``, WeCom doc
path/92229: not in the protocol document, shaped after the official one) and transfers (on-job and resigned, 24 h takeover,
≤ 2 per customer in 90 days)."""

from __future__ import annotations

from typing import Any

from siyu.channels.wecom import validation as v
from siyu.channels.wecom.simulator import actions, ids
from siyu.channels.wecom.simulator.api.common import (
    as_int,
    bad,
    db,
    employee,
    limit_of,
    need,
    one_or,
    page,
    str_list,
)
from siyu.channels.wecom.simulator.dispatch import REGISTRY, WECOM_KINDS, Call
from siyu.channels.wecom.simulator.errors import ApiError
from siyu.channels.wecom.simulator.store import dumps, loads

api = REGISTRY.add


# --- group chats ----------------------------------------------------------------------------------------


@api("wecom", "externalcontact/groupchat/list", WECOM_KINDS)
def groupchat_list(call: Call) -> dict[str, Any]:
    body = call.body
    status = as_int(body.get("status_filter"), "status_filter", 0)
    if status not in (0, 1, 2, 3):
        raise bad("invalid status_filter")
    limit = limit_of(body.get("limit"), None, v.GROUPCHAT_LIMIT_MAX)
    owners = str_list((body.get("owner_filter") or {}).get("userid_list"), "owner_filter.userid_list")
    if len(owners) > v.GROUPCHAT_OWNERS_MAX:
        raise bad(f"owner_filter.userid_list exceed max size {v.GROUPCHAT_OWNERS_MAX}")
    conn = db(call)
    if not owners:
        visible = conn.execute(
            "SELECT COUNT(*) FROM employees WHERE corp_id = ? AND status = 1", (call.account,)
        ).fetchone()[0]
        if visible > 1000:
            raise ApiError(81017, "owner_filter required: more than 1000 visible users")
    rows = conn.execute("SELECT chat_id, owner, status FROM group_chats WHERE corp_id = ? AND status >= 0 "
                        "ORDER BY create_time, chat_id",
                        (call.account,)).fetchall()  # fmt: skip
    rows = [
        r for r in rows if (not owners or r["owner"] in owners) and (status == 0 or r["status"] == status)
    ]
    chunk, cursor = page(rows, body.get("cursor"), limit)
    return {
        "group_chat_list": [{"chat_id": r["chat_id"], "status": r["status"]} for r in chunk],
        "next_cursor": cursor,
    }


@api("wecom", "externalcontact/groupchat/get", WECOM_KINDS)
def groupchat_get(call: Call) -> dict[str, Any]:
    chat = need(call.body.get("chat_id"), "chat_id")
    conn = db(call)
    group = conn.execute(
        "SELECT * FROM group_chats WHERE corp_id = ? AND chat_id = ?", (call.account, chat)
    ).fetchone()
    if group is None or group["status"] < 0:  # unknown, or dismissed
        raise ApiError(40050, "invalid chatid")
    need_name = bool(call.body.get("need_name"))
    members = []
    for m in conn.execute("SELECT * FROM group_members WHERE corp_id = ? AND chat_id = ? ORDER BY join_time, rowid",
                          (call.account, chat)):  # fmt: skip
        item: dict[str, Any] = {"userid": m["userid"], "type": m["type"], "join_time": m["join_time"],
                                "join_scene": m["join_scene"], "group_nickname": ""}  # fmt: skip
        if m["type"] == 2 and m["unionid"]:
            item["unionid"] = m["unionid"]
        if m["invitor"]:
            item["invitor"] = {"userid": m["invitor"]}
        if m["state"]:  # joined through a join way with a state
            item["state"] = m["state"]
        if need_name:
            item["name"] = m["name"]
        members.append(item)
    return {"group_chat": {"chat_id": chat, "name": group["name"], "owner": group["owner"],
                           "create_time": group["create_time"], "notice": group["notice"], "member_list": members,
                           "admin_list": [], "member_version": actions.member_version_hash(chat, group["member_version"])}}  # fmt: skip


# --- join ways (加入群聊, group live codes) --------------------------------------------------------------------


def _join_way_body(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    scene = as_int(body.get("scene"), "scene")
    if scene not in (1, 2):
        raise bad("invalid scene")
    chats = str_list(body.get("chat_id_list"), "chat_id_list")
    if not chats:
        raise bad("chat_id_list missing")
    if len(chats) > v.JOIN_WAY_CHATS_MAX:
        raise bad(f"chat_id_list exceed max size {v.JOIN_WAY_CHATS_MAX}")
    for chat in chats:
        row = db(call).execute("SELECT status FROM group_chats WHERE corp_id = ? AND chat_id = ?",
                               (call.account, chat)).fetchone()  # fmt: skip
        if row is None or row["status"] < 0:
            raise ApiError(40050, f"invalid chatid {chat}")
    state, remark = str(body.get("state") or ""), str(body.get("remark") or "")
    if len(state) > v.STATE_MAX_CHARS:
        raise bad(f"state exceed max length {v.STATE_MAX_CHARS}")
    if len(remark) > v.CONTACT_WAY_REMARK_MAX_CHARS:
        raise bad(f"remark exceed max length {v.CONTACT_WAY_REMARK_MAX_CHARS}")
    auto = as_int(body.get("auto_create_room"), "auto_create_room", 0)
    base_name = str(body.get("room_base_name") or "")
    if auto and not base_name:
        raise bad("room_base_name missing")
    if len(base_name) > v.JOIN_WAY_ROOM_NAME_MAX_CHARS:
        raise bad(f"room_base_name exceed max length {v.JOIN_WAY_ROOM_NAME_MAX_CHARS}")
    return {"scene": scene, "chat_id_list": dumps(chats), "state": state, "remark": remark,
            "auto_create_room": int(bool(auto)), "room_base_name": base_name,
            "room_base_id": as_int(body.get("room_base_id"), "room_base_id", 1)}  # fmt: skip


def _join_way(call: Call) -> Any:
    config = need(call.body.get("config_id"), "config_id", 41040)
    return one_or(call, 41040, "invalid config_id", "SELECT * FROM join_ways WHERE corp_id = ? AND config_id = ?",
                  call.account, config)  # fmt: skip


@api("wecom", "externalcontact/groupchat/add_join_way", WECOM_KINDS)
def add_join_way(call: Call) -> dict[str, Any]:
    fields = _join_way_body(call, call.body)
    config = ids.config_id()
    with call.sim.store.tx() as conn:
        conn.execute("INSERT INTO join_ways (config_id, corp_id, scene, remark, auto_create_room, room_base_name, "
                     "room_base_id, chat_id_list, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (config, call.account, fields["scene"], fields["remark"], fields["auto_create_room"],
                      fields["room_base_name"], fields["room_base_id"], fields["chat_id_list"], fields["state"],
                      call.now))  # fmt: skip
    return {"config_id": config}


@api("wecom", "externalcontact/groupchat/get_join_way", WECOM_KINDS)
def get_join_way(call: Call) -> dict[str, Any]:
    way = _join_way(call)
    out = {"config_id": way["config_id"], "scene": way["scene"], "remark": way["remark"],
           "auto_create_room": way["auto_create_room"], "room_base_name": way["room_base_name"],
           "room_base_id": way["room_base_id"], "chat_id_list": loads(way["chat_id_list"]) or [],
           "state": way["state"]}  # fmt: skip
    if way["scene"] == 2:
        out["qr_code"] = f"{call.base_url}/sim/join-way/{way['config_id']}"
    return {"join_way": out}


@api("wecom", "externalcontact/groupchat/update_join_way", WECOM_KINDS)
def update_join_way(call: Call) -> dict[str, Any]:
    way = _join_way(call)
    fields = _join_way_body(call, call.body)
    with call.sim.store.tx() as conn:
        conn.execute("UPDATE join_ways SET scene = ?, remark = ?, auto_create_room = ?, room_base_name = ?, "
                     "room_base_id = ?, chat_id_list = ?, state = ? WHERE config_id = ?",
                     (fields["scene"], fields["remark"], fields["auto_create_room"], fields["room_base_name"],
                      fields["room_base_id"], fields["chat_id_list"], fields["state"], way["config_id"]))  # fmt: skip
    return {}


@api("wecom", "externalcontact/groupchat/del_join_way", WECOM_KINDS)
def del_join_way(call: Call) -> dict[str, Any]:
    way = _join_way(call)
    with call.sim.store.tx() as conn:
        conn.execute("DELETE FROM join_ways WHERE config_id = ?", (way["config_id"],))
    return {}


# --- transfers ------------------------------------------------------------------------------------------


def _transfer(call: Call, kind: str) -> dict[str, Any]:
    body = call.body
    old, new = (
        need(body.get("handover_userid"), "handover_userid"),
        need(body.get("takeover_userid"), "takeover_userid"),
    )
    if old == new:
        raise ApiError(40130, "handover_userid is the same as takeover_userid")
    customers = str_list(body.get("external_userid"), "external_userid")
    if not customers or len(customers) > v.TRANSFER_CUSTOMERS_MAX:
        raise bad(f"external_userid size must be in [1, {v.TRANSFER_CUSTOMERS_MAX}]")
    message = body.get("transfer_success_msg")
    if message is not None and len(str(message)) > v.TRANSFER_MSG_MAX_CHARS:
        raise bad(f"transfer_success_msg exceed max length {v.TRANSFER_MSG_MAX_CHARS}")
    handover = employee(call, old, active=False)
    employee(call, new)
    if kind == "resigned" and handover["status"] != 5:
        raise ApiError(40097, "handover user is not resigned")
    if kind == "onjob" and handover["status"] != 1:
        raise ApiError(40003, f"invalid userid {old}")
    results = []
    window = call.now - call.sim.config.transfer_window
    with call.sim.store.tx() as conn:
        for external in customers:
            code = 0
            if conn.execute("SELECT 1 FROM follows WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                            (call.account, old, external)).fetchone() is None:  # fmt: skip
                code = 40131  # the handover member does not follow this customer
            elif conn.execute("SELECT 1 FROM transfers WHERE corp_id = ? AND external_userid = ? AND status = 2",
                              (call.account, external)).fetchone():  # fmt: skip
                code = 40129
            elif conn.execute("SELECT COUNT(*) FROM transfers WHERE corp_id = ? AND external_userid = ? AND "
                              "status IN (1, 2) AND started_at > ?", (call.account, external, window)).fetchone()[0] \
                    >= call.sim.config.transfers_per_window:  # fmt: skip
                code = 40128
            else:
                conn.execute("INSERT INTO transfers (corp_id, kind, handover, takeover, external_userid, status, "
                             "started_at) VALUES (?, ?, ?, ?, ?, 2, ?)", (call.account, kind, old, new, external, call.now))  # fmt: skip
            results.append({"external_userid": external, "errcode": code})
    return {"customer": results}


def _transfer_result(call: Call, kind: str) -> dict[str, Any]:
    body = call.body
    old, new = (
        need(body.get("handover_userid"), "handover_userid"),
        need(body.get("takeover_userid"), "takeover_userid"),
    )
    actions.tick(call.sim)
    rows = db(call).execute(
        "SELECT * FROM transfers WHERE corp_id = ? AND kind = ? AND handover = ? AND takeover = ? AND id IN "
        "(SELECT MAX(id) FROM transfers WHERE corp_id = ? AND kind = ? GROUP BY external_userid, handover, takeover) "
        "ORDER BY id", (call.account, kind, old, new, call.account, kind)).fetchall()  # fmt: skip
    chunk, cursor = page(rows, body.get("cursor"), 1000)
    return {"customer": [{"external_userid": r["external_userid"], "status": r["status"],
                          "takeover_time": r["takeover_time"]} for r in chunk], "next_cursor": cursor}  # fmt: skip


@api("wecom", "externalcontact/transfer_customer", WECOM_KINDS)
def transfer_customer(call: Call) -> dict[str, Any]:
    return _transfer(call, "onjob")


@api("wecom", "externalcontact/resigned/transfer_customer", WECOM_KINDS)
def resigned_transfer_customer(call: Call) -> dict[str, Any]:
    if call.body.get("transfer_success_msg"):
        raise bad("transfer_success_msg is for on-job transfers only")
    return _transfer(call, "resigned")


@api("wecom", "externalcontact/transfer_result", WECOM_KINDS)
def transfer_result(call: Call) -> dict[str, Any]:
    return _transfer_result(call, "onjob")


@api("wecom", "externalcontact/resigned/transfer_result", WECOM_KINDS)
def resigned_transfer_result(call: Call) -> dict[str, Any]:
    return _transfer_result(call, "resigned")


@api("wecom", "externalcontact/get_unassigned_list", WECOM_KINDS)
def get_unassigned_list(call: Call) -> dict[str, Any]:
    limit = limit_of(call.body.get("page_size"), 1000, 1000, "page_size")
    rows = db(call).execute(
        "SELECT f.userid, f.external_userid, e.resigned_at FROM follows f JOIN employees e ON e.corp_id = f.corp_id AND "
        "e.userid = f.userid WHERE f.corp_id = ? AND e.status = 5 AND NOT EXISTS (SELECT 1 FROM transfers t WHERE "
        "t.corp_id = f.corp_id AND t.external_userid = f.external_userid AND t.handover = f.userid AND t.status = 2) "
        "ORDER BY f.rowid", (call.account,)).fetchall()  # fmt: skip
    chunk, cursor = page(rows, call.body.get("cursor"), limit)
    return {"info": [{"handover_userid": r["userid"], "external_userid": r["external_userid"],
                      "dimission_time": int(r["resigned_at"] or 0)} for r in chunk],
            "is_last": not cursor, "next_cursor": cursor}  # fmt: skip
