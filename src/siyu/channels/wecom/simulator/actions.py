"""What people do in the WeChat / WeCom clients and the admin console, and what WeCom does by itself.

Each action changes the state and queues the callbacks WeCom would send (protocol document §3), in one
transaction. These are the only places that queue callbacks: changes made through the API never do.

| action | state | callback |
|---|---|---|
| ``scan`` | external contact (per corp, by unionid), follow relation with ``state``, ``add_way`` 1, welcome code | ``change_external_contact/add_external_contact`` with State and WelcomeCode |
| ``delete`` by customer | relation kept one-way (``customer_deleted``) | ``del_follow_user`` |
| ``delete`` by employee | relation and its tags removed | ``del_external_contact`` |
| ``message`` | chat message (archived only if the customer agreed); welcome code can no longer be used | ``msgaudit_notify`` when archived |
| ``agree`` / ``disagree`` | archive consent, ``agree``/``disagree`` message in the archive | ``msg_audit_approved`` (agree) |
| ``create_group`` / ``join_group`` / ``leave_group`` | group chat, members, member version | ``change_external_chat`` create / update add_member, del_member |
| ``scan_group_code`` | member in the first group of a join way with room (a new group when all are full and ``auto_create_room``) | ``create`` (new group), ``update/add_member`` |
| ``change_group`` | group name, owner, or dismissed | ``update/change_name``, ``update/change_owner``, ``dismiss`` |
| ``tag`` (member edits tags in the client) | follow tags | ``edit_external_contact`` |
| ``admin_tag`` (admin console) | corp tag (and group) | ``change_external_tag/create`` |
| ``resign`` | member status 5 (quit), customers become unassigned | ``change_contact/delete_user`` |
| ``refuse_transfer`` | waiting transfer → refused (3) | ``transfer_fail`` (customer_refused) |
| ``follow_oa`` / ``unfollow_oa`` | official-account follower (openid per account, unionid) | ``subscribe`` (``qrscene_…``) / ``SCAN`` / ``unsubscribe`` |
| ``tick`` (WeCom itself) | transfers taken over after 24 h; broadcasts dispatched once confirmed | ``del_external_contact`` (DELETE_BY_TRANSFER), ``add_external_contact`` for the takeover |
"""

from __future__ import annotations

import calendar
import hashlib
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from siyu.channels.wecom.simulator import delivery, events, ids
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.errors import ActionError
from siyu.channels.wecom.simulator.state import corp_row
from siyu.channels.wecom.simulator.store import Store, dumps, loads

CHINA = timezone(timedelta(hours=8))


class Sim:
    """The simulator's state, knobs and a way to wake the callback dispatcher (when one runs in this process)."""

    def __init__(
        self, store: Store, config: SimConfig | None = None, wake: Callable[[], None] = lambda: None
    ):
        self.store, self.config, self.wake = store, config or SimConfig(), wake

    def now(self) -> float:
        return self.store.now()


# --- lookups --------------------------------------------------------------------------------------------


def _employee(db: sqlite3.Connection, corp_id: str, userid: str, *, active: bool = True) -> sqlite3.Row:
    row = db.execute("SELECT * FROM employees WHERE corp_id = ? AND userid = ?", (corp_id, userid)).fetchone()
    if row is None:
        raise ActionError(f"no employee {userid!r} in {corp_id}")
    if active and row["status"] != 1:
        raise ActionError(f"employee {userid!r} has left")
    return row


def ensure_contact(
    db: sqlite3.Connection, corp_id: str, union: str, name: str, now: float, gender: int = 0
) -> str:
    """The corp's external_userid for a WeChat user (created on first sight; the name follows the user)."""
    db.execute("INSERT INTO wechat_users (unionid, name, gender) VALUES (?, ?, ?) "
               "ON CONFLICT(unionid) DO UPDATE SET name = excluded.name", (union, name, gender))  # fmt: skip
    external = ids.external_userid(corp_id, union)
    db.execute(
        "INSERT INTO external_contacts (corp_id, external_userid, unionid, name, gender, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(corp_id, external_userid) DO UPDATE SET name = excluded.name",
        (corp_id, external, union, name, gender, now),
    )
    return external


def resolve_customer(
    db: sqlite3.Connection, corp_id: str, now: float, *, external_userid: str | None = None,
    unionid: str | None = None, name: str | None = None,
) -> tuple[str, str]:  # fmt: skip
    """(external_userid, unionid) of a customer named by external_userid, unionid or (a new person's) name."""
    if external_userid:
        row = db.execute("SELECT unionid FROM external_contacts WHERE corp_id = ? AND external_userid = ?",
                         (corp_id, external_userid)).fetchone()  # fmt: skip
        if row is None:
            raise ActionError(f"no external contact {external_userid!r}")
        return external_userid, row["unionid"]
    if unionid:
        known = db.execute("SELECT name FROM wechat_users WHERE unionid = ?", (unionid,)).fetchone()
        person = name or (known["name"] if known else "微信用户")
        return ensure_contact(db, corp_id, unionid, person, now), unionid
    if name:
        union = ids.unionid()
        return ensure_contact(db, corp_id, union, name, now), union
    raise ActionError("name the customer: external_userid, unionid or name")


def _follow(db: sqlite3.Connection, corp_id: str, userid: str, external: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM follows WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                      (corp_id, userid, external)).fetchone()  # fmt: skip


