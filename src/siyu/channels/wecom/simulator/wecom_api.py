"""WeCom server API endpoints (protocol document §2.2), answering what ``channels/wecom/client.py`` sends.

No endpoint queues a callback: "通过API进行的操作不会产生回调" (§2.1). Limits come from ``validation.py``, the same
constants Siyu's client checks before sending, so both sides agree on one table.

Error codes used beyond the document's table (marked *assumed* in ``docs/wecom-simulator.md``): 60123 invalid
department, 40050 unknown group chat, 40128 customer transferred too often, 40129 transfer already waiting,
81013 no valid recipient, 40056 wrong agentid, 40008 unknown message type.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from typing import Any

from siyu.channels.wecom import validation as v
from siyu.channels.wecom.simulator import actions, ids
from siyu.channels.wecom.simulator.dispatch import APP, CONTACT, MSGAUDIT, REGISTRY, WECOM_KINDS, Call
from siyu.channels.wecom.simulator.errors import ApiError
from siyu.channels.wecom.simulator.store import dumps, loads

api = REGISTRY.add
CONTACT_WAYS_MAX = 500_000  # API-created contact ways per corp (41045)
CONTACT_WAY_USERS_MAX = 100  # members or departments of a multi-member contact way (41041)
APP_TEXT_MAX_BYTES = 2048
APP_MSGTYPES = ("text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
                "miniprogram_notice", "template_card")  # fmt: skip


# --- small helpers --------------------------------------------------------------------------------------


def bad(message: str) -> ApiError:
    return ApiError(40058, message)


def need(value: Any, name: str, errcode: int = 40058) -> Any:
    if value is None or value == "" or value == []:
        raise ApiError(errcode, f"{name} missing")
    return value


def as_int(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise bad(f"{name} missing")
        return default
    if isinstance(value, bool):
        raise bad(f"invalid {name}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad(f"invalid {name}") from None


def str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise bad(f"invalid {name}")
    return value


def limit_of(value: Any, default: int | None, high: int, name: str = "limit") -> int:
    limit = as_int(value, name, default)
    if not 1 <= limit <= high:
        raise bad(f"invalid {name}, range [1, {high}]")
    return limit


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"c{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        if not text.startswith("c"):
            raise ValueError
        return int(text[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad("invalid cursor") from None


def page(rows: list[Any], cursor: Any, limit: int) -> tuple[list[Any], str]:
    """Offset pagination over an ordered list: the page and ``next_cursor`` ('' on the last page)."""
    start = decode_cursor(cursor)
    chunk = rows[start : start + limit]
    return chunk, encode_cursor(start + limit) if start + limit < len(rows) else ""


def db(call: Call) -> sqlite3.Connection:
    return call.sim.store.conn()


def employee(call: Call, userid: Any, *, active: bool = True, errcode: int = 40003) -> sqlite3.Row:
    row = db(call).execute("SELECT * FROM employees WHERE corp_id = ? AND userid = ?",
                           (call.account, userid)).fetchone()  # fmt: skip
    if row is None or (active and row["status"] != 1):
        raise ApiError(errcode, f"invalid userid {userid}")
    return row


def contact(call: Call, external_userid: Any) -> sqlite3.Row:
    row = db(call).execute("SELECT * FROM external_contacts WHERE corp_id = ? AND external_userid = ?",
                           (call.account, external_userid)).fetchone()  # fmt: skip
    if row is None:
        raise ApiError(40096, "invalid external userid")
    return row


def follow(call: Call, userid: str, external_userid: str) -> sqlite3.Row:
    row = db(call).execute("SELECT * FROM follows WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                           (call.account, userid, external_userid)).fetchone()  # fmt: skip
    if row is None:
        raise ApiError(84061, "not external contact")
    return row


# --- tokens ---------------------------------------------------------------------------------------------


def issue_token(call: Call, account: str, kind: str) -> dict[str, Any]:
    token = ids.access_token()
    ttl = call.sim.config.token_ttl
    with call.sim.store.tx() as conn:
        conn.execute("DELETE FROM access_tokens WHERE expires_at < ?", (call.now - 86400,))
        conn.execute("INSERT INTO access_tokens (token, account, kind, expires_at) VALUES (?, ?, ?, ?)",
                     (token, account, kind, call.now + ttl))  # fmt: skip
    return {"access_token": token, "expires_in": ttl}


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


def _departments(call: Call) -> list[sqlite3.Row]:
    return db(call).execute("SELECT * FROM departments WHERE corp_id = ? ORDER BY id", (call.account,)).fetchall()


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
    rows = _departments(call)
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
    rows = _departments(call)
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
    known = {r["id"] for r in _departments(call)}
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
        count = conn.execute("SELECT COUNT(*) FROM contact_ways WHERE corp_id = ?", (call.account,)).fetchone()[0]
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
        conn.execute("DELETE FROM contact_ways WHERE corp_id = ? AND config_id = ?", (call.account, config_id))
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
    """Keyset pages over the follow relations of up to 100 members (the cursor is the last rowid)."""
    body = call.body
    users = str_list(body.get("userid_list"), "userid_list") or ([body["userid"]] if body.get("userid") else [])
    if not users:
        raise bad("userid_list missing")
    if len(users) > v.BATCH_USERS_MAX:
        raise bad(f"userid_list exceed max size {v.BATCH_USERS_MAX}")
    for userid in users:
        employee(call, userid, active=False)
    limit = limit_of(body.get("limit"), 50, v.BATCH_LIMIT_MAX)
    after = decode_cursor(body.get("cursor"))
    marks = ",".join("?" * len(users))
    rows = db(call).execute(
        f"SELECT f.rowid AS pos, f.*, c.name, c.avatar, c.type, c.gender, c.unionid FROM follows f "  # noqa: S608
        f"JOIN external_contacts c ON c.corp_id = f.corp_id AND c.external_userid = f.external_userid "
        f"WHERE f.corp_id = ? AND f.userid IN ({marks}) AND f.rowid > ? ORDER BY f.rowid LIMIT ?",
        (call.account, *users, after, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    tags: dict[tuple[str, str], list[str]] = {}
    if rows:
        keys = ",".join("(?, ?)" for _ in rows)
        flat = [x for r in rows for x in (r["userid"], r["external_userid"])]
        for t in db(call).execute(
            f"SELECT userid, external_userid, tag_id FROM follow_tags WHERE corp_id = ? AND "  # noqa: S608
            f"(userid, external_userid) IN (VALUES {keys}) ORDER BY tag_id", (call.account, *flat)
        ):
            tags.setdefault((t["userid"], t["external_userid"]), []).append(t["tag_id"])
    items = [{"external_contact": contact_json(r),
              "follow_info": {**_follow_common(r), "tag_id": tags.get((r["userid"], r["external_userid"]), [])}}
             for r in rows]  # fmt: skip
    return {"external_contact_list": items, "next_cursor": encode_cursor(rows[-1]["pos"]) if more else ""}


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
        changes["remark_mobiles"] = dumps([m for m in str_list(changes["remark_mobiles"], "remark_mobiles") if m])
    with call.sim.store.tx() as conn:
        for name, value in changes.items():
            conn.execute(f"UPDATE follows SET {name} = ? WHERE corp_id = ? AND userid = ? AND external_userid = ?",  # noqa: S608
                         (value, call.account, body["userid"], body["external_userid"]))  # fmt: skip
    return {}


# --- corp tags ------------------------------------------------------------------------------------------


def _group_json(conn: sqlite3.Connection, group: sqlite3.Row, tags: list[sqlite3.Row], with_deleted: bool) -> dict:
    out = {"group_id": group["group_id"], "group_name": group["name"], "create_time": group["create_time"],
           "order": group["order"], "tag": []}  # fmt: skip
    if with_deleted:
        out["deleted"] = bool(group["deleted"])
    for tag in tags:
        item = {"id": tag["tag_id"], "name": tag["name"], "create_time": tag["create_time"], "order": tag["order"]}
        if with_deleted:
            item["deleted"] = bool(tag["deleted"])
        out["tag"].append(item)
    return out


@api("wecom", "externalcontact/get_corp_tag_list", WECOM_KINDS)
def get_corp_tag_list(call: Call) -> dict[str, Any]:
    conn = db(call)
    group_ids = str_list(call.body.get("group_id"), "group_id")
    tag_ids = str_list(call.body.get("tag_id"), "tag_id")
    groups = conn.execute('SELECT * FROM tag_groups WHERE corp_id = ? ORDER BY "order" DESC, create_time, group_id',
                          (call.account,)).fetchall()  # fmt: skip
    tags = conn.execute('SELECT * FROM tags WHERE corp_id = ? ORDER BY "order" DESC, create_time, tag_id',
                        (call.account,)).fetchall()  # fmt: skip
    out = []
    for group in groups:
        mine = [t for t in tags if t["group_id"] == group["group_id"]]
        if group_ids:  # group_id wins over tag_id
            if group["group_id"] in group_ids and not group["deleted"]:
                out.append(_group_json(conn, group, [t for t in mine if not t["deleted"]], False))
        elif tag_ids:
            picked = [t for t in mine if t["tag_id"] in tag_ids]
            if picked:  # "deleted" appears only when filtering by id
                out.append(_group_json(conn, group, picked, True))
        elif not group["deleted"]:
            out.append(_group_json(conn, group, [t for t in mine if not t["deleted"]], False))
    return {"tag_group": out}


def _tag_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{field} missing")
    if len(value) > v.TAG_NAME_MAX_CHARS:
        raise bad(f"{field} exceed max length {v.TAG_NAME_MAX_CHARS}")
    return value


def _order(value: Any) -> int:
    order = as_int(value, "order", 0)
    if not 0 <= order <= v.TAG_ORDER_MAX:
        raise bad("invalid order")
    return order


@api("wecom", "externalcontact/add_corp_tag", WECOM_KINDS)
def add_corp_tag(call: Call) -> dict[str, Any]:
    body = call.body
    tags = body.get("tag")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, dict) for t in tags):
        raise bad("tag missing")
    names = [_tag_name(t.get("name"), "tag.name") for t in tags]
    orders = [_order(t.get("order")) for t in tags]
    if len(set(names)) != len(names):
        raise ApiError(40071, "tag name already exists")
    with call.sim.store.tx() as conn:
        group = None
        if body.get("group_id"):
            group = conn.execute("SELECT * FROM tag_groups WHERE corp_id = ? AND group_id = ? AND deleted = 0",
                                 (call.account, body["group_id"])).fetchone()  # fmt: skip
            if group is None:
                raise ApiError(40068, "invalid tagid")
        else:
            name = _tag_name(body.get("group_name"), "group_name")
            group = conn.execute("SELECT * FROM tag_groups WHERE corp_id = ? AND name = ? AND deleted = 0",
                                 (call.account, name)).fetchone()  # fmt: skip
            if group is None:
                conn.execute('INSERT INTO tag_groups (corp_id, group_id, name, "order", create_time) VALUES (?, ?, ?, ?, ?)',
                             (call.account, ids.tag_id(), name, _order(body.get("order")), int(call.now)))  # fmt: skip
                group = conn.execute("SELECT * FROM tag_groups WHERE corp_id = ? AND name = ? AND deleted = 0",
                                     (call.account, name)).fetchone()  # fmt: skip
        existing = {r["name"] for r in conn.execute("SELECT name FROM tags WHERE corp_id = ? AND group_id = ? AND "
                                                    "deleted = 0", (call.account, group["group_id"]))}  # fmt: skip
        if existing & set(names):
            raise ApiError(40071, "tag name already exists")
        total = conn.execute("SELECT COUNT(*) FROM tags WHERE corp_id = ? AND deleted = 0", (call.account,)).fetchone()[0]
        if total + len(names) > v.CORP_TAGS_MAX:
            raise bad(f"corp tags exceed max count {v.CORP_TAGS_MAX}")
        created = []
        for name, order in zip(names, orders, strict=True):
            tag_id = ids.tag_id()
            conn.execute('INSERT INTO tags (corp_id, tag_id, group_id, name, "order", create_time) VALUES (?, ?, ?, ?, ?, ?)',
                         (call.account, tag_id, group["group_id"], name, order, int(call.now)))  # fmt: skip
            created.append(conn.execute("SELECT * FROM tags WHERE corp_id = ? AND tag_id = ?", (call.account, tag_id)).fetchone())
        return {"tag_group": _group_json(conn, group, created, False)}


@api("wecom", "externalcontact/edit_corp_tag", WECOM_KINDS)
def edit_corp_tag(call: Call) -> dict[str, Any]:
    body = call.body
    item_id = need(body.get("id"), "id")
    with call.sim.store.tx() as conn:
        tag = conn.execute("SELECT * FROM tags WHERE corp_id = ? AND tag_id = ? AND deleted = 0",
                           (call.account, item_id)).fetchone()  # fmt: skip
        group = conn.execute("SELECT * FROM tag_groups WHERE corp_id = ? AND group_id = ? AND deleted = 0",
                             (call.account, item_id)).fetchone()  # fmt: skip
        if tag is None and group is None:
            raise ApiError(40068, "invalid tagid")
        table, key = ("tags", "tag_id") if tag is not None else ("tag_groups", "group_id")
        if "name" in body:
            name = _tag_name(body["name"], "name")
            if tag is not None:
                clash = conn.execute("SELECT 1 FROM tags WHERE corp_id = ? AND group_id = ? AND name = ? AND "
                                     "deleted = 0 AND tag_id != ?", (call.account, tag["group_id"], name, item_id)).fetchone()  # fmt: skip
            else:
                clash = conn.execute("SELECT 1 FROM tag_groups WHERE corp_id = ? AND name = ? AND deleted = 0 AND "
                                     "group_id != ?", (call.account, name, item_id)).fetchone()  # fmt: skip
            if clash:
                raise ApiError(40071, "tag name already exists")
            conn.execute(f"UPDATE {table} SET name = ? WHERE corp_id = ? AND {key} = ?", (name, call.account, item_id))  # noqa: S608
        if "order" in body:
            conn.execute(f'UPDATE {table} SET "order" = ? WHERE corp_id = ? AND {key} = ?',  # noqa: S608
                         (_order(body["order"]), call.account, item_id))  # fmt: skip
    return {}


@api("wecom", "externalcontact/del_corp_tag", WECOM_KINDS)
def del_corp_tag(call: Call) -> dict[str, Any]:
    tag_ids = str_list(call.body.get("tag_id"), "tag_id")
    group_ids = str_list(call.body.get("group_id"), "group_id")
    if not tag_ids and not group_ids:
        raise bad("tag_id and group_id both missing")
    with call.sim.store.tx() as conn:
        for tag_id in tag_ids:
            if not conn.execute("SELECT 1 FROM tags WHERE corp_id = ? AND tag_id = ? AND deleted = 0",
                                (call.account, tag_id)).fetchone():  # fmt: skip
                raise ApiError(40068, "invalid tagid")
        for group_id in group_ids:
            if not conn.execute("SELECT 1 FROM tag_groups WHERE corp_id = ? AND group_id = ? AND deleted = 0",
                                (call.account, group_id)).fetchone():  # fmt: skip
                raise ApiError(40068, "invalid tagid")
        for group_id in group_ids:
            conn.execute("UPDATE tag_groups SET deleted = 1 WHERE corp_id = ? AND group_id = ?", (call.account, group_id))
            tag_ids += [r["tag_id"] for r in conn.execute("SELECT tag_id FROM tags WHERE corp_id = ? AND group_id = ? "
                                                          "AND deleted = 0", (call.account, group_id))]  # fmt: skip
        for tag_id in tag_ids:
            conn.execute("UPDATE tags SET deleted = 1 WHERE corp_id = ? AND tag_id = ?", (call.account, tag_id))
            conn.execute("DELETE FROM follow_tags WHERE corp_id = ? AND tag_id = ?", (call.account, tag_id))
        # a group whose last tag is gone is gone too
        conn.execute("UPDATE tag_groups SET deleted = 1 WHERE corp_id = ? AND deleted = 0 AND NOT EXISTS (SELECT 1 FROM "
                     "tags t WHERE t.corp_id = tag_groups.corp_id AND t.group_id = tag_groups.group_id AND t.deleted = 0)",
                     (call.account,))  # fmt: skip
    return {}


@api("wecom", "externalcontact/mark_tag", WECOM_KINDS)
def mark_tag(call: Call) -> dict[str, Any]:
    body = call.body
    userid = need(body.get("userid"), "userid")
    external = need(body.get("external_userid"), "external_userid")
    add, remove = str_list(body.get("add_tag"), "add_tag"), str_list(body.get("remove_tag"), "remove_tag")
    if not add and not remove:
        raise bad("add_tag and remove_tag both empty")
    employee(call, userid)
    contact(call, external)
    follow(call, userid, external)
    with call.sim.store.tx() as conn:
        for tag_id in add + remove:
            if not conn.execute("SELECT 1 FROM tags WHERE corp_id = ? AND tag_id = ? AND deleted = 0",
                                (call.account, tag_id)).fetchone():  # fmt: skip
                raise ApiError(40068, "invalid tagid")
        key = (call.account, userid, external)
        for tag_id in add:
            conn.execute("INSERT OR IGNORE INTO follow_tags (corp_id, userid, external_userid, tag_id) VALUES "
                         "(?, ?, ?, ?)", (*key, tag_id))  # fmt: skip
        for tag_id in remove:
            conn.execute("DELETE FROM follow_tags WHERE corp_id = ? AND userid = ? AND external_userid = ? AND "
                         "tag_id = ?", (*key, tag_id))  # fmt: skip
        count = conn.execute("SELECT COUNT(*) FROM follow_tags WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                             key).fetchone()[0]  # fmt: skip
        if count > v.CORP_TAGS_MAX:
            raise bad(f"tags exceed max count {v.CORP_TAGS_MAX}")
    return {}


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
        row = conn.execute("SELECT * FROM welcome_codes WHERE code = ? AND corp_id = ?", (code, call.account)).fetchone()
        if row is None:
            raise ApiError(41050, "invalid welcome_code")
        if row["used_at"] is not None or row["chat_started"] or call.now > row["issued_at"] + call.sim.config.welcome_window:
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


@api("wecom", "externalcontact/add_msg_template", WECOM_KINDS)
def add_msg_template(call: Call) -> dict[str, Any]:
    """A broadcast task per sender; the senders confirm it in the client (after ``broadcast_confirm_delay``)."""
    body = call.body
    chat_type = body.get("chat_type") or "single"
    if chat_type not in ("single", "group"):
        raise bad("invalid chat_type")
    _check_content(body)
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
    row = db(call).execute("SELECT * FROM msg_templates WHERE corp_id = ? AND msgid = ?", (call.account, msgid)).fetchone()
    if row is None:
        raise ApiError(41047, "invalid msgid")
    return row


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
    if template["dispatched"] and call.now < template["confirm_at"] + call.sim.config.broadcast_dispatch_seconds:
        raise ApiError(41063, "the group message is still being sent, try later")
    rows = db(call).execute("SELECT * FROM msg_template_sends WHERE msgid = ? AND userid = ? ORDER BY external_userid, "
                            "chat_id", (template["msgid"], userid)).fetchall()  # fmt: skip
    chunk, cursor = page(rows, call.body.get("cursor"), limit)
    items = []
    for r in chunk:
        item = {"userid": r["userid"], "status": r["status"], "send_time": r["send_time"]}
        item.update({"external_userid": r["external_userid"]} if r["external_userid"] else {"chat_id": r["chat_id"]})
        items.append(item)
    return {"send_list": items, "next_cursor": cursor}


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
        visible = conn.execute("SELECT COUNT(*) FROM employees WHERE corp_id = ? AND status = 1", (call.account,)).fetchone()[0]
        if visible > 1000:
            raise ApiError(81017, "owner_filter required: more than 1000 visible users")
    rows = conn.execute("SELECT chat_id, owner, status FROM group_chats WHERE corp_id = ? ORDER BY create_time, chat_id",
                        (call.account,)).fetchall()  # fmt: skip
    rows = [r for r in rows if (not owners or r["owner"] in owners) and (status == 0 or r["status"] == status)]
    chunk, cursor = page(rows, body.get("cursor"), limit)
    return {"group_chat_list": [{"chat_id": r["chat_id"], "status": r["status"]} for r in chunk], "next_cursor": cursor}


@api("wecom", "externalcontact/groupchat/get", WECOM_KINDS)
def groupchat_get(call: Call) -> dict[str, Any]:
    chat = need(call.body.get("chat_id"), "chat_id")
    conn = db(call)
    group = conn.execute("SELECT * FROM group_chats WHERE corp_id = ? AND chat_id = ?", (call.account, chat)).fetchone()
    if group is None:
        raise ApiError(40050, "invalid chatid")
    need_name = bool(call.body.get("need_name"))
    members = []
    for m in conn.execute("SELECT * FROM group_members WHERE corp_id = ? AND chat_id = ? ORDER BY join_time, userid",
                          (call.account, chat)):  # fmt: skip
        item: dict[str, Any] = {"userid": m["userid"], "type": m["type"], "join_time": m["join_time"],
                                "join_scene": m["join_scene"], "group_nickname": ""}  # fmt: skip
        if m["type"] == 2 and m["unionid"]:
            item["unionid"] = m["unionid"]
        if m["invitor"]:
            item["invitor"] = {"userid": m["invitor"]}
        if need_name:
            item["name"] = m["name"]
        members.append(item)
    return {"group_chat": {"chat_id": chat, "name": group["name"], "owner": group["owner"],
                           "create_time": group["create_time"], "notice": group["notice"], "member_list": members,
                           "admin_list": [], "member_version": actions.member_version_hash(chat, group["member_version"])}}  # fmt: skip


# --- transfers ------------------------------------------------------------------------------------------


def _transfer(call: Call, kind: str) -> dict[str, Any]:
    body = call.body
    old, new = need(body.get("handover_userid"), "handover_userid"), need(body.get("takeover_userid"), "takeover_userid")
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
    old, new = need(body.get("handover_userid"), "handover_userid"), need(body.get("takeover_userid"), "takeover_userid")
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
        userid, external = str(item.get("userid", "")), str(item.get("exteranalopenid", ""))  # WeCom's spelling
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
