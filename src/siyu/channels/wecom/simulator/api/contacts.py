"""Contact ways (联系我) and external contacts: ``add/get/update/del/list_contact_way``, ``get_follow_user_list``,
``list``, ``get``, ``batch/get_by_user`` (keyset cursor), ``remark``."""

from __future__ import annotations

import sqlite3
from typing import Any

from siyu.channels.wecom import validation as v
from siyu.channels.wecom.simulator import ids
from siyu.channels.wecom.simulator.api.common import (
    as_int,
    bad,
    contact,
    db,
    decode_key_cursor,
    departments,
    employee,
    encode_key_cursor,
    follow,
    limit_of,
    need,
    page,
    str_list,
)
from siyu.channels.wecom.simulator.dispatch import REGISTRY, WECOM_KINDS, Call
from siyu.channels.wecom.simulator.errors import ApiError
from siyu.channels.wecom.simulator.store import dumps, loads

api = REGISTRY.add
CONTACT_WAYS_MAX = 500_000  # API-created contact ways per corp (41045)
CONTACT_WAY_USERS_MAX = 100  # members or departments of a multi-member contact way (41041)


# --- contact ways ---------------------------------------------------------------------------------------

WAY_FIELDS = ("remark", "skip_verify", "style", "state", "user", "party", "expires_in", "chat_expires_in",
              "unionid", "conclusions")  # fmt: skip


def _check_way(call: Call, way: dict[str, Any]) -> None:
    """The documented limits of a contact way (``validation.py`` constants) and the corp's members."""
    kind = way["type"]
    if len(str(way.get("state") or "")) > v.STATE_MAX_CHARS:
        raise bad(f"state exceed max length {v.STATE_MAX_CHARS}")
    if len(str(way.get("remark") or "")) > v.CONTACT_WAY_REMARK_MAX_CHARS:
        raise bad(f"remark exceed max length {v.CONTACT_WAY_REMARK_MAX_CHARS}")
    style = way.get("style")
    if style is not None and (not isinstance(style, int) or isinstance(style, bool) or style < 0):
        raise ApiError(41042, "invalid style")
    users, parties = str_list(way.get("user"), "user"), way.get("party") or []
    if not isinstance(parties, list):
        raise bad("invalid party")
    if kind == 1:
        if len(users) > 1:
            raise ApiError(41041, "too many users for a single contact way")
        if not users or parties:
            raise bad("single contact way needs exactly one user and no party")
    else:
        if not users and not parties:
            raise bad("user or party missing")
        if len(users) > CONTACT_WAY_USERS_MAX or len(parties) > CONTACT_WAY_USERS_MAX:
            raise ApiError(41041, f"more than {CONTACT_WAY_USERS_MAX} users or parties")
    for userid in users:
        if not employee(call, userid)["contact_enabled"]:
            raise ApiError(84074, f"no external contact permission: {userid}")
    known = {r["id"] for r in departments(call)}
    for party in parties:
        if isinstance(party, bool) or not isinstance(party, int) or party not in known:
            raise ApiError(60123, "invalid party id")
    if way.get("is_temp"):
        if kind != 1:
            raise bad("temporary contact way must be single")
        for name, high in (("expires_in", v.TEMP_EXPIRES_MAX), ("chat_expires_in", v.CHAT_EXPIRES_MAX)):
            value = as_int(way.get(name), name, 1)
            if not 1 <= value <= high:
                raise bad(f"invalid {name}, range [1, {high}]")


def _way_json(config_id: str, way: dict[str, Any], base_url: str) -> dict[str, Any]:
    out = {"config_id": config_id, **{k: val for k, val in way.items() if val is not None}}
    if way.get("scene") == 2:
        out["qr_code"] = f"{base_url}/sim/contact-way/{config_id}"
    if not way.get("is_temp"):
        out.pop("expires_in", None)
        out.pop("chat_expires_in", None)
    return out


