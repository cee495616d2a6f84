"""Administrator-side setup of simulated corps and official accounts (what WeCom's admin console would hold).

These create no callbacks: they stand for the corp's own configuration, made before Siyu is connected.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from siyu.channels.wecom.simulator import ids
from siyu.channels.wecom.simulator.errors import ActionError
from siyu.channels.wecom.simulator.store import Store, dumps
from siyu.channels.wxcrypto import decode_aes_key


@dataclass(frozen=True)
class CorpCredentials:
    corp_id: str
    name: str
    token: str
    aes_key: str
    contact_secret: str
    agent_id: int
    agent_secret: str
    msgaudit_secret: str
    callback_url: str


def corp_row(db: sqlite3.Connection, corp_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM corps WHERE corp_id = ?", (corp_id,)).fetchone()
    if row is None:
        raise ActionError(f"no corp {corp_id!r}")
    return row


def only_corp(store: Store, corp_id: str | None) -> str:
    """The corp named, or the only one there is (CLI convenience)."""
    if corp_id:
        corp_row(store.conn(), corp_id)
        return corp_id
    rows = store.all("SELECT corp_id FROM corps ORDER BY created_at")
    if len(rows) != 1:
        raise ActionError(
            "name the corp with --corp-id" if rows else "no corp yet: run seed-demo or add-corp"
        )
    return rows[0]["corp_id"]


def credentials(row: sqlite3.Row) -> CorpCredentials:
    return CorpCredentials(
        corp_id=row["corp_id"], name=row["name"], token=row["token"], aes_key=row["aes_key"],
        contact_secret=row["contact_secret"], agent_id=row["agent_id"], agent_secret=row["agent_secret"],
        msgaudit_secret=row["msgaudit_secret"], callback_url=row["callback_url"],
    )  # fmt: skip


def create_corp(
    store: Store,
    *,
    name: str,
    corp_id: str | None = None,
    token: str | None = None,
    aes_key: str | None = None,
    contact_secret: str | None = None,
    agent_id: int = 1000002,
    agent_secret: str | None = None,
    msgaudit_secret: str | None = None,
    callback_url: str = "",
) -> CorpCredentials:
    """A corp with its secrets, callback Token and EncodingAESKey, and the root department 1."""
    aes_key = aes_key or ids.encoding_aes_key()
    decode_aes_key(aes_key)  # IllegalAesKey for a key Siyu could not use either
    values: dict[str, Any] = dict(
        corp_id=corp_id or ids.corp_id(), name=name, token=token or ids.callback_token(), aes_key=aes_key,
        callback_url=callback_url, contact_secret=contact_secret or ids.secret(), agent_id=agent_id,
        agent_secret=agent_secret or ids.secret(), msgaudit_secret=msgaudit_secret or ids.secret(),
        created_at=store.now(),
    )  # fmt: skip
    with store.tx() as db:
        if db.execute("SELECT 1 FROM corps WHERE corp_id = ?", (values["corp_id"],)).fetchone():
            raise ActionError(f"corp {values['corp_id']} exists")
        db.execute(
            f"INSERT INTO corps ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",  # noqa: S608
            tuple(values.values()),
        )
        db.execute("INSERT INTO departments (corp_id, id, name, parentid, \"order\") VALUES (?, 1, ?, 0, 100000000)",
                   (values["corp_id"], name))  # fmt: skip
        return credentials(corp_row(db, values["corp_id"]))


def set_callback_url(store: Store, corp_id: str, url: str) -> None:
    with store.tx() as db:
        corp_row(db, corp_id)
        db.execute("UPDATE corps SET callback_url = ? WHERE corp_id = ?", (url, corp_id))


def add_department(store: Store, corp_id: str, *, dept_id: int, name: str, parentid: int = 1) -> None:
    with store.tx() as db:
        corp_row(db, corp_id)
        db.execute("INSERT INTO departments (corp_id, id, name, parentid, \"order\") VALUES (?, ?, ?, ?, ?)",
                   (corp_id, dept_id, name, parentid, 100000000 - dept_id))  # fmt: skip


def add_employee(
    store: Store,
    corp_id: str,
    *,
    userid: str,
    name: str,
    department: list[int] | None = None,
    position: str = "",
    mobile: str = "",
    contact_enabled: bool = True,
) -> None:
    with store.tx() as db:
        corp_row(db, corp_id)
        db.execute(
            "INSERT INTO employees (corp_id, userid, name, department, position, mobile, contact_enabled) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (corp_id, userid, name, dumps(department or [1]), position, mobile, int(contact_enabled)),
        )


@dataclass(frozen=True)
class OaCredentials:
    appid: str
    name: str
    secret: str
    token: str
    aes_key: str
    original_id: str
    callback_url: str


def create_oa(
    store: Store, *, name: str, appid: str | None = None, secret: str | None = None, token: str | None = None,
    aes_key: str | None = None, callback_url: str = "",
) -> OaCredentials:  # fmt: skip
    """An official account (safe mode): AppID, AppSecret, Token, EncodingAESKey, original id ``gh_…``."""
    creds = OaCredentials(
        appid=appid or ids.appid(), name=name, secret=secret or ids.secret()[:32], token=token or ids.callback_token(),
        aes_key=aes_key or ids.encoding_aes_key(), original_id="gh_" + ids.alnum(12).lower(), callback_url=callback_url,
    )  # fmt: skip
    decode_aes_key(creds.aes_key)
    with store.tx() as db:
        db.execute(
            "INSERT INTO oa_accounts (appid, name, secret, token, aes_key, original_id, callback_url, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (creds.appid, name, creds.secret, creds.token, creds.aes_key, creds.original_id, callback_url,
             store.now()),
        )  # fmt: skip
    return creds


def set_oa_callback_url(store: Store, appid: str, url: str) -> None:
    with store.tx() as db:
        if db.execute("UPDATE oa_accounts SET callback_url = ? WHERE appid = ?", (url, appid)).rowcount != 1:
            raise ActionError(f"no official account {appid!r}")


def add_fault(store: Store, *, api: str, errcode: int, times: int = 1) -> None:
    """Answer the next ``times`` calls of ``api`` (``externalcontact/send_welcome_msg``) with ``errcode``."""
    with store.tx() as db:
        db.execute("INSERT INTO faults (api, errcode, remaining) VALUES (?, ?, ?)",
                   (api.strip("/").removeprefix("cgi-bin/"), errcode, times))  # fmt: skip
