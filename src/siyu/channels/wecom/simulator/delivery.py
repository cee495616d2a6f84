"""Callbacks to Siyu: signed, encrypted, queued in the state file and delivered by background threads.

What WeCom does (protocol document §1.6, §1.8) and so do we:

* the plaintext event XML is encrypted with the corp's EncodingAESKey and receive id = CorpID (the official
  account: AppID), put in the ``<xml><ToUserName/><AgentID/><Encrypt/></xml>`` envelope (official account:
  ``ToUserName`` = original id, no AgentID), and POSTed with ``msg_signature``, ``timestamp``, ``nonce`` in the
  query string (the official account also sends ``signature``, ``openid`` and ``encrypt_type=aes``);
* only HTTP 200 within the timeout (5 s) counts; otherwise the **identical** request (same query, same body) is
  sent again, at most 3 more times, after the configured delays; then the delivery is marked failed;
* the request is built when the event happens, in the same transaction as the state change, so an event is never
  lost or sent for a change that was rolled back, and a restart resumes pending deliveries.

Events are only enqueued by client-side actions (``actions.py``) and WeCom's own background work (transfers);
API handlers never call ``enqueue_*``: "通过API进行的操作不会产生回调".
"""

from __future__ import annotations

import functools
import logging
import secrets
import sqlite3
import ssl
import threading
import time
from urllib.parse import urlencode

import httpx

from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.events import to_xml
from siyu.channels.wecom.simulator.store import Store
from siyu.channels.wxcrypto import WXBizMsgCrypt, oa_signature

logger = logging.getLogger(__name__)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process (building one costs ~0.1 s; callback URLs may be https)."""
    return ssl.create_default_context()


def _nonce() -> str:
    return str(secrets.randbelow(10**9) + 10**8)


def with_query(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def _insert(db: sqlite3.Connection, *, account: str, url: str, query: str, body: str, summary: str,
            plaintext: str) -> int:  # fmt: skip
    status = "pending" if url else "no_url"
    cur = db.execute(
        "INSERT INTO deliveries (account, url, query, body, summary, plaintext, status, next_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (account, url, query, body, summary, plaintext, status, time.time(), time.time()),
    )
    return int(cur.lastrowid or 0)


def enqueue_wecom(
    db: sqlite3.Connection, corp: sqlite3.Row, plaintext: str, *, summary: str, now: float
) -> int:
    """Queue one encrypted, signed callback to the corp's callback URL (``no_url`` when none is set)."""
    crypt = WXBizMsgCrypt(token=corp["token"], encoding_aes_key=corp["aes_key"], receive_id=corp["corp_id"])
    encrypt = crypt.encrypt(plaintext)
    timestamp, nonce = str(int(now)), _nonce()
    agent = "" if corp["agent_id"] is None else str(corp["agent_id"])
    body = to_xml([("ToUserName", corp["corp_id"]), ("AgentID", agent), ("Encrypt", encrypt)])
    query = urlencode(
        {"msg_signature": crypt.signature(timestamp, nonce, encrypt), "timestamp": timestamp, "nonce": nonce}
    )
    return _insert(db, account=corp["corp_id"], url=corp["callback_url"], query=query, body=body,
                   summary=summary, plaintext=plaintext)  # fmt: skip


def enqueue_oa(
    db: sqlite3.Connection, oa: sqlite3.Row, openid: str, plaintext: str, *, summary: str, now: float
) -> int:
    """Queue one safe-mode official-account callback (receive id = AppID)."""
    crypt = WXBizMsgCrypt(token=oa["token"], encoding_aes_key=oa["aes_key"], receive_id=oa["appid"])
    encrypt = crypt.encrypt(plaintext)
    timestamp, nonce = str(int(now)), _nonce()
    body = to_xml([("ToUserName", oa["original_id"]), ("Encrypt", encrypt)])
    query = urlencode({
        "signature": oa_signature(token=oa["token"], timestamp=timestamp, nonce=nonce),
        "timestamp": timestamp, "nonce": nonce, "openid": openid, "encrypt_type": "aes",
        "msg_signature": crypt.signature(timestamp, nonce, encrypt),
    })  # fmt: skip
    return _insert(db, account=oa["appid"], url=oa["callback_url"], query=query, body=body, summary=summary,
                   plaintext=plaintext)  # fmt: skip


