"""The simulator's own state: one SQLite file (``$SIYU_VAR_DIR/wecom-sim.sqlite3``), never Siyu's database.

Every thread gets its own connection (WAL, busy timeout), so the HTTP server's threads, the callback dispatcher
and a ``siyu wecom-sim`` CLI process can all use the file at once; writes run inside ``tx()``
(``BEGIN IMMEDIATE`` … ``COMMIT``). The state survives restarts.

The simulator's clock is real time plus an offset kept in the file (``advance_clock``), so tests and the CLI can
jump past a token's expiry, the 20 s welcome window or the 24 h transfer takeover without sleeping. Callback
retry timing uses real time: it is about the receiver, not about WeCom's business rules.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS corps (
  corp_id TEXT PRIMARY KEY, name TEXT NOT NULL, token TEXT NOT NULL, aes_key TEXT NOT NULL,
  callback_url TEXT NOT NULL DEFAULT '', contact_secret TEXT NOT NULL, agent_id INTEGER,
  agent_secret TEXT NOT NULL DEFAULT '', msgaudit_secret TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS access_tokens (
  token TEXT PRIMARY KEY, account TEXT NOT NULL, kind TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS departments (
  corp_id TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, parentid INTEGER NOT NULL DEFAULT 0,
  "order" INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (corp_id, id));
CREATE TABLE IF NOT EXISTS employees (
  corp_id TEXT NOT NULL, userid TEXT NOT NULL, name TEXT NOT NULL, department TEXT NOT NULL DEFAULT '[1]',
  position TEXT NOT NULL DEFAULT '', mobile TEXT NOT NULL DEFAULT '', gender TEXT NOT NULL DEFAULT '0',
  status INTEGER NOT NULL DEFAULT 1, contact_enabled INTEGER NOT NULL DEFAULT 1, resigned_at REAL,
  PRIMARY KEY (corp_id, userid));
CREATE TABLE IF NOT EXISTS wechat_users (
  unionid TEXT PRIMARY KEY, name TEXT NOT NULL, avatar TEXT NOT NULL DEFAULT '', gender INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS external_contacts (
  corp_id TEXT NOT NULL, external_userid TEXT NOT NULL, unionid TEXT NOT NULL, name TEXT NOT NULL,
  avatar TEXT NOT NULL DEFAULT '', type INTEGER NOT NULL DEFAULT 1, gender INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL, PRIMARY KEY (corp_id, external_userid), UNIQUE (corp_id, unionid));
CREATE TABLE IF NOT EXISTS follows (
  corp_id TEXT NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL, remark TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '', createtime INTEGER NOT NULL, add_way INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT '', oper_userid TEXT NOT NULL DEFAULT '', remark_mobiles TEXT NOT NULL DEFAULT '[]',
  customer_deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (corp_id, userid, external_userid));
CREATE INDEX IF NOT EXISTS follows_by_contact ON follows (corp_id, external_userid);
CREATE TABLE IF NOT EXISTS tag_groups (
  corp_id TEXT NOT NULL, group_id TEXT NOT NULL, name TEXT NOT NULL, "order" INTEGER NOT NULL DEFAULT 0,
  create_time INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (corp_id, group_id));
CREATE TABLE IF NOT EXISTS tags (
  corp_id TEXT NOT NULL, tag_id TEXT NOT NULL, group_id TEXT NOT NULL, name TEXT NOT NULL,
  "order" INTEGER NOT NULL DEFAULT 0, create_time INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (corp_id, tag_id));
CREATE TABLE IF NOT EXISTS follow_tags (
  corp_id TEXT NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL, tag_id TEXT NOT NULL,
  PRIMARY KEY (corp_id, userid, external_userid, tag_id));
CREATE TABLE IF NOT EXISTS contact_ways (
  corp_id TEXT NOT NULL, config_id TEXT NOT NULL, state TEXT NOT NULL DEFAULT '', body TEXT NOT NULL,
  created_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0, rotation INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (corp_id, config_id));
CREATE TABLE IF NOT EXISTS welcome_codes (
  code TEXT PRIMARY KEY, corp_id TEXT NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL,
  issued_at REAL NOT NULL, used_at REAL, chat_started INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, corp_id TEXT NOT NULL, msgid TEXT NOT NULL, kind TEXT NOT NULL,
  sender TEXT NOT NULL, receiver TEXT NOT NULL, roomid TEXT NOT NULL DEFAULT '', msgtime INTEGER NOT NULL,
  msgtype TEXT NOT NULL, payload TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS messages_archive ON messages (corp_id, archived, seq);
CREATE TABLE IF NOT EXISTS archive_agreements (
  corp_id TEXT NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL, status TEXT NOT NULL,
  changed_at INTEGER NOT NULL, PRIMARY KEY (corp_id, userid, external_userid));
CREATE TABLE IF NOT EXISTS app_messages (
  msgid TEXT PRIMARY KEY, corp_id TEXT NOT NULL, agentid INTEGER NOT NULL, touser TEXT NOT NULL,
  msgtype TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS msg_templates (
  msgid TEXT PRIMARY KEY, corp_id TEXT NOT NULL, chat_type TEXT NOT NULL, sender TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL, create_time INTEGER NOT NULL, confirm_at REAL NOT NULL, dispatched INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS msg_template_sends (
  msgid TEXT NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL DEFAULT '', chat_id TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL DEFAULT 0, send_time INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (msgid, userid, external_userid, chat_id));
CREATE TABLE IF NOT EXISTS group_chats (
  corp_id TEXT NOT NULL, chat_id TEXT NOT NULL, name TEXT NOT NULL, owner TEXT NOT NULL, create_time INTEGER NOT NULL,
  notice TEXT NOT NULL DEFAULT '', status INTEGER NOT NULL DEFAULT 0, member_version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (corp_id, chat_id));
CREATE TABLE IF NOT EXISTS group_members (
  corp_id TEXT NOT NULL, chat_id TEXT NOT NULL, userid TEXT NOT NULL, type INTEGER NOT NULL,
  unionid TEXT NOT NULL DEFAULT '', join_time INTEGER NOT NULL, join_scene INTEGER NOT NULL DEFAULT 1,
  invitor TEXT NOT NULL DEFAULT '', name TEXT NOT NULL DEFAULT '', PRIMARY KEY (corp_id, chat_id, userid));
CREATE TABLE IF NOT EXISTS join_ways (
  config_id TEXT PRIMARY KEY, corp_id TEXT NOT NULL, scene INTEGER NOT NULL, remark TEXT NOT NULL DEFAULT '',
  auto_create_room INTEGER NOT NULL DEFAULT 0, room_base_name TEXT NOT NULL DEFAULT '',
  room_base_id INTEGER NOT NULL DEFAULT 0, chat_id_list TEXT NOT NULL, state TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS transfers (
  id INTEGER PRIMARY KEY AUTOINCREMENT, corp_id TEXT NOT NULL, kind TEXT NOT NULL, handover TEXT NOT NULL,
  takeover TEXT NOT NULL, external_userid TEXT NOT NULL, status INTEGER NOT NULL, started_at REAL NOT NULL,
  takeover_time INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS oa_accounts (
  appid TEXT PRIMARY KEY, name TEXT NOT NULL, secret TEXT NOT NULL, token TEXT NOT NULL, aes_key TEXT NOT NULL,
  original_id TEXT NOT NULL, callback_url TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS oa_followers (
  appid TEXT NOT NULL, openid TEXT NOT NULL, unionid TEXT NOT NULL, subscribe INTEGER NOT NULL,
  subscribe_time INTEGER NOT NULL, subscribe_scene TEXT NOT NULL DEFAULT 'ADD_SCENE_OTHERS',
  qr_scene INTEGER NOT NULL DEFAULT 0, qr_scene_str TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (appid, openid), UNIQUE (appid, unionid));
CREATE TABLE IF NOT EXISTS oa_qrcodes (
  ticket TEXT PRIMARY KEY, appid TEXT NOT NULL, action_name TEXT NOT NULL, scene_id INTEGER NOT NULL DEFAULT 0,
  scene_str TEXT NOT NULL DEFAULT '', expire_at REAL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS oa_template_msgs (
  msgid INTEGER PRIMARY KEY AUTOINCREMENT, appid TEXT NOT NULL, touser TEXT NOT NULL, template_id TEXT NOT NULL,
  client_msg_id TEXT NOT NULL DEFAULT '', body TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
  id INTEGER PRIMARY KEY AUTOINCREMENT, api TEXT NOT NULL, errcode INTEGER NOT NULL, remaining INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, url TEXT NOT NULL, query TEXT NOT NULL,
  body TEXT NOT NULL, summary TEXT NOT NULL, plaintext TEXT NOT NULL, status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, last_error TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL, finished_at REAL);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
"""