def _the_follow_user(db: sqlite3.Connection, corp_id: str, external: str, userid: str | None) -> str:
    if userid:
        return userid
    rows = db.execute("SELECT userid FROM follows WHERE corp_id = ? AND external_userid = ? ORDER BY createtime",
                      (corp_id, external)).fetchall()  # fmt: skip
    if len(rows) != 1:
        raise ActionError("name the employee (userid)" if rows else "the customer follows no employee")
    return rows[0]["userid"]


def _enqueue(sim: Sim, db: sqlite3.Connection, corp_id: str, plaintext: str, summary: str) -> int:
    return delivery.enqueue_wecom(db, corp_row(db, corp_id), plaintext, summary=summary, now=sim.now())


def contact_way_users(db: sqlite3.Connection, corp_id: str, body: dict[str, Any]) -> list[str]:
    """Members a contact way can route to: its users, then active members of its departments (and below)."""
    users = [u for u in body.get("user") or [] if isinstance(u, str)]
    parties = {int(p) for p in body.get("party") or [] if str(p).isdigit()}
    if parties:
        tree = {r["id"]: r["parentid"] for r in db.execute("SELECT id, parentid FROM departments WHERE corp_id = ?",
                                                           (corp_id,))}  # fmt: skip

        def under(dept: int) -> bool:
            for _ in range(64):  # bounded walk up the tree
                if dept in parties:
                    return True
                if dept not in tree or tree[dept] == 0:
                    return False
                dept = tree[dept]
            return False

        for row in db.execute("SELECT userid, department FROM employees WHERE corp_id = ? AND status = 1 "
                              "AND contact_enabled = 1 ORDER BY userid", (corp_id,)):  # fmt: skip
            if row["userid"] not in users and any(under(d) for d in loads(row["department"]) or []):
                users.append(row["userid"])
    return users


# --- customers and employees ----------------------------------------------------------------------------


