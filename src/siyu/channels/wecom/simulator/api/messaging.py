"""Welcome messages (20 s, once), broadcasts (``add_msg_template`` and results) and the conversation archive."""

from __future__ import annotations

import sqlite3
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
from siyu.channels.wecom.simulator.dispatch import MSGAUDIT, REGISTRY, WECOM_KINDS, Call
from siyu.channels.wecom.simulator.errors import ApiError
from siyu.channels.wecom.simulator.store import dumps, loads

api = REGISTRY.add


# --- welcome messages and broadcasts --------------------------------------------------------------------


def _check_content(body: dict[str, Any]) -> None:
    text = body.get("text") or {}
    attachments = body.get("attachments") or []
    if not isinstance(text, dict) or not isinstance(attachments, list):
        raise bad("invalid text or attachments")
    content = str(text.get("content") or "")
    if not content and not attachments:
        raise bad("text and attachments both empty")
    if len(content.encode("utf-8")) > v.TEXT_MAX_BYTES:
        raise bad(f"content exceed max length {v.TEXT_MAX_BYTES} bytes")
    if len(attachments) > v.ATTACHMENTS_MAX:
        raise bad(f"attachments exceed max count {v.ATTACHMENTS_MAX}")
    for item in attachments:
        kind = item.get("msgtype") if isinstance(item, dict) else None
        if kind not in v.ATTACHMENT_TYPES or not isinstance(item.get(kind), dict):
            raise bad("invalid attachment")


@api("wecom", "externalcontact/send_welcome_msg", WECOM_KINDS)
def send_welcome_msg(call: Call) -> dict[str, Any]:
    """Once per code, within the welcome window (20 s) and before the chat started; 41051 otherwise."""
    code = need(call.body.get("welcome_code"), "welcome_code", 41049)
    _check_content(call.body)
    with call.sim.store.tx() as conn:
        row = conn.execute(
            "SELECT * FROM welcome_codes WHERE code = ? AND corp_id = ?", (code, call.account)
        ).fetchone()
        if row is None:
            raise ApiError(41050, "invalid welcome_code")
        if (
            row["used_at"] is not None
            or row["chat_started"]
            or call.now > row["issued_at"] + call.sim.config.welcome_window
        ):
            raise ApiError(41051, "customer already started chatting or welcome message already sent")
        conn.execute("UPDATE welcome_codes SET used_at = ? WHERE code = ?", (call.now, code))
        archived = actions.archived_for(conn, call.account, row["userid"], row["external_userid"])
        payload = {"text": call.body.get("text") or {}, "attachments": call.body.get("attachments") or []}
        actions.record_message(conn, corp_id=call.account, kind="welcome", sender=row["userid"],
                               receiver=row["external_userid"], now=call.now, msgtype="welcome", payload=payload,
                               archived=archived)  # fmt: skip
    return {}


def _tag_filter(conn: sqlite3.Connection, corp: str, spec: Any) -> set[tuple[str, str]] | None:
    """Follow relations matching ``tag_filter.group_list[{tag_list}]``: any tag within a group, every group."""
    if not spec:
        return None
    groups = spec.get("group_list") if isinstance(spec, dict) else None
    if not isinstance(groups, list):
        raise bad("invalid tag_filter")
    matched: set[tuple[str, str]] | None = None
    for group in groups:
        tag_list = str_list((group or {}).get("tag_list"), "tag_list")
        marks = ",".join("?" * len(tag_list))
        found = {(r["userid"], r["external_userid"]) for r in conn.execute(
            f"SELECT userid, external_userid FROM follow_tags WHERE corp_id = ? AND tag_id IN ({marks})",  # noqa: S608
            (corp, *tag_list))}  # fmt: skip
        matched = found if matched is None else matched & found
    return matched


# add_msg_template's required attachment fields (WeCom document path/92135): an image by media_id or pic_url, a
# link's title and url, a mini-program's title, pic_media_id, appid and page.
TEMPLATE_ATTACHMENT_FIELDS = {"link": (("title",), ("url",)),
                              "miniprogram": (("title",), ("pic_media_id",), ("appid",), ("page",)),
                              "image": (("media_id", "pic_url"),)}


def _check_template_attachments(attachments: list[dict[str, Any]]) -> None:
    for item in attachments:
        kind = item["msgtype"]
        for choices in TEMPLATE_ATTACHMENT_FIELDS.get(kind, ()):
            if not any(item[kind].get(field) for field in choices):
                raise bad(f"{kind}.{'/'.join(choices)} missing")