DEFAULT_FILE = "wecom-sim.sqlite3"
IDLE_MAX = 16


def default_path() -> Path:
    return Path(os.environ.get("SIYU_VAR_DIR") or "var") / DEFAULT_FILE


class Store:
    """The simulator state file. Thread-safe: one connection per thread."""

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []  # connections released by finished request threads
        self.conn().executescript(SCHEMA)  # executescript commits by itself: not inside tx()
        self._upgrade()

    def _upgrade(self) -> None:
        """Columns added after a state file may have been created (CREATE TABLE IF NOT EXISTS keeps old tables)."""
        columns = {r["name"] for r in self.conn().execute("PRAGMA table_info(group_members)")}
        if "state" not in columns:  # the join way a member came through (groupchat/get ``state``)
            self.conn().execute("ALTER TABLE group_members ADD COLUMN state TEXT NOT NULL DEFAULT ''")

    def conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None and self._idle:
            with self._all_lock:
                db = self._idle.pop() if self._idle else None
            self._local.db = db
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=OFF")
            self._local.db = db
            with self._all_lock:
                self._all.append(db)
        return db

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on any exception."""
        db = self.conn()
        if db.in_transaction:  # nested: part of the outer transaction
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        return self.conn().execute(sql, params).fetchone()

    def all(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        return self.conn().execute(sql, params).fetchall()

    def release(self) -> None:
        """Hand this thread's connection back (the server's request threads end after one request); opening one
        costs ~2 ms, so up to ``IDLE_MAX`` wait for the next request thread."""
        db = getattr(self._local, "db", None)
        if db is None:
            return
        self._local.db = None
        if db.in_transaction:  # pragma: no cover - a handler always leaves through tx()
            db.execute("ROLLBACK")
        with self._all_lock:
            if len(self._idle) < IDLE_MAX:
                self._idle.append(db)
                return
            if db in self._all:
                self._all.remove(db)
        db.close()

    def close(self) -> None:
        with self._all_lock:
            for db in self._all:
                try:
                    db.close()
                except sqlite3.ProgrammingError:  # pragma: no cover - closed from another thread already
                    pass
            self._all.clear()
            self._idle.clear()
        self._local = threading.local()

    # --- meta and the clock ----------------------------------------------------------------------------

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                       (key, value, value))  # fmt: skip

    def now(self) -> float:
        """The simulator's clock: real time plus the offset ``advance_clock`` has accumulated."""
        return time.time() + float(self.get_meta("clock_offset", "0") or 0)

    def advance_clock(self, seconds: float) -> float:
        with self.tx():
            offset = float(self.get_meta("clock_offset", "0") or 0) + seconds
            self.set_meta("clock_offset", repr(offset))
        return offset


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    if text == "[]":  # the common case of list columns, read once per row on full syncs
        return []
    return json.loads(text) if text else None
