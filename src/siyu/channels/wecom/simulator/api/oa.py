"""WeChat official-account endpoints (protocol document §5): ``cgi-bin/token``, template messages, parametric QR
codes, follower info. Successful answers of ``token``, ``qrcode/create`` and ``user/*`` carry no ``errcode``, as
on the real platform; ``user/get`` is the follower list here (the WeCom member lookup answers WeCom tokens).

A template message is followed by the ``TEMPLATESENDJOBFINISH`` event: a delivery report the platform sends for
the API call, not a change notification, so it is the one callback an API call causes.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from siyu.channels.wecom.simulator import delivery, events, ids
from siyu.channels.wecom.simulator.api.common import as_int, db, issue_token, need, one_or
from siyu.channels.wecom.simulator.dispatch import OA, REGISTRY, Call
from siyu.channels.wecom.simulator.errors import ApiError
from siyu.channels.wecom.simulator.store import dumps

api = REGISTRY.add
QR_TEMP_DEFAULT, QR_TEMP_MAX = 60, 2_592_000  # seconds (30 days)
CLIENT_MSG_ID_WINDOW = 600  # client_msg_id deduplicates for about 10 minutes


@api("oa", "token", (), bare=True, tokenless=True)
def token(call: Call) -> dict[str, Any]:
    if call.q("grant_type") != "client_credential":
        raise ApiError(40002, "invalid grant_type")
    oa = db(call).execute("SELECT * FROM oa_accounts WHERE appid = ?", (call.q("appid"),)).fetchone()
    if oa is None:
        raise ApiError(40013, "invalid appid")
    if call.q("secret") != oa["secret"]:
        raise ApiError(40001, "invalid credential, access_token is invalid or not latest")
    return issue_token(call, oa["appid"], OA)


def _follower(call: Call, openid: str) -> sqlite3.Row:
    sql = "SELECT * FROM oa_followers WHERE appid = ? AND openid = ?"
    return one_or(call, 40003, "invalid openid", sql, call.account, openid)


@api("oa", "message/template/send", (OA,))
def template_send(call: Call) -> dict[str, Any]:
    body = call.body
    openid = need(body.get("touser"), "touser", 40003)
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise ApiError(40037, "invalid template_id")
    if not isinstance(body.get("data"), dict):
        raise ApiError(47001, "data format error")
    follower = _follower(call, openid)
    if not follower["subscribe"]:
        raise ApiError(43004, "require subscribe")
    with call.sim.store.tx() as conn:
        client_msg_id = str(body.get("client_msg_id") or "")
        if client_msg_id:
            earlier = conn.execute("SELECT msgid FROM oa_template_msgs WHERE appid = ? AND touser = ? AND client_msg_id = ? "
                                   "AND created_at > ?", (call.account, openid, client_msg_id,
                                                          call.now - CLIENT_MSG_ID_WINDOW)).fetchone()  # fmt: skip
            if earlier is not None:
                return {"msgid": earlier["msgid"]}
        day = int(call.now // 86400) * 86400
        sent_today = conn.execute("SELECT COUNT(*) FROM oa_template_msgs WHERE appid = ? AND created_at >= ?",
                                  (call.account, day)).fetchone()[0]  # fmt: skip
        if sent_today >= call.sim.config.oa_template_daily_quota:
            raise ApiError(45009, "reach max api daily quota limit")
        cur = conn.execute("INSERT INTO oa_template_msgs (appid, touser, template_id, client_msg_id, body, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (call.account, openid, template_id, client_msg_id, dumps(body),
                                                         call.now))  # fmt: skip
        msgid = int(cur.lastrowid or 0)
        oa = conn.execute("SELECT * FROM oa_accounts WHERE appid = ?", (call.account,)).fetchone()
        xml = events.oa_event(oa["original_id"], openid, int(call.now), "TEMPLATESENDJOBFINISH", ("MsgID", msgid),
                              ("Status", "success"))  # fmt: skip
        delivery.enqueue_oa(conn, oa, openid, xml, summary=f"oa TEMPLATESENDJOBFINISH {msgid}", now=call.now)
    call.sim.wake()
    return {"msgid": msgid}


@api("oa", "qrcode/create", (OA,), bare=True)
def qrcode_create(call: Call) -> dict[str, Any]:
    body = call.body
    action = body.get("action_name")
    scene = (
        ((body.get("action_info") or {}).get("scene") or {})
        if isinstance(body.get("action_info"), dict)
        else {}
    )
    scene_id, scene_str = 0, ""
    if action in ("QR_SCENE", "QR_LIMIT_SCENE"):
        scene_id = as_int(scene.get("scene_id"), "scene_id")
        high = 2**32 - 1 if action == "QR_SCENE" else 100_000
        if not 1 <= scene_id <= high:
            raise ApiError(40053, "invalid action info")
    elif action in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
        scene_str = scene.get("scene_str")
        if not isinstance(scene_str, str) or not 1 <= len(scene_str) <= 64:
            raise ApiError(40053, "invalid action info")
    else:
        raise ApiError(40052, "invalid action name")
    temporary = action in ("QR_SCENE", "QR_STR_SCENE")
    expire = as_int(body.get("expire_seconds"), "expire_seconds", QR_TEMP_DEFAULT) if temporary else None
    if expire is not None:
        expire = max(1, min(expire, QR_TEMP_MAX))
    ticket = ids.ticket()
    with call.sim.store.tx() as conn:
        conn.execute("INSERT INTO oa_qrcodes (ticket, appid, action_name, scene_id, scene_str, expire_at, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (ticket, call.account, action, scene_id, scene_str,
                                                      call.now + expire if expire else None, call.now))  # fmt: skip
    out: dict[str, Any] = {"ticket": ticket, "url": f"{call.base_url}/sim/oa/qr/{ticket}"}
    if expire is not None:
        out["expire_seconds"] = expire
    return out


@api("oa", "user/info", (OA,), bare=True)
def user_info(call: Call) -> dict[str, Any]:
    row = _follower(call, need(call.q("openid"), "openid", 40003))
    if not row["subscribe"]:
        return {"subscribe": 0, "openid": row["openid"], "unionid": row["unionid"]}
    return {"subscribe": 1, "openid": row["openid"], "language": "zh_CN", "subscribe_time": row["subscribe_time"],
            "unionid": row["unionid"], "remark": "", "groupid": 0, "tagid_list": [],
            "subscribe_scene": row["subscribe_scene"], "qr_scene": row["qr_scene"], "qr_scene_str": row["qr_scene_str"]}  # fmt: skip


@api("oa", "user/get", (OA,), bare=True)
def user_get(call: Call) -> dict[str, Any]:
    """Followers' openids, 10 000 per page after ``next_openid``."""
    after = call.q("next_openid")
    conn = db(call)
    total = conn.execute(
        "SELECT COUNT(*) FROM oa_followers WHERE appid = ? AND subscribe = 1", (call.account,)
    ).fetchone()[0]
    rows = conn.execute("SELECT openid FROM oa_followers WHERE appid = ? AND subscribe = 1 AND openid > ? ORDER BY openid "
                        "LIMIT 10000", (call.account, after)).fetchall()  # fmt: skip
    openids = [r["openid"] for r in rows]
    return {"total": total, "count": len(openids), "data": {"openid": openids},
            "next_openid": openids[-1] if len(openids) == 10000 else ""}  # fmt: skip