@api("wecom", "externalcontact/add_msg_template", WECOM_KINDS)
def add_msg_template(call: Call) -> dict[str, Any]:
    """A broadcast task per sender; the senders confirm it in the client (after ``broadcast_confirm_delay``)."""
    body = call.body
    chat_type = body.get("chat_type") or "single"
    if chat_type not in ("single", "group"):
        raise bad("invalid chat_type")
    _check_content(body)
    _check_template_attachments(body.get("attachments") or [])
    sender = body.get("sender") or ""
    conn = db(call)
    if sender:
        employee(call, sender)
    tasks: list[tuple[str, str, str]] = []
    fail: list[str] = []
    if chat_type == "single":
        wanted = str_list(body.get("external_userid"), "external_userid")
        if len(wanted) > v.TEMPLATE_CUSTOMERS_MAX:
            raise bad(f"external_userid exceed max size {v.TEMPLATE_CUSTOMERS_MAX}")
        live = conn.execute("SELECT f.userid, f.external_userid FROM follows f JOIN employees e ON e.corp_id = "
                            "f.corp_id AND e.userid = f.userid WHERE f.corp_id = ? AND f.customer_deleted = 0 AND "
                            "e.status = 1 ORDER BY f.createtime, f.userid", (call.account,)).fetchall()  # fmt: skip
        pairs = [(r["userid"], r["external_userid"]) for r in live if not sender or r["userid"] == sender]
        tagged = _tag_filter(conn, call.account, body.get("tag_filter"))
        if tagged is not None:
            pairs = [p for p in pairs if p in tagged]
        first: dict[str, str] = {}
        for userid, external in pairs:
            first.setdefault(external, userid)  # one sender per customer: the earliest follow user
        for external in wanted or list(first):
            if external in first:
                tasks.append((first[external], external, ""))
            else:
                fail.append(external)
    else:
        if not sender:
            raise bad("sender missing")
        chats = str_list(body.get("chat_id_list"), "chat_id_list")
        if len(chats) > v.TEMPLATE_CHATS_MAX:
            raise bad(f"chat_id_list exceed max size {v.TEMPLATE_CHATS_MAX}")
        owned = {r["chat_id"] for r in conn.execute("SELECT chat_id FROM group_chats WHERE corp_id = ? AND owner = ? "
                                                    "AND status = 0", (call.account, sender))}  # fmt: skip
        for chat in chats or sorted(owned):
            if chat in owned:
                tasks.append((sender, "", chat))
            else:
                fail.append(chat)
    if not tasks:
        raise ApiError(41048, "no valid customer to send")
    msgid = ids.msgid()
    content = {"text": body.get("text") or {}, "attachments": body.get("attachments") or []}
    with call.sim.store.tx() as conn:
        conn.execute("INSERT INTO msg_templates (msgid, corp_id, chat_type, sender, body, create_time, confirm_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (msgid, call.account, chat_type, sender, dumps(content),
                                                      int(call.now), call.now + call.sim.config.broadcast_confirm_delay))  # fmt: skip
        conn.executemany("INSERT OR IGNORE INTO msg_template_sends (msgid, userid, external_userid, chat_id) VALUES "
                         "(?, ?, ?, ?)", [(msgid, *task) for task in tasks])  # fmt: skip
    return {"fail_list": fail, "msgid": msgid}


def _template(call: Call) -> sqlite3.Row:
    msgid = need(call.body.get("msgid"), "msgid", 41046)
    actions.tick(call.sim)
    sql = "SELECT * FROM msg_templates WHERE corp_id = ? AND msgid = ?"
    return one_or(call, 41047, "invalid msgid", sql, call.account, msgid)


@api("wecom", "externalcontact/get_groupmsg_list_v2", WECOM_KINDS)
def get_groupmsg_list_v2(call: Call) -> dict[str, Any]:
    body = call.body
    chat_type = need(body.get("chat_type"), "chat_type")
    start, end = as_int(body.get("start_time"), "start_time"), as_int(body.get("end_time"), "end_time")
    if end < start or end - start > 31 * 86400:
        raise bad("invalid start_time or end_time: at most one month")
    limit = limit_of(body.get("limit"), 50, 100)
    actions.tick(call.sim)
    sql = "SELECT * FROM msg_templates WHERE corp_id = ? AND chat_type = ? AND create_time BETWEEN ? AND ?"
    params: list[Any] = [call.account, chat_type, start, end]
    if body.get("creator"):
        sql += " AND sender = ?"
        params.append(body["creator"])
    rows = db(call).execute(sql + " ORDER BY create_time, msgid", params).fetchall()
    chunk, cursor = page(rows, body.get("cursor"), limit)
    items = []
    for row in chunk:
        content = loads(row["body"]) or {}
        items.append({"msgid": row["msgid"], "creator": row["sender"], "create_time": str(row["create_time"]),
                      "create_type": 0, "text": content.get("text") or {}, "attachments": content.get("attachments") or []})  # fmt: skip
    return {"group_msg_list": items, "next_cursor": cursor}