def scan(
    sim: Sim, *, state: str = "", config_id: str = "", name: str, unionid: str | None = None,
    userid: str | None = None, corp_id: str | None = None, gender: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """A WeChat user scans a contact way's QR code and adds the member (skip_verify or accepted at once)."""
    now = sim.now()
    with sim.store.tx() as db:
        sql, params = "SELECT * FROM contact_ways WHERE ", []
        if config_id:
            sql += "config_id = ?"
            params.append(config_id)
        else:
            sql += "state = ?"
            params.append(state)
        if corp_id:
            sql += " AND corp_id = ?"
            params.append(corp_id)
        ways = db.execute(sql + " ORDER BY created_at DESC", params).fetchall()
        if not ways:
            raise ActionError(
                f"no contact way with {'config_id ' + config_id if config_id else 'state ' + repr(state)}"
            )
        way = ways[0]
        corp, body = way["corp_id"], loads(way["body"])
        if body.get("is_temp"):
            if way["used"]:
                raise ActionError("this temporary QR code was already used")
            if now > way["created_at"] + int(body.get("expires_in") or 7 * 86400):
                raise ActionError("this temporary QR code has expired")
        candidates = contact_way_users(db, corp, body)
        active = {r["userid"] for r in db.execute(
            "SELECT userid FROM employees WHERE corp_id = ? AND status = 1", (corp,))}  # fmt: skip
        candidates = [u for u in candidates if u in active]
        if not candidates:
            raise ActionError("the contact way has no active member")
        if userid:
            if userid not in candidates:
                raise ActionError(f"{userid!r} is not a member of this contact way")
            member = userid
        else:  # WeCom spreads adds over a multi-member code; we rotate in order
            member = candidates[way["rotation"] % len(candidates)]
            db.execute("UPDATE contact_ways SET rotation = rotation + 1 WHERE corp_id = ? AND config_id = ?",
                       (corp, way["config_id"]))  # fmt: skip
        union = unionid or ids.unionid()
        external = ensure_contact(db, corp, union, name, now, gender)
        existing = _follow(db, corp, member, external)
        if existing is not None and not existing["customer_deleted"]:
            return {"corp_id": corp, "userid": member, "external_userid": external, "unionid": union,
                    "welcome_code": None, "event": None, "note": "already friends: nothing happens"}  # fmt: skip
        if existing is not None:
            db.execute("UPDATE follows SET customer_deleted = 0, createtime = ?, add_way = 1, state = ? "
                       "WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                       (int(now), way["state"], corp, member, external))  # fmt: skip
        else:
            db.execute(
                "INSERT INTO follows (corp_id, userid, external_userid, createtime, add_way, state, oper_userid) "
                "VALUES (?, ?, ?, ?, 1, ?, ?)",
                (corp, member, external, int(now), way["state"], external),
            )
        if body.get("is_temp"):
            db.execute("UPDATE contact_ways SET used = 1 WHERE corp_id = ? AND config_id = ?",
                       (corp, way["config_id"]))  # fmt: skip
        code = ids.welcome_code()
        db.execute("INSERT INTO welcome_codes (code, corp_id, userid, external_userid, issued_at) "
                   "VALUES (?, ?, ?, ?, ?)", (code, corp, member, external, now))  # fmt: skip
        xml = events.change_external_contact(
            corp, int(now), "add_external_contact", ("UserID", member), ("ExternalUserID", external),
            ("State", way["state"]), ("WelcomeCode", code),
        )  # fmt: skip
        delivery_id = _enqueue(sim, db, corp, xml, f"add_external_contact {member} ← {name}")
    sim.wake()
    return {"corp_id": corp, "userid": member, "external_userid": external, "unionid": union, "welcome_code": code,
            "event": "add_external_contact", "delivery": delivery_id}  # fmt: skip


def delete(
    sim: Sim, *, corp_id: str, external_userid: str, userid: str | None = None, by: str = "customer"
) -> dict[str, Any]:
    """The customer deletes the member (``del_follow_user``, one-way relation remains) or the member deletes the
    customer (``del_external_contact``, relation gone: APIs answer 84061)."""
    if by not in ("customer", "employee"):
        raise ActionError("by is customer or employee")
    now = sim.now()
    with sim.store.tx() as db:
        member = _the_follow_user(db, corp_id, external_userid, userid)
        follow = _follow(db, corp_id, member, external_userid)
        if follow is None:
            raise ActionError(f"{member} and {external_userid} are not connected")
        key = (corp_id, member, external_userid)
        if by == "customer":
            if follow["customer_deleted"]:
                raise ActionError("the customer already deleted this member")
            db.execute("UPDATE follows SET customer_deleted = 1 WHERE corp_id = ? AND userid = ? "
                       "AND external_userid = ?", key)  # fmt: skip
            change = "del_follow_user"
        else:
            db.execute("DELETE FROM follows WHERE corp_id = ? AND userid = ? AND external_userid = ?", key)
            db.execute(
                "DELETE FROM follow_tags WHERE corp_id = ? AND userid = ? AND external_userid = ?", key
            )
            change = "del_external_contact"
        xml = events.change_external_contact(
            corp_id, int(now), change, ("UserID", member), ("ExternalUserID", external_userid)
        )
        delivery_id = _enqueue(sim, db, corp_id, xml, f"{change} {member} / {external_userid}")
    sim.wake()
    return {"event": change, "userid": member, "external_userid": external_userid, "delivery": delivery_id}


def archived_for(db: sqlite3.Connection, corp_id: str, userid: str, external: str) -> bool:
    row = db.execute("SELECT status FROM archive_agreements WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                     (corp_id, userid, external)).fetchone()  # fmt: skip
    return row is not None and row["status"] in ("Agree", "Default_Agree")


def record_message(
    db: sqlite3.Connection, *, corp_id: str, kind: str, sender: str, receiver: str, now: float, msgtype: str,
    payload: dict[str, Any], archived: bool, roomid: str = "",
) -> tuple[int, str]:  # fmt: skip
    msgid = ids.msgid()
    cur = db.execute(
        "INSERT INTO messages (corp_id, msgid, kind, sender, receiver, roomid, msgtime, msgtype, payload, archived) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            corp_id,
            msgid,
            kind,
            sender,
            receiver,
            roomid,
            int(now * 1000),
            msgtype,
            dumps(payload),
            int(archived),
        ),
    )
    return int(cur.lastrowid or 0), msgid


def message(
    sim: Sim, *, corp_id: str, external_userid: str, text: str, userid: str | None = None,
    sender: str = "customer",
) -> dict[str, Any]:  # fmt: skip
    """A 1:1 chat message between a customer and a member. Once they chat, the welcome code is spent (41051);
    archived (and announced by ``msgaudit_notify``) only when the customer agreed to archiving."""
    now = sim.now()
    with sim.store.tx() as db:
        member = _the_follow_user(db, corp_id, external_userid, userid)
        follow = _follow(db, corp_id, member, external_userid)
        if follow is None or follow["customer_deleted"]:
            raise ActionError(f"{member} and {external_userid} are not friends")
        frm, to = (external_userid, member) if sender == "customer" else (member, external_userid)
        archived = archived_for(db, corp_id, member, external_userid)
        seq, msgid = record_message(db, corp_id=corp_id, kind="chat", sender=frm, receiver=to, now=now,
                                    msgtype="text", payload={"content": text}, archived=archived)  # fmt: skip
        db.execute("UPDATE welcome_codes SET chat_started = 1 WHERE corp_id = ? AND userid = ? AND external_userid = ?",
                   (corp_id, member, external_userid))  # fmt: skip
        delivery_id = None
        if archived:
            corp = corp_row(db, corp_id)
            xml = events.wecom_event(
                corp_id, int(now), "msgaudit_notify", None, ("AgentID", corp["agent_id"] or 0)
            )
            delivery_id = _enqueue(sim, db, corp_id, xml, "msgaudit_notify")
    sim.wake()
    return {"msgid": msgid, "seq": seq, "archived": archived, "delivery": delivery_id,
            "event": "msgaudit_notify" if archived else None}  # fmt: skip


def agree(
    sim: Sim, *, corp_id: str, external_userid: str, userid: str | None = None, agreed: bool = True
) -> dict[str, Any]:
    """The customer agrees (or refuses) to conversation archiving with a member."""
    now = sim.now()
    status = "Agree" if agreed else "Disagree"
    with sim.store.tx() as db:
        member = _the_follow_user(db, corp_id, external_userid, userid)
        if _follow(db, corp_id, member, external_userid) is None:
            raise ActionError(f"{member} and {external_userid} are not connected")
        db.execute(
            "INSERT INTO archive_agreements (corp_id, userid, external_userid, status, changed_at) VALUES "
            "(?, ?, ?, ?, ?) ON CONFLICT(corp_id, userid, external_userid) DO UPDATE SET status = excluded.status, "
            "changed_at = excluded.changed_at",
            (corp_id, member, external_userid, status, int(now)),
        )
        kind = "agree" if agreed else "disagree"
        payload = {"userid": external_userid, f"{kind}_time": int(now * 1000)}
        record_message(db, corp_id=corp_id, kind="consent", sender=external_userid, receiver=member, now=now,
                       msgtype=kind, payload=payload, archived=True)  # fmt: skip
        delivery_id = None
        if agreed:
            xml = events.change_external_contact(
                corp_id,
                int(now),
                "msg_audit_approved",
                ("UserID", member),
                ("ExternalUserID", external_userid),
            )
            delivery_id = _enqueue(sim, db, corp_id, xml, f"msg_audit_approved {member} / {external_userid}")
    sim.wake()
    return {"status": status, "userid": member, "delivery": delivery_id}


def tag(
    sim: Sim, *, corp_id: str, external_userid: str, userid: str | None = None, add: list[str] = (),
    remove: list[str] = (),
) -> dict[str, Any]:  # fmt: skip
    """The member edits the customer's corp tags in the client (tag ids or names) → ``edit_external_contact``."""
    now = sim.now()
    with sim.store.tx() as db:
        member = _the_follow_user(db, corp_id, external_userid, userid)
        if _follow(db, corp_id, member, external_userid) is None:
            raise ActionError(f"{member} and {external_userid} are not connected")

        def tag_ids(values: list[str]) -> list[str]:
            found = []
            for value in values:
                row = db.execute("SELECT tag_id FROM tags WHERE corp_id = ? AND deleted = 0 AND (tag_id = ? OR name = ?)",
                                 (corp_id, value, value)).fetchone()  # fmt: skip
                if row is None:
                    raise ActionError(f"no corp tag {value!r}")
                found.append(row["tag_id"])
            return found

        key = (corp_id, member, external_userid)
        for tag_id in tag_ids(list(add)):
            db.execute("INSERT OR IGNORE INTO follow_tags (corp_id, userid, external_userid, tag_id) VALUES (?, ?, ?, ?)",
                       (*key, tag_id))  # fmt: skip
        for tag_id in tag_ids(list(remove)):
            db.execute("DELETE FROM follow_tags WHERE corp_id = ? AND userid = ? AND external_userid = ? AND tag_id = ?",
                       (*key, tag_id))  # fmt: skip
        xml = events.change_external_contact(
            corp_id,
            int(now),
            "edit_external_contact",
            ("UserID", member),
            ("ExternalUserID", external_userid),
        )
        delivery_id = _enqueue(sim, db, corp_id, xml, f"edit_external_contact {member} / {external_userid}")
    sim.wake()
    return {"event": "edit_external_contact", "delivery": delivery_id}


def admin_tag(sim: Sim, *, corp_id: str, group_name: str, tag_name: str) -> dict[str, Any]:
    """An administrator creates a corp tag in the admin console → ``change_external_tag/create``."""
    now = sim.now()
    with sim.store.tx() as db:
        corp_row(db, corp_id)
        group = db.execute("SELECT group_id FROM tag_groups WHERE corp_id = ? AND name = ? AND deleted = 0",
                           (corp_id, group_name)).fetchone()  # fmt: skip
        queued = []
        if group is None:
            group_id = ids.tag_id()
            db.execute("INSERT INTO tag_groups (corp_id, group_id, name, create_time) VALUES (?, ?, ?, ?)",
                       (corp_id, group_id, group_name, int(now)))  # fmt: skip
            xml = events.change_external_tag(corp_id, int(now), "create", group_id, "tag_group")
            queued.append(_enqueue(sim, db, corp_id, xml, f"change_external_tag create group {group_name}"))
        else:
            group_id = group["group_id"]
        if db.execute("SELECT 1 FROM tags WHERE corp_id = ? AND group_id = ? AND name = ? AND deleted = 0",
                      (corp_id, group_id, tag_name)).fetchone():  # fmt: skip
            raise ActionError(f"tag {tag_name!r} exists in {group_name!r}")
        tag_id = ids.tag_id()
        db.execute("INSERT INTO tags (corp_id, tag_id, group_id, name, create_time) VALUES (?, ?, ?, ?, ?)",
                   (corp_id, tag_id, group_id, tag_name, int(now)))  # fmt: skip
        xml = events.change_external_tag(corp_id, int(now), "create", tag_id, "tag")
        queued.append(_enqueue(sim, db, corp_id, xml, f"change_external_tag create tag {tag_name}"))
    sim.wake()
    return {"group_id": group_id, "tag_id": tag_id, "deliveries": queued}


def resign(sim: Sim, *, corp_id: str, userid: str) -> dict[str, Any]:
    """The member leaves the corp: status 5, customers wait for resigned inheritance."""
    now = sim.now()
    with sim.store.tx() as db:
        _employee(db, corp_id, userid)
        db.execute("UPDATE employees SET status = 5, resigned_at = ? WHERE corp_id = ? AND userid = ?",
                   (now, corp_id, userid))  # fmt: skip
        xml = events.wecom_event(corp_id, int(now), "change_contact", "delete_user", ("UserID", userid))
        delivery_id = _enqueue(sim, db, corp_id, xml, f"change_contact delete_user {userid}")
    sim.wake()
    return {"event": "delete_user", "delivery": delivery_id}


def refuse_transfer(sim: Sim, *, corp_id: str, external_userid: str) -> dict[str, Any]:
    """The customer refuses a waiting on-job transfer → status 3 and ``transfer_fail`` (customer_refused)."""
    now = sim.now()
    with sim.store.tx() as db:
        row = db.execute("SELECT * FROM transfers WHERE corp_id = ? AND external_userid = ? AND status = 2 "
                         "ORDER BY id DESC", (corp_id, external_userid)).fetchone()  # fmt: skip
        if row is None:
            raise ActionError("no waiting transfer for this customer")
        db.execute("UPDATE transfers SET status = 3 WHERE id = ?", (row["id"],))
        xml = events.change_external_contact(
            corp_id, int(now), "transfer_fail", ("FailReason", "customer_refused"), ("UserID", row["takeover"]),
            ("ExternalUserID", external_userid),
        )  # fmt: skip
        delivery_id = _enqueue(sim, db, corp_id, xml, f"transfer_fail {external_userid}")
    sim.wake()
    return {"event": "transfer_fail", "delivery": delivery_id}


# --- group chats ----------------------------------------------------------------------------------------


def member_version_hash(chat_id: str, version: int) -> str:
    return hashlib.md5(f"{chat_id}:{version}".encode(), usedforsecurity=False).hexdigest()


def create_group(sim: Sim, *, corp_id: str, owner: str, name: str) -> dict[str, Any]:
    """A member creates a customer group in the client → ``change_external_chat/create``."""
    now = sim.now()
    with sim.store.tx() as db:
        _employee(db, corp_id, owner)
        chat = ids.chat_id()
        db.execute("INSERT INTO group_chats (corp_id, chat_id, name, owner, create_time) VALUES (?, ?, ?, ?, ?)",
                   (corp_id, chat, name, owner, int(now)))  # fmt: skip
        db.execute("INSERT INTO group_members (corp_id, chat_id, userid, type, join_time, join_scene) "
                   "VALUES (?, ?, ?, 1, ?, 1)", (corp_id, chat, owner, int(now)))  # fmt: skip
        xml = events.change_external_chat(corp_id, int(now), "create", ("ChatId", chat))
        delivery_id = _enqueue(sim, db, corp_id, xml, f"change_external_chat create {name}")
    sim.wake()
    return {"chat_id": chat, "delivery": delivery_id}


def _group(db: sqlite3.Connection, corp_id: str, chat: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM group_chats WHERE corp_id = ? AND (chat_id = ? OR name = ?) AND status = 0",
                     (corp_id, chat, chat)).fetchone()  # fmt: skip
    if row is None:
        raise ActionError(f"no group chat {chat!r}")
    return row


def join_group(
    sim: Sim, *, corp_id: str, chat_id: str, external_userid: str | None = None, unionid: str | None = None,
    name: str | None = None, scene: str = "qr",
) -> dict[str, Any]:  # fmt: skip
    """A customer joins a group (scanning the group QR, or invited) → ``update/add_member``."""
    now = sim.now()
    with sim.store.tx() as db:
        group = _group(db, corp_id, chat_id)
        external, union = resolve_customer(db, corp_id, now, external_userid=external_userid, unionid=unionid,
                                           name=name)  # fmt: skip
        delivery_id = _add_member(sim, db, corp_id, group, external, union, now, scene=scene)
    sim.wake()
    return {"chat_id": group["chat_id"], "external_userid": external, "unionid": union, "delivery": delivery_id}


def _add_member(
    sim: Sim, db: sqlite3.Connection, corp_id: str, group: sqlite3.Row, external: str, union: str, now: float, *,
    scene: str = "qr", state: str = "",
) -> int:  # fmt: skip
    chat = group["chat_id"]
    if db.execute("SELECT 1 FROM group_members WHERE corp_id = ? AND chat_id = ? AND userid = ?",
                  (corp_id, chat, external)).fetchone():  # fmt: skip
        raise ActionError("already a member of this group")
    person = db.execute("SELECT name FROM wechat_users WHERE unionid = ?", (union,)).fetchone()
    # groupchat/get codes: 1 direct invite, 2 invite link, 3 QR; the event: 0 invited or link, 3 QR (§3.3)
    detail_scene, event_scene = (3, 3) if scene == "qr" else (1, 0)
    db.execute(
        "INSERT INTO group_members (corp_id, chat_id, userid, type, unionid, join_time, join_scene, invitor, name, "
        "state) VALUES (?, ?, ?, 2, ?, ?, ?, ?, ?, ?)",
        (corp_id, chat, external, union, int(now), detail_scene, "" if scene == "qr" else group["owner"],
         person["name"] if person else "", state),
    )  # fmt: skip
    last = group["member_version"]
    db.execute("UPDATE group_chats SET member_version = ? WHERE corp_id = ? AND chat_id = ?",
               (last + 1, corp_id, chat))  # fmt: skip
    xml = events.change_external_chat(
        corp_id, int(now), "update", ("ChatId", chat), ("UpdateDetail", "add_member"), ("JoinScene", event_scene),
        ("MemChangeCnt", 1), ("MemChangeList", [external]), ("LastMemVer", member_version_hash(chat, last)),
        ("CurMemVer", member_version_hash(chat, last + 1)),
    )  # fmt: skip
    return _enqueue(sim, db, corp_id, xml, f"change_external_chat add_member {group['name']}")


def scan_group_code(
    sim: Sim, *, corp_id: str, code: str, external_userid: str | None = None, unionid: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A customer scans a group live code (a join way, by ``config_id`` or ``state``): WeCom puts them in the
    first listed group with room (``group_qr_capacity``); when every group is full and ``auto_create_room`` is on,
    it opens a new group named ``room_base_name`` + ``room_base_id`` (owned by the first group's owner), adds it
    to the join way and counts the base id up → ``create`` then ``update/add_member``."""
    now = sim.now()
    queued: list[int] = []
    with sim.store.tx() as db:
        way = db.execute("SELECT * FROM join_ways WHERE corp_id = ? AND (config_id = ? OR (state = ? AND state != ''))",
                         (corp_id, code, code)).fetchone()  # fmt: skip
        if way is None:
            raise ActionError(f"no group live code {code!r}")
        chats = loads(way["chat_id_list"]) or []
        group = None
        for chat in chats:
            row = db.execute("SELECT * FROM group_chats WHERE corp_id = ? AND chat_id = ? AND status = 0",
                             (corp_id, chat)).fetchone()  # fmt: skip
            if row is None:
                continue
            count = db.execute("SELECT COUNT(*) FROM group_members WHERE corp_id = ? AND chat_id = ?",
                               (corp_id, chat)).fetchone()[0]  # fmt: skip
            if count < sim.config.group_qr_capacity:
                group = row
                break
        if group is None:
            if not way["auto_create_room"] or not chats:
                raise ActionError("every group of this code is full")
            first = _group(db, corp_id, chats[0])
            base_id = way["room_base_id"] or 1
            chat = ids.chat_id()
            db.execute("INSERT INTO group_chats (corp_id, chat_id, name, owner, create_time) VALUES (?, ?, ?, ?, ?)",
                       (corp_id, chat, f"{way['room_base_name']}{base_id}", first["owner"], int(now)))  # fmt: skip
            db.execute("INSERT INTO group_members (corp_id, chat_id, userid, type, join_time, join_scene) "
                       "VALUES (?, ?, ?, 1, ?, 1)", (corp_id, chat, first["owner"], int(now)))  # fmt: skip
            db.execute("UPDATE join_ways SET chat_id_list = ?, room_base_id = ? WHERE config_id = ?",
                       (dumps([*chats, chat]), base_id + 1, way["config_id"]))  # fmt: skip
            xml = events.change_external_chat(corp_id, int(now), "create", ("ChatId", chat))
            queued.append(_enqueue(sim, db, corp_id, xml, f"change_external_chat create {way['room_base_name']}{base_id}"))
            group = _group(db, corp_id, chat)
        external, union = resolve_customer(db, corp_id, now, external_userid=external_userid, unionid=unionid,
                                           name=name)  # fmt: skip
        queued.append(_add_member(sim, db, corp_id, group, external, union, now, scene="qr", state=way["state"]))
    sim.wake()
    return {"chat_id": group["chat_id"], "external_userid": external, "unionid": union, "deliveries": queued}


def change_group(
    sim: Sim, *, corp_id: str, chat_id: str, name: str | None = None, owner: str | None = None,
    dismiss: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The owner renames the group (``update/change_name``), hands it to another member (``change_owner``) or
    dismisses it (``dismiss``)."""
    now = sim.now()
    with sim.store.tx() as db:
        group = _group(db, corp_id, chat_id)
        chat = group["chat_id"]
        if dismiss:
            db.execute("UPDATE group_chats SET status = -1 WHERE corp_id = ? AND chat_id = ?", (corp_id, chat))
            db.execute("DELETE FROM group_members WHERE corp_id = ? AND chat_id = ?", (corp_id, chat))
            xml = events.change_external_chat(corp_id, int(now), "dismiss", ("ChatId", chat))
            detail = "dismiss"
        elif name:
            db.execute("UPDATE group_chats SET name = ? WHERE corp_id = ? AND chat_id = ?", (name, corp_id, chat))
            xml = events.change_external_chat(corp_id, int(now), "update", ("ChatId", chat),
                                              ("UpdateDetail", "change_name"))  # fmt: skip
            detail = "change_name"
        elif owner:
            _employee(db, corp_id, owner)
            db.execute("UPDATE group_chats SET owner = ? WHERE corp_id = ? AND chat_id = ?", (owner, corp_id, chat))
            db.execute("INSERT OR IGNORE INTO group_members (corp_id, chat_id, userid, type, join_time, join_scene) "
                       "VALUES (?, ?, ?, 1, ?, 1)", (corp_id, chat, owner, int(now)))  # fmt: skip
            xml = events.change_external_chat(corp_id, int(now), "update", ("ChatId", chat),
                                              ("UpdateDetail", "change_owner"))  # fmt: skip
            detail = "change_owner"
        else:
            raise ActionError("say what changes: name, owner or dismiss")
        delivery_id = _enqueue(sim, db, corp_id, xml, f"change_external_chat {detail} {group['name']}")
    sim.wake()
    return {"chat_id": chat, "event": detail, "delivery": delivery_id}


def leave_group(sim: Sim, *, corp_id: str, chat_id: str, external_userid: str) -> dict[str, Any]:
    now = sim.now()
    with sim.store.tx() as db:
        group = _group(db, corp_id, chat_id)
        chat = group["chat_id"]
        if db.execute("DELETE FROM group_members WHERE corp_id = ? AND chat_id = ? AND userid = ?",
                      (corp_id, chat, external_userid)).rowcount != 1:  # fmt: skip
            raise ActionError("not a member of this group")
        last = group["member_version"]
        db.execute("UPDATE group_chats SET member_version = ? WHERE corp_id = ? AND chat_id = ?",
                   (last + 1, corp_id, chat))  # fmt: skip
        xml = events.change_external_chat(
            corp_id, int(now), "update", ("ChatId", chat), ("UpdateDetail", "del_member"), ("QuitScene", 0),
            ("MemChangeCnt", 1), ("MemChangeList", [external_userid]), ("LastMemVer", member_version_hash(chat, last)),
            ("CurMemVer", member_version_hash(chat, last + 1)),
        )  # fmt: skip
        delivery_id = _enqueue(sim, db, corp_id, xml, f"change_external_chat del_member {group['name']}")
    sim.wake()
    return {"chat_id": chat, "delivery": delivery_id}


# --- the official account -------------------------------------------------------------------------------


def _oa(db: sqlite3.Connection, appid: str | None) -> sqlite3.Row:
    rows = db.execute(
        "SELECT * FROM oa_accounts WHERE appid = ? OR ? = ''", (appid or "", appid or "")
    ).fetchall()
    if len(rows) != 1:
        raise ActionError("name the official account (appid)" if rows else "no official account")
    return rows[0]


def follow_oa(
    sim: Sim, *, appid: str | None = None, unionid: str | None = None, name: str | None = None,
    scene: str | None = None, ticket: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A WeChat user follows the official account, by search or by scanning a parametric QR code (``subscribe``
    with ``EventKey`` ``qrscene_<scene>``), or scans one while already following (``SCAN``)."""
    now = sim.now()
    with sim.store.tx() as db:
        oa = _oa(db, appid)
        app = oa["appid"]
        qr = None
        if ticket or scene:
            qr = db.execute("SELECT * FROM oa_qrcodes WHERE appid = ? AND (ticket = ? OR scene_str = ? OR "
                            "(scene_id != 0 AND CAST(scene_id AS TEXT) = ?)) ORDER BY created_at DESC",
                            (app, ticket or "", scene or "", scene or "")).fetchone()  # fmt: skip
            if qr is None:
                raise ActionError("no such QR code: create it with qrcode/create first")
            if qr["expire_at"] is not None and now > qr["expire_at"]:
                raise ActionError("this QR code has expired")
        union = unionid or ids.unionid()
        if name or unionid is None:
            db.execute("INSERT INTO wechat_users (unionid, name) VALUES (?, ?) ON CONFLICT(unionid) DO UPDATE SET "
                       "name = excluded.name", (union, name or "微信用户"))  # fmt: skip
        openid = ids.openid(app, union)
        follower = db.execute(
            "SELECT * FROM oa_followers WHERE appid = ? AND openid = ?", (app, openid)
        ).fetchone()
        scene_value = "" if qr is None else (qr["scene_str"] or str(qr["scene_id"]))
        extra: list[events.Field] = []
        if follower is not None and follower["subscribe"]:
            if qr is None:
                raise ActionError("already following")
            event = "SCAN"
            extra = [("EventKey", scene_value), ("Ticket", qr["ticket"])]
        else:
            event = "subscribe"
            if qr is not None:
                extra = [("EventKey", "qrscene_" + scene_value), ("Ticket", qr["ticket"])]
            db.execute(
                "INSERT INTO oa_followers (appid, openid, unionid, subscribe, subscribe_time, subscribe_scene, qr_scene, "
                "qr_scene_str) VALUES (?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT(appid, openid) DO UPDATE SET subscribe = 1, "
                "subscribe_time = excluded.subscribe_time, subscribe_scene = excluded.subscribe_scene, "
                "qr_scene = excluded.qr_scene, qr_scene_str = excluded.qr_scene_str",
                (app, openid, union, int(now), "ADD_SCENE_QR_CODE" if qr else "ADD_SCENE_SEARCH",
                 qr["scene_id"] if qr else 0, qr["scene_str"] if qr else ""),
            )  # fmt: skip
        xml = events.oa_event(oa["original_id"], openid, int(now), event, *extra)
        delivery_id = delivery.enqueue_oa(db, oa, openid, xml, summary=f"oa {event} {openid}", now=now)
    sim.wake()
    return {"appid": app, "openid": openid, "unionid": union, "event": event, "delivery": delivery_id}


def unfollow_oa(sim: Sim, *, appid: str | None = None, openid: str) -> dict[str, Any]:
    now = sim.now()
    with sim.store.tx() as db:
        oa = _oa(db, appid)
        if db.execute("UPDATE oa_followers SET subscribe = 0 WHERE appid = ? AND openid = ? AND subscribe = 1",
                      (oa["appid"], openid)).rowcount != 1:  # fmt: skip
            raise ActionError("not following")
        xml = events.oa_event(oa["original_id"], openid, int(now), "unsubscribe")
        delivery_id = delivery.enqueue_oa(db, oa, openid, xml, summary=f"oa unsubscribe {openid}", now=now)
    sim.wake()
    return {"event": "unsubscribe", "delivery": delivery_id}


# --- what WeCom does by itself --------------------------------------------------------------------------


def month_bounds(now: float) -> tuple[int, int, int]:
    """Start and end (epoch seconds) of the calendar month in China time, and its number of days."""
    local = datetime.fromtimestamp(now, CHINA)
    days = calendar.monthrange(local.year, local.month)[1]
    start = datetime(local.year, local.month, 1, tzinfo=CHINA)
    return int(start.timestamp()), int((start + timedelta(days=days)).timestamp()), days


def tick(sim: Sim) -> int:
    """Take over transfers whose 24 h have passed; dispatch confirmed broadcasts. Returns how many were done."""
    now = sim.now()
    done = 0
    with sim.store.tx() as db:
        due = db.execute("SELECT * FROM transfers WHERE status = 2 AND started_at <= ? ORDER BY id",
                         (now - sim.config.takeover_delay,)).fetchall()  # fmt: skip
        for row in due:
            _take_over(sim, db, row, now)
            done += 1
        for template in db.execute("SELECT * FROM msg_templates WHERE dispatched = 0 AND confirm_at <= ?",
                                   (now,)).fetchall():  # fmt: skip
            _dispatch_broadcast(db, template, now)
            done += 1
    if done:
        sim.wake()
    return done


def _take_over(sim: Sim, db: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
    corp, ext, old, new = row["corp_id"], row["external_userid"], row["handover"], row["takeover"]
    db.execute("UPDATE transfers SET status = 1, takeover_time = ? WHERE id = ?", (int(now), row["id"]))
    key = (corp, old, ext)
    db.execute("DELETE FROM follows WHERE corp_id = ? AND userid = ? AND external_userid = ?", key)
    db.execute("DELETE FROM follow_tags WHERE corp_id = ? AND userid = ? AND external_userid = ?", key)
    if row["kind"] == "onjob":
        xml = events.change_external_contact(
            corp, int(now), "del_external_contact", ("UserID", old), ("ExternalUserID", ext),
            ("Source", "DELETE_BY_TRANSFER"),
        )  # fmt: skip
        _enqueue(sim, db, corp, xml, f"del_external_contact {old} / {ext} (transfer)")
    if _follow(db, corp, new, ext) is None:  # already a friend: no add event (§3.2)
        db.execute("INSERT INTO follows (corp_id, userid, external_userid, createtime, add_way, oper_userid) "
                   "VALUES (?, ?, ?, ?, 202, ?)", (corp, new, ext, int(now), new))  # fmt: skip
        xml = events.change_external_contact(
            corp, int(now), "add_external_contact", ("UserID", new), ("ExternalUserID", ext)
        )
        _enqueue(sim, db, corp, xml, f"add_external_contact {new} / {ext} (transfer)")


def _delivered(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """What a customer receives from a broadcast, one chat message each: the text (if any), then every attachment
    (``msgtype`` image / link / miniprogram / … with its own fields), as in the WeCom client."""
    out = [("text", body["text"])] if (body.get("text") or {}).get("content") else []
    return out + [(a["msgtype"], a[a["msgtype"]]) for a in body.get("attachments") or ()]


def _dispatch_broadcast(db: sqlite3.Connection, template: sqlite3.Row, now: float) -> None:
    """The sender confirmed: each customer gets it (1), or not: no longer a friend (2), or already received the
    month's allowance of broadcasts (3: as many as the month has days, the 2025 rule)."""
    corp, msgid = template["corp_id"], template["msgid"]
    body = loads(template["body"]) or {}
    start, end, cap = month_bounds(now)
    for send in db.execute("SELECT * FROM msg_template_sends WHERE msgid = ?", (msgid,)).fetchall():
        status = 1
        if send["external_userid"]:
            follow = _follow(db, corp, send["userid"], send["external_userid"])
            received = db.execute(
                "SELECT COUNT(*) FROM msg_template_sends WHERE external_userid = ? AND status = 1 AND send_time >= ? "
                "AND send_time < ?", (send["external_userid"], start, end)).fetchone()[0]  # fmt: skip
            if follow is None or follow["customer_deleted"]:
                status = 2
            elif received >= cap:
                status = 3
        elif not db.execute("SELECT 1 FROM group_chats WHERE corp_id = ? AND chat_id = ? AND status = 0",
                            (corp, send["chat_id"])).fetchone():  # fmt: skip
            status = 2
        db.execute("UPDATE msg_template_sends SET status = ?, send_time = ? WHERE msgid = ? AND userid = ? AND "
                   "external_userid = ? AND chat_id = ?",
                   (status, int(now) if status == 1 else 0, msgid, send["userid"], send["external_userid"],
                    send["chat_id"]))  # fmt: skip
        if status == 1:
            archived = bool(send["external_userid"]) and archived_for(
                db, corp, send["userid"], send["external_userid"]
            )
            for msgtype, payload in _delivered(body):
                record_message(db, corp_id=corp, kind="broadcast", sender=send["userid"],
                               receiver=send["external_userid"] or send["chat_id"], now=now, msgtype=msgtype,
                               payload=payload, archived=archived, roomid=send["chat_id"])  # fmt: skip
    db.execute("UPDATE msg_templates SET dispatched = 1 WHERE msgid = ?", (msgid,))


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
