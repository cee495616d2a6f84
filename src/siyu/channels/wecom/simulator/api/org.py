"""Tokens, the organisation (departments, members) and app messages (``message/send``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from siyu.channels.wecom.simulator import ids
from siyu.channels.wecom.simulator.api.common import (
    as_int,
    bad,
    db,
    departments,
    employee,
    issue_token,
    need,
)
from siyu.channels.wecom.simulator.dispatch import APP, CONTACT, MSGAUDIT, REGISTRY, WECOM_KINDS, Call
from siyu.channels.wecom.simulator.errors import ApiError
from siyu.channels.wecom.simulator.store import dumps, loads

api = REGISTRY.add
APP_TEXT_MAX_BYTES = 2048
APP_MSGTYPES = ("text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
                "miniprogram_notice", "template_card")  # fmt: skip


@api("wecom", "gettoken", (), tokenless=True)
def gettoken(call: Call) -> dict[str, Any]:
    corp_id, secret = call.q("corpid"), call.q("corpsecret")
    if not corp_id:
        raise ApiError(41002, "corpid missing")
    if not secret:
        raise ApiError(41004, "corpsecret missing")
    corp = db(call).execute("SELECT * FROM corps WHERE corp_id = ?", (corp_id,)).fetchone()
    if corp is None:
        raise ApiError(40013, "invalid corpid")
    kinds = {corp["contact_secret"]: CONTACT, corp["agent_secret"]: APP, corp["msgaudit_secret"]: MSGAUDIT}
    kinds.pop("", None)
    if secret not in kinds:
        raise ApiError(40001, "invalid credential")
    return issue_token(call, corp_id, kinds[secret])


@api("wecom", "getcallbackip", WECOM_KINDS)
def getcallbackip(call: Call) -> dict[str, Any]:
    return {"ip_list": ["127.0.0.1"]}


# --- organisation ---------------------------------------------------------------------------------------


def _subtree(rows: list[sqlite3.Row], root: int) -> set[int]:
    wanted, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for row in rows:
            if row["parentid"] == parent and row["id"] not in wanted:
                wanted.add(row["id"])
                frontier.append(row["id"])
    return wanted


@api("wecom", "department/list", WECOM_KINDS)
def department_list(call: Call) -> dict[str, Any]:
    rows = departments(call)
    if call.q("id"):
        root = as_int(call.q("id"), "id")
        if root not in {r["id"] for r in rows}:
            raise ApiError(60123, "invalid party id")
        wanted = _subtree(rows, root)
        rows = [r for r in rows if r["id"] in wanted]
    return {"department": [{"id": r["id"], "name": r["name"], "name_en": "", "department_leader": [],
                            "parentid": r["parentid"], "order": r["order"]} for r in rows]}  # fmt: skip


def _user_json(row: sqlite3.Row) -> dict[str, Any]:
    departments = loads(row["department"]) or [1]
    return {"userid": row["userid"], "name": row["name"], "department": departments, "order": [0] * len(departments),
            "position": row["position"], "mobile": row["mobile"], "gender": row["gender"], "email": "",
            "status": row["status"], "main_department": departments[0], "isleader": 0, "is_leader_in_dept": [0] * len(departments),
            "enable": 1}  # fmt: skip


@api("wecom", "user/list", WECOM_KINDS)
def user_list(call: Call) -> dict[str, Any]:
    rows = departments(call)
    dept = as_int(call.q("department_id"), "department_id")
    if dept not in {r["id"] for r in rows}:
        raise ApiError(60123, "invalid party id")
    wanted = _subtree(rows, dept) if call.q("fetch_child") == "1" else {dept}
    users = db(call).execute("SELECT * FROM employees WHERE corp_id = ? AND status = 1 ORDER BY userid",
                             (call.account,)).fetchall()  # fmt: skip
    return {"userlist": [_user_json(u) for u in users if wanted & set(loads(u["department"]) or [])]}


@api("wecom", "user/get", WECOM_KINDS)
def user_get(call: Call) -> dict[str, Any]:
    return _user_json(employee(call, need(call.q("userid"), "userid")))


@api("wecom", "message/send", (APP,))
def message_send(call: Call) -> dict[str, Any]:
    """An app message to members: recorded for the simulator's page; invalid recipients listed."""
    body = call.body
    corp = db(call).execute("SELECT agent_id FROM corps WHERE corp_id = ?", (call.account,)).fetchone()
    if as_int(body.get("agentid"), "agentid") != corp["agent_id"]:
        raise ApiError(40056, "invalid agentid")
    msgtype = need(body.get("msgtype"), "msgtype")
    if msgtype not in APP_MSGTYPES or not isinstance(body.get(msgtype), dict):
        raise ApiError(40008, "invalid message type")
    if msgtype == "text" and len(str(body["text"].get("content", "")).encode()) > APP_TEXT_MAX_BYTES:
        raise bad(f"content exceed max length {APP_TEXT_MAX_BYTES} bytes")
    wanted = [u for u in str(body.get("touser") or "").split("|") if u]
    active = {r["userid"] for r in db(call).execute("SELECT userid FROM employees WHERE corp_id = ? AND status = 1",
                                                     (call.account,))}  # fmt: skip
    if wanted == ["@all"]:
        wanted = sorted(active)
    valid = [u for u in wanted if u in active]
    invalid = [u for u in wanted if u not in active]
    if not valid and not body.get("toparty") and not body.get("totag"):
        raise ApiError(81013, "user & party & tag all invalid")
    msgid = ids.msgid()
    with call.sim.store.tx() as conn:
        conn.execute("INSERT INTO app_messages (msgid, corp_id, agentid, touser, msgtype, payload, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (msgid, call.account, corp["agent_id"], "|".join(valid), msgtype,
                                                      dumps(body[msgtype]), call.now))  # fmt: skip
    return {"invaliduser": "|".join(invalid), "invalidparty": "", "invalidtag": "", "unlicenseduser": "",
            "msgid": msgid}  # fmt: skip