@api("wecom", "externalcontact/get_groupmsg_task", WECOM_KINDS)
def get_groupmsg_task(call: Call) -> dict[str, Any]:
    template = _template(call)
    limit = limit_of(call.body.get("limit"), 500, v.SEND_RESULT_LIMIT_MAX)
    rows = db(call).execute("SELECT userid, MAX(send_time) AS send_time FROM msg_template_sends WHERE msgid = ? "
                            "GROUP BY userid ORDER BY userid", (template["msgid"],)).fetchall()  # fmt: skip
    chunk, cursor = page(rows, call.body.get("cursor"), limit)
    sent = bool(template["dispatched"])
    return {"task_list": [{"userid": r["userid"], "status": 2 if sent else 0,
                           **({"send_time": r["send_time"]} if sent else {})} for r in chunk],
            "next_cursor": cursor}  # fmt: skip


@api("wecom", "externalcontact/get_groupmsg_send_result", WECOM_KINDS)
def get_groupmsg_send_result(call: Call) -> dict[str, Any]:
    """Per customer: 0 not sent, 1 sent, 2 not a friend, 3 already received the month's broadcasts."""
    template = _template(call)
    userid = need(call.body.get("userid"), "userid")
    limit = limit_of(call.body.get("limit"), 500, v.SEND_RESULT_LIMIT_MAX)
    if (
        template["dispatched"]
        and call.now < template["confirm_at"] + call.sim.config.broadcast_dispatch_seconds
    ):
        raise ApiError(41063, "the group message is still being sent, try later")
    rows = db(call).execute("SELECT * FROM msg_template_sends WHERE msgid = ? AND userid = ? ORDER BY external_userid, "
                            "chat_id", (template["msgid"], userid)).fetchall()  # fmt: skip
    chunk, cursor = page(rows, call.body.get("cursor"), limit)
    items = []
    for r in chunk:
        item = {"userid": r["userid"], "status": r["status"], "send_time": r["send_time"]}
        item.update(
            {"external_userid": r["external_userid"]} if r["external_userid"] else {"chat_id": r["chat_id"]}
        )
        items.append(item)
    return {"send_list": items, "next_cursor": cursor}


# --- conversation archive (msgaudit) --------------------------------------------------------------------


@api("wecom", "msgaudit/get_permit_user_list", (MSGAUDIT,))
def get_permit_user_list(call: Call) -> dict[str, Any]:
    rows = db(call).execute("SELECT userid FROM employees WHERE corp_id = ? AND status = 1 AND contact_enabled = 1 "
                            "ORDER BY userid", (call.account,)).fetchall()  # fmt: skip
    return {"ids": [r["userid"] for r in rows]}


@api("wecom", "msgaudit/check_single_agree", (MSGAUDIT,))
def check_single_agree(call: Call) -> dict[str, Any]:
    info = call.body.get("info")
    if not isinstance(info, list) or not info:
        raise bad("info missing")
    out = []
    for item in info:
        userid, external = (
            str(item.get("userid", "")),
            str(item.get("exteranalopenid", "")),
        )  # WeCom's spelling
        row = db(call).execute("SELECT * FROM archive_agreements WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                               (call.account, userid, external)).fetchone()  # fmt: skip
        out.append({"status_change_time": row["changed_at"] if row else 0, "userid": userid,
                    "exteranalopenid": external, "agree_status": row["status"] if row else "Disagree"})  # fmt: skip
    return {"agreeinfo": out}


@api("wecom", "msgaudit/sim/get_chat_data", (MSGAUDIT,))
def get_chat_data(call: Call) -> dict[str, Any]:
    """Simulator only (no such WeCom HTTP API): what the native SDK's ``GetChatData`` + ``DecryptData`` yield —
    messages after ``seq`` (≤ ``limit`` ≤ 1000), already decrypted, only those archived (customer agreed)."""
    seq = as_int(call.body.get("seq"), "seq", 0)
    limit = limit_of(call.body.get("limit"), 100, 1000)
    rows = db(call).execute("SELECT * FROM messages WHERE corp_id = ? AND archived = 1 AND seq > ? ORDER BY seq LIMIT ?",
                            (call.account, seq, limit)).fetchall()  # fmt: skip
    chatdata = []
    for r in rows:
        payload = loads(r["payload"]) or {}
        msgtype = "text" if r["msgtype"] == "welcome" else r["msgtype"]
        if r["msgtype"] == "welcome":
            payload = {"content": (payload.get("text") or {}).get("content", "")}
        message = {"msgid": r["msgid"], "action": "send", "from": r["sender"], "tolist": [r["receiver"]],
                   "roomid": r["roomid"], "msgtime": r["msgtime"], "msgtype": msgtype, msgtype: payload}  # fmt: skip
        chatdata.append({"seq": r["seq"], "msgid": r["msgid"], "publickey_ver": 1, "message": message})
    return {"chatdata": chatdata}