@api("wecom", "externalcontact/add_contact_way", WECOM_KINDS)
def add_contact_way(call: Call) -> dict[str, Any]:
    body = call.body
    if body.get("type") is None:
        raise ApiError(41037, "missing contact way type")
    if body.get("scene") is None:
        raise ApiError(41038, "missing contact way scene")
    if body["type"] not in (1, 2) or isinstance(body["type"], bool):
        raise ApiError(41039, "invalid contact way type")
    if body["scene"] not in (1, 2) or isinstance(body["scene"], bool):
        raise ApiError(41040, "invalid contact way scene")
    way: dict[str, Any] = {"type": body["type"], "scene": body["scene"], "style": body.get("style"),
                           "remark": body.get("remark", ""), "skip_verify": bool(body.get("skip_verify", True)),
                           "state": body.get("state", ""), "user": body.get("user") or [],
                           "party": body.get("party") or [], "is_temp": bool(body.get("is_temp", False))}  # fmt: skip
    if way["is_temp"]:
        way["expires_in"] = body.get("expires_in", 7 * 86400)
        way["chat_expires_in"] = body.get("chat_expires_in", 86400)
    for name in ("unionid", "is_exclusive", "conclusions"):
        if name in body:
            way[name] = body[name]
    _check_way(call, way)
    config_id = ids.config_id()
    with call.sim.store.tx() as conn:
        count = conn.execute(
            "SELECT COUNT(*) FROM contact_ways WHERE corp_id = ?", (call.account,)
        ).fetchone()[0]
        if count >= CONTACT_WAYS_MAX:
            raise ApiError(41045, "contact way count reached the limit")
        conn.execute("INSERT INTO contact_ways (corp_id, config_id, state, body, created_at) VALUES (?, ?, ?, ?, ?)",
                     (call.account, config_id, way["state"], dumps(way), call.now))  # fmt: skip
    out = {"config_id": config_id}
    if way["scene"] == 2:
        out["qr_code"] = _way_json(config_id, way, call.base_url)["qr_code"]
    return out


def _way(call: Call) -> tuple[str, dict[str, Any]]:
    config_id = need(call.body.get("config_id"), "config_id", 41043)
    row = db(call).execute("SELECT body FROM contact_ways WHERE corp_id = ? AND config_id = ?",
                           (call.account, config_id)).fetchone()  # fmt: skip
    if row is None:
        raise ApiError(41044, "invalid config_id")
    return config_id, loads(row["body"])


@api("wecom", "externalcontact/get_contact_way", WECOM_KINDS)
def get_contact_way(call: Call) -> dict[str, Any]:
    config_id, way = _way(call)
    return {"contact_way": _way_json(config_id, way, call.base_url)}


@api("wecom", "externalcontact/update_contact_way", WECOM_KINDS)
def update_contact_way(call: Call) -> dict[str, Any]:
    config_id, way = _way(call)
    # type and scene are not in the update field list: ignored, as WeCom ignores unknown fields
    for name in WAY_FIELDS:
        if name in call.body:
            way[name] = call.body[name]
    _check_way(call, way)
    with call.sim.store.tx() as conn:
        conn.execute("UPDATE contact_ways SET body = ?, state = ? WHERE corp_id = ? AND config_id = ?",
                     (dumps(way), way.get("state") or "", call.account, config_id))  # fmt: skip
    return {}


@api("wecom", "externalcontact/del_contact_way", WECOM_KINDS)
def del_contact_way(call: Call) -> dict[str, Any]:
    config_id, _ = _way(call)
    with call.sim.store.tx() as conn:
        conn.execute(
            "DELETE FROM contact_ways WHERE corp_id = ? AND config_id = ?", (call.account, config_id)
        )
    return {}


