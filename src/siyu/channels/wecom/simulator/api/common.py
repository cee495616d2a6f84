"""Helpers shared by the API endpoints: parameter checks answering WeCom's codes, cursors, lookups, tokens."""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from typing import Any

from siyu.channels.wecom.simulator import ids
from siyu.channels.wecom.simulator.dispatch import Call
from siyu.channels.wecom.simulator.errors import ApiError


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


def encode_key_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode_key_cursor(cursor: Any) -> tuple[str, str]:
    """The two keys of a keyset cursor ("", "" for the first page)."""
    if not cursor:
        return "", ""
    text = str(cursor)
    try:
        parts = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad("invalid cursor") from None
    if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts)):
        raise bad("invalid cursor")
    return parts[0], parts[1]


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


def one_or(call: Call, errcode: int, message: str, sql: str, *params: Any) -> sqlite3.Row:
    """The one row ``sql`` finds, or the WeCom error ``errcode``."""
    row = db(call).execute(sql, params).fetchone()
    if row is None:
        raise ApiError(errcode, message)
    return row


def contact(call: Call, external_userid: Any) -> sqlite3.Row:
    sql = "SELECT * FROM external_contacts WHERE corp_id = ? AND external_userid = ?"
    return one_or(call, 40096, "invalid external userid", sql, call.account, external_userid)


def follow(call: Call, userid: str, external_userid: str) -> sqlite3.Row:
    sql = "SELECT * FROM follows WHERE corp_id = ? AND userid = ? AND external_userid = ?"
    return one_or(call, 84061, "not external contact", sql, call.account, userid, external_userid)


# --- tokens ---------------------------------------------------------------------------------------------


def issue_token(call: Call, account: str, kind: str) -> dict[str, Any]:
    token = ids.access_token()
    ttl = call.sim.config.token_ttl
    with call.sim.store.tx() as conn:
        conn.execute("DELETE FROM access_tokens WHERE expires_at < ?", (call.now - 86400,))
        conn.execute("INSERT INTO access_tokens (token, account, kind, expires_at) VALUES (?, ?, ?, ?)",
                     (token, account, kind, call.now + ttl))  # fmt: skip
    return {"access_token": token, "expires_in": ttl}


def departments(call: Call) -> list[sqlite3.Row]:
    return (
        db(call)
        .execute("SELECT * FROM departments WHERE corp_id = ? ORDER BY id", (call.account,))
        .fetchall()
    )