def verify_callback_url(corp: sqlite3.Row, *, now: float, timeout: float = 5.0) -> tuple[bool, str]:
    """WeCom's URL check when an administrator saves the callback URL (§1.4): GET with an encrypted ``echostr``,
    the answer must be its plaintext exactly, within 1 s in WeCom (we wait ``timeout``)."""
    if not corp["callback_url"]:
        return False, "no callback URL"
    crypt = WXBizMsgCrypt(token=corp["token"], encoding_aes_key=corp["aes_key"], receive_id=corp["corp_id"])
    plain = str(secrets.randbelow(10**18) + 10**18)
    echostr = crypt.encrypt(plain)
    timestamp, nonce = str(int(now)), _nonce()
    query = urlencode({"msg_signature": crypt.signature(timestamp, nonce, echostr), "timestamp": timestamp,
                       "nonce": nonce, "echostr": echostr})  # fmt: skip
    return _echo_check(corp["callback_url"], query, plain, "answer is not the decrypted echostr (40057)",
                       timeout=timeout)  # fmt: skip


def verify_oa_callback_url(oa: sqlite3.Row, *, now: float, timeout: float = 5.0) -> tuple[bool, str]:
    """The official account's URL check when the server configuration is saved (§1.4): GET with the three-value
    ``signature`` and a plain ``echostr``, which must come back unchanged."""
    if not oa["callback_url"]:
        return False, "no callback URL"
    echostr = str(secrets.randbelow(10**18) + 10**18)
    timestamp, nonce = str(int(now)), _nonce()
    query = urlencode({"signature": oa_signature(token=oa["token"], timestamp=timestamp, nonce=nonce),
                       "timestamp": timestamp, "nonce": nonce, "echostr": echostr})  # fmt: skip
    return _echo_check(oa["callback_url"], query, echostr, "answer is not the echostr", timeout=timeout)


def _echo_check(url: str, query: str, expected: str, mismatch: str, *, timeout: float) -> tuple[bool, str]:
    """Both URL checks end alike: GET the URL with ``query``; the body must be ``expected`` exactly."""
    try:
        answer = httpx.get(with_query(url, query), timeout=timeout, verify=tls_context())
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}"
    if answer.status_code != 200:
        return False, f"HTTP {answer.status_code}"
    if answer.text != expected:
        return False, mismatch
    return True, "ok"


class Dispatcher:
    """Background threads delivering ``pending`` callbacks whose time has come, in id order per thread."""

    def __init__(self, store: Store, config: SimConfig):
        self.store, self.config = store, config
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self.store.tx() as db:  # a delivery in flight when the process died is sent again
            db.execute("UPDATE deliveries SET status = 'pending' WHERE status = 'sending'")
        for n in range(max(1, self.config.dispatcher_threads)):
            thread = threading.Thread(target=self._run, name=f"wecom-sim-dispatch-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _run(self) -> None:
        with httpx.Client(timeout=self.config.callback_timeout, verify=tls_context()) as http:
            while not self._stop.is_set():
                try:
                    row = self._claim()
                except sqlite3.Error:  # pragma: no cover - file busy beyond the timeout: try again later
                    logger.exception("wecom-sim: cannot claim a delivery")
                    row = None
                if row is None:
                    self._wake.wait(0.2)
                    self._wake.clear()
                    continue
                self._deliver(http, row)

    def _claim(self) -> sqlite3.Row | None:
        with self.store.tx() as db:
            row = db.execute(
                "SELECT * FROM deliveries WHERE status = 'pending' AND next_at <= ? ORDER BY id LIMIT 1",
                (time.time(),),
            ).fetchone()
            if row is not None:
                db.execute("UPDATE deliveries SET status = 'sending', attempts = attempts + 1 WHERE id = ?",
                           (row["id"],))  # fmt: skip
        return row

    def _deliver(self, http: httpx.Client, row: sqlite3.Row) -> None:
        attempt = row["attempts"] + 1
        started = time.monotonic()
        try:
            answer = http.post(with_query(row["url"], row["query"]), content=row["body"].encode("utf-8"),
                               headers={"Content-Type": "text/xml; charset=utf-8"})  # fmt: skip
            outcome = "200" if answer.status_code == 200 else f"HTTP {answer.status_code}"
        except httpx.TimeoutException:
            outcome = "timeout"
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        elapsed = int((time.monotonic() - started) * 1000)
        note = f"{row['last_error']}#{attempt} {outcome} {elapsed}ms; "
        with self.store.tx() as db:
            if outcome == "200":
                db.execute("UPDATE deliveries SET status = 'delivered', last_error = ?, finished_at = ? "
                           "WHERE id = ?", (note, time.time(), row["id"]))  # fmt: skip
            elif attempt <= len(self.config.retry_delays):
                delay = self.config.retry_delays[attempt - 1]
                db.execute("UPDATE deliveries SET status = 'pending', last_error = ?, next_at = ? WHERE id = ?",
                           (note, time.time() + delay, row["id"]))  # fmt: skip
            else:
                db.execute("UPDATE deliveries SET status = 'failed', last_error = ?, finished_at = ? "
                           "WHERE id = ?", (note, time.time(), row["id"]))  # fmt: skip