@api("wecom", "externalcontact/list_contact_way", WECOM_KINDS)
def list_contact_way(call: Call) -> dict[str, Any]:
    start = as_int(call.body.get("start_time"), "start_time", int(call.now) - 90 * 86400)
    end = as_int(call.body.get("end_time"), "end_time", int(call.now))
    limit = limit_of(call.body.get("limit"), 100, 1000)
    rows = db(call).execute("SELECT config_id FROM contact_ways WHERE corp_id = ? AND created_at >= ? AND "
                            "created_at <= ? ORDER BY created_at, config_id", (call.account, start, end + 1)).fetchall()  # fmt: skip
    chunk, cursor = page(rows, call.body.get("cursor"), limit)
    return {"contact_way": [{"config_id": r["config_id"]} for r in chunk], "next_cursor": cursor}


# --- external contacts ----------------------------------------------------------------------------------


@api("wecom", "externalcontact/get_follow_user_list", WECOM_KINDS)
def get_follow_user_list(call: Call) -> dict[str, Any]:
    rows = db(call).execute("SELECT userid FROM employees WHERE corp_id = ? AND status = 1 AND contact_enabled = 1 "
                            "ORDER BY userid", (call.account,)).fetchall()  # fmt: skip
    return {"follow_user": [r["userid"] for r in rows]}


@api("wecom", "externalcontact/list", WECOM_KINDS)
def external_list(call: Call) -> dict[str, Any]:
    userid = need(call.q("userid"), "userid")
    employee(call, userid, active=False)
    rows = db(call).execute("SELECT external_userid FROM follows WHERE corp_id = ? AND userid = ? ORDER BY createtime, "
                            "external_userid", (call.account, userid)).fetchall()  # fmt: skip
    if not rows:
        raise ApiError(84061, "not external contact")
    return {"external_userid": [r["external_userid"] for r in rows]}


def contact_json(row: sqlite3.Row) -> dict[str, Any]:
    return {"external_userid": row["external_userid"], "name": row["name"], "avatar": row["avatar"],
            "type": row["type"], "gender": row["gender"], "unionid": row["unionid"]}  # fmt: skip


def _follow_common(row: sqlite3.Row) -> dict[str, Any]:
    out = {"userid": row["userid"], "remark": row["remark"], "description": row["description"],
           "createtime": row["createtime"], "remark_corp_name": "", "remark_mobiles": loads(row["remark_mobiles"]) or [],
           "oper_userid": row["oper_userid"], "add_way": row["add_way"]}  # fmt: skip
    if row["state"]:
        out["state"] = row["state"]
    return out


@api("wecom", "externalcontact/get", WECOM_KINDS)
def external_get(call: Call) -> dict[str, Any]:
    person = contact(call, need(call.q("external_userid"), "external_userid"))
    rows = db(call).execute("SELECT * FROM follows WHERE corp_id = ? AND external_userid = ? ORDER BY createtime, userid",
                            (call.account, person["external_userid"])).fetchall()  # fmt: skip
    if not rows:
        raise ApiError(84061, "not external contact")
    chunk, cursor = page(rows, call.q("cursor"), 500)
    follow_user = []
    for row in chunk:
        tags = db(call).execute(
            "SELECT t.tag_id, t.name AS tag_name, g.name AS group_name FROM follow_tags f JOIN tags t ON "
            "t.corp_id = f.corp_id AND t.tag_id = f.tag_id JOIN tag_groups g ON g.corp_id = t.corp_id AND "
            "g.group_id = t.group_id WHERE f.corp_id = ? AND f.userid = ? AND f.external_userid = ? ORDER BY t.tag_id",
            (call.account, row["userid"], row["external_userid"])).fetchall()  # fmt: skip
        follow_user.append({**_follow_common(row), "tags": [
            {"group_name": t["group_name"], "tag_name": t["tag_name"], "tag_id": t["tag_id"], "type": 1} for t in tags]})  # fmt: skip
    out = {"external_contact": contact_json(person), "follow_user": follow_user}
    if cursor:
        out["next_cursor"] = cursor
    return out


