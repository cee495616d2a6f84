"""Corp tags: ``get_corp_tag_list``, ``add_corp_tag``, ``edit_corp_tag``, ``del_corp_tag``, ``mark_tag``."""

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
    employee,
    follow,
    need,
    str_list,
)
from siyu.channels.wecom.simulator.dispatch import REGISTRY, WECOM_KINDS, Call
from siyu.channels.wecom.simulator.errors import ApiError

api = REGISTRY.add


# --- corp tags ------------------------------------------------------------------------------------------


def _group_json(
    conn: sqlite3.Connection, group: sqlite3.Row, tags: list[sqlite3.Row], with_deleted: bool
) -> dict:
    out = {"group_id": group["group_id"], "group_name": group["name"], "create_time": group["create_time"],
           "order": group["order"], "tag": []}  # fmt: skip
    if with_deleted:
        out["deleted"] = bool(group["deleted"])
    for tag in tags:
        item = {
            "id": tag["tag_id"],
            "name": tag["name"],
            "create_time": tag["create_time"],
            "order": tag["order"],
        }
        if with_deleted:
            item["deleted"] = bool(tag["deleted"])
        out["tag"].append(item)
    return out


@api("wecom", "externalcontact/get_corp_tag_list", WECOM_KINDS)
def get_corp_tag_list(call: Call) -> dict[str, Any]:
    conn = db(call)
    group_ids = str_list(call.body.get("group_id"), "group_id")
    tag_ids = str_list(call.body.get("tag_id"), "tag_id")
    groups = conn.execute('SELECT * FROM tag_groups WHERE corp_id = ? ORDER BY "order" DESC, create_time, rowid',
                          (call.account,)).fetchall()  # fmt: skip
    tags = conn.execute('SELECT * FROM tags WHERE corp_id = ? ORDER BY "order" DESC, create_time, rowid',
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
        total = conn.execute(
            "SELECT COUNT(*) FROM tags WHERE corp_id = ? AND deleted = 0", (call.account,)
        ).fetchone()[0]
        if total + len(names) > v.CORP_TAGS_MAX:
            raise bad(f"corp tags exceed max count {v.CORP_TAGS_MAX}")
        created = []
        for name, order in zip(names, orders, strict=True):
            tag_id = ids.tag_id()
            conn.execute('INSERT INTO tags (corp_id, tag_id, group_id, name, "order", create_time) VALUES (?, ?, ?, ?, ?, ?)',
                         (call.account, tag_id, group["group_id"], name, order, int(call.now)))  # fmt: skip
            created.append(
                conn.execute(
                    "SELECT * FROM tags WHERE corp_id = ? AND tag_id = ?", (call.account, tag_id)
                ).fetchone()
            )
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
            sql = f"UPDATE {table} SET name = ? WHERE corp_id = ? AND {key} = ?"  # noqa: S608 - fixed names
            conn.execute(sql, (name, call.account, item_id))
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
            conn.execute(
                "UPDATE tag_groups SET deleted = 1 WHERE corp_id = ? AND group_id = ?",
                (call.account, group_id),
            )
            tag_ids += [r["tag_id"] for r in conn.execute("SELECT tag_id FROM tags WHERE corp_id = ? AND group_id = ? "
                                                          "AND deleted = 0", (call.account, group_id))]  # fmt: skip
        for tag_id in tag_ids:
            conn.execute(
                "UPDATE tags SET deleted = 1 WHERE corp_id = ? AND tag_id = ?", (call.account, tag_id)
            )
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