@api("wecom", "externalcontact/batch/get_by_user", WECOM_KINDS)
def batch_get_by_user(call: Call) -> dict[str, Any]:
    """Keyset pages over the follow relations of up to 100 members, member by member in the order given and by
    external_userid within a member (primary-key order: each page costs its size, not the corp's size). The
    cursor names the last (member, external_userid) returned."""
    body = call.body
    users = str_list(body.get("userid_list"), "userid_list") or (
        [body["userid"]] if body.get("userid") else []
    )
    users = list(dict.fromkeys(users))
    if not users:
        raise bad("userid_list missing")
    if len(users) > v.BATCH_USERS_MAX:
        raise bad(f"userid_list exceed max size {v.BATCH_USERS_MAX}")
    for userid in users:
        employee(call, userid, active=False)
    limit = limit_of(body.get("limit"), 50, v.BATCH_LIMIT_MAX)
    after_user, after_external = decode_key_cursor(body.get("cursor"))
    if after_user and after_user not in users:
        raise bad("invalid cursor")
    first = users.index(after_user) if after_user else 0
    rows: list[sqlite3.Row] = []
    for index in range(first, len(users)):
        rows += (
            db(call)
            .execute(
                "SELECT f.*, c.name, c.avatar, c.type, c.gender, c.unionid FROM follows f JOIN external_contacts c "
                "ON c.corp_id = f.corp_id AND c.external_userid = f.external_userid WHERE f.corp_id = ? AND "
                "f.userid = ? AND f.external_userid > ? ORDER BY f.external_userid LIMIT ?",
                (call.account, users[index], after_external if index == first else "", limit + 1 - len(rows)),
            )
            .fetchall()
        )
        if len(rows) > limit:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    tags: dict[tuple[str, str], list[str]] = {}
    if rows:
        keys = ",".join("(?, ?)" for _ in rows)
        flat = [x for r in rows for x in (r["userid"], r["external_userid"])]
        for t in db(call).execute(
            f"SELECT userid, external_userid, tag_id FROM follow_tags WHERE corp_id = ? AND "  # noqa: S608
            f"(userid, external_userid) IN (VALUES {keys}) ORDER BY tag_id",
            (call.account, *flat),
        ):
            tags.setdefault((t["userid"], t["external_userid"]), []).append(t["tag_id"])
    items = [{"external_contact": contact_json(r),
              "follow_info": {**_follow_common(r), "tag_id": tags.get((r["userid"], r["external_userid"]), [])}}
             for r in rows]  # fmt: skip
    last = rows[-1] if rows else None
    cursor = encode_key_cursor(last["userid"], last["external_userid"]) if more and last else ""
    return {"external_contact_list": items, "next_cursor": cursor}


@api("wecom", "externalcontact/remark", WECOM_KINDS)
def remark(call: Call) -> dict[str, Any]:
    body = call.body
    employee(call, need(body.get("userid"), "userid"))
    contact(call, need(body.get("external_userid"), "external_userid"))
    follow(call, body["userid"], body["external_userid"])
    changes = {k: body[k] for k in ("remark", "description", "remark_mobiles") if k in body}
    if not changes and not body.get("remark_company") and not body.get("remark_pic_mediaid"):
        raise bad("remark fields all empty")
    if len(str(changes.get("remark") or "")) > 20 or len(str(changes.get("description") or "")) > 150:
        raise bad("remark exceed max length")
    if "remark_mobiles" in changes:
        changes["remark_mobiles"] = dumps(
            [m for m in str_list(changes["remark_mobiles"], "remark_mobiles") if m]
        )
    with call.sim.store.tx() as conn:
        for name, value in changes.items():
            conn.execute(f"UPDATE follows SET {name} = ? WHERE corp_id = ? AND userid = ? AND external_userid = ?",  # noqa: S608
                         (value, call.account, body["userid"], body["external_userid"]))  # fmt: skip
    return {}
