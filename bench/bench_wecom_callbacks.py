"""Issue 4's measure: WeCom callback ack latency at a fixed rate (default 200 callbacks/s for 30 s), and how long
the asynchronous processing takes to drain the backlog; optionally the full contact sync against the simulator.

The real stack, each piece its own process on loopback:

* a throwaway PostgreSQL database (``siyu_bench_wecom_cb`` on 127.0.0.1:5432, dropped and created each run;
  ``--database-url`` to use another, ``--db sqlite`` for the embedded default), migrated;
* the simulator (``siyu wecom-sim serve``) with the demo corp (4 follow users) and enough customers populated
  without callbacks, so every ``externalcontact/get`` the processing makes finds its customer;
* an organisation with that corp connected by ``siyu wecom add-corp --api-base <simulator>``;
* ``siyu serve`` (gunicorn, ``--workers``/``--threads``) and ``siyu worker`` (huey, processing the outbox).

The load: one ``change_external_contact / add_external_contact`` per populated customer — the XML the simulator
sends on a scan (``events.change_external_contact`` with UserID, ExternalUserID, State, WelcomeCode), encrypted and
signed with ``siyu.channels.wxcrypto`` under the corp's token and EncodingAESKey, each unique (another customer and
nonce), all built before the clock starts. They are sent open loop: request *i* leaves at ``start + i / rate``
(a pool of sender threads takes them in order; none waits for a schedule slot), and its latency is counted
from that intended time (so a stalled server shows as latency, not as a slower sender — no coordinated omission); the latency from
the actual send is reported too. Then the time until every stored callback is processed (``processed_at`` set,
polled in the database), counted from the last send. Then a separate phase of exact duplicates (the same bodies
and query strings again, as WeCom's retries are) at the same rate, answered from the dedup key.

``--sync-customers N`` (default 0 = skipped) populates N more customers in the simulator and times
``siyu wecom sync --kind contacts`` (list + ``batch/get_by_user`` with cursors, contacts, relations and CDP
profiles written) as a subprocess.

The machine is shared (2 cores, several agents): the load average before and after is part of the result, and
server, worker, simulator, database and load generator all share the cores. Never asserts timings.

Usage: ``make bench NAME=wecom_callbacks`` (``--rate 200 --seconds 30 --dup-seconds 10 --db postgres|sqlite
--database-url URL --workers 2 --threads 8 --timeout 10 --drain-timeout 600 --sync-customers 0 --no-worker``;
``--quick`` = 50/s for 5 s). The worker's own settings come from the environment as in production
(``SIYU_WORKER_NICE``, ``SIYU_WORKERS``, ``REDIS_URL`` for RedisHuey).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.bench_ingest import free_port, load_average
from bench.stats import summary

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/siyu_bench_wecom_cb"
TARGET_ACK_MS = 5000  # WeCom's limit; issue 4: "well inside 5 s" (the performance document sets no figure)

ORG_SNIPPET = """
import django, json
django.setup()
from django.db import transaction
from siyu.iam import services as iam
with transaction.atomic():
    org = iam.create_organization(name="Bench WeCom callbacks", admin_email="bench-wecom-cb@siyu.local",
                                  admin_password="bench-password-wecom-cb").org
print(json.dumps({"org": org.pk}))
"""


def _options(rest: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make bench NAME=wecom_callbacks")
    p.add_argument("--rate", type=float, default=200.0, help="callbacks per second (open loop)")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--dup-seconds", type=float, default=10.0, help="exact-duplicate phase length (0 = skip)")
    p.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--database-url", default=PG_DEFAULT, help="PostgreSQL database to drop and create")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    p.add_argument("--drain-timeout", type=float, default=600.0)
    p.add_argument("--timeout", type=float, default=10.0,
                   help="client timeout per callback (WeCom gives up after 5 s); a timed-out request counts as an "
                        "error and its latency as the time waited")
    p.add_argument("--sync-customers", type=int, default=0, help="time a full contact sync of N customers")
    p.add_argument("--no-worker", action="store_true",
                   help="start no `siyu worker`: the web tier's ack capacity alone (nothing is processed)")
    return p.parse_args(rest)


class Stack:
    """Database, simulator, corp, web server and worker; ``stop`` ends the processes it started."""

    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        self.var = tempfile.mkdtemp(prefix="siyu-bench-wecom-cb-")
        self.sim_state = os.path.join(self.var, "wecom-sim.sqlite3")
        self.env = dict(os.environ, SIYU_VAR_DIR=self.var, DJANGO_SETTINGS_MODULE="siyu.settings",
                        SIYU_LOG_LEVEL="ERROR")
        self.env.pop("DATABASE_URL", None)
        self.env.pop("SIYU_HUEY_IMMEDIATE", None)
        self.url = ""
        if opts.db == "postgres":
            from bench.djangodb import recreate_database

            self.url = opts.database_url
            recreate_database(self.url)
            self.env["DATABASE_URL"] = self.url
        self.procs: list[subprocess.Popen] = []

    def siyu(self, *args: str) -> str:
        return subprocess.run([PYTHON, "-m", "siyu.cli", *args], env=self.env, cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout

    def sim(self, *args: str) -> str:
        return self.siyu("wecom-sim", "--state-file", self.sim_state, *args)

    def _spawn(self, *args: str) -> None:
        self.procs.append(subprocess.Popen([PYTHON, "-m", "siyu.cli", *args], env=self.env, cwd=ROOT,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def start(self, customers: int) -> Stack:
        self.siyu("migrate", "--verbosity", "0")
        self.siyu("createcachetable")
        self.corp = json.loads(self.sim("seed-demo", "--json"))["corp"]
        self.sim("populate", "--corp-id", self.corp["corp_id"], "--customers", str(customers))
        self.sim_port, self.port = free_port(), free_port()
        self._spawn("wecom-sim", "--state-file", self.sim_state, "serve", "--port", str(self.sim_port))
        self.org_id = json.loads(_python(self.env, ORG_SNIPPET))["org"]
        out = self.siyu("wecom", "add-corp", "--org", str(self.org_id), "--corp-id", self.corp["corp_id"],
                        "--token", self.corp["token"], "--aes-key", self.corp["aes_key"],
                        "--secret", self.corp["contact_secret"],
                        "--api-base", f"http://127.0.0.1:{self.sim_port}/cgi-bin/",
                        "--public-url", f"http://127.0.0.1:{self.port}")
        self.callback_path = "/" + next(line.split("=", 1)[1] for line in out.splitlines()
                                        if line.startswith("callback_url=")).split("/", 3)[3]
        self._spawn("serve", "--port", str(self.port), "--workers", str(self.opts.workers),
                    "--threads", str(self.opts.threads))
        if not self.opts.no_worker:
            self._spawn("worker")
        _wait_for_port(self.port)
        _wait_for_port(self.sim_port)
        _wait_for_answer(self.port, self.callback_path)
        return self

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    def sql(self, query: str, *params) -> list[tuple]:
        if self.url:
            import psycopg

            with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as c:
                return c.execute(query, params).fetchall()
        with sqlite3.connect(Path(self.var) / "siyu.sqlite3", timeout=30) as c:
            return c.execute(query.replace("%s", "?"), params).fetchall()

    def follows(self, skip: int = 0) -> list[tuple[str, str]]:
        with sqlite3.connect(self.sim_state, timeout=30) as c:
            return c.execute("SELECT userid, external_userid FROM follows WHERE corp_id = ? ORDER BY rowid "
                             "LIMIT -1 OFFSET ?", (self.corp["corp_id"], skip)).fetchall()


def _python(env: dict, code: str) -> str:
    out = subprocess.run([PYTHON, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def _wait_for_port(port: int, seconds: float = 90) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on port {port}")


def _wait_for_answer(port: int, path: str, seconds: float = 120) -> None:
    """gunicorn binds its port before its workers have imported Django: wait until both workers answer (an
    unsigned GET is a quick 400), so the first measured callbacks do not time out on a cold start."""
    import http.client

    deadline, answered = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and answered < 4:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            answered += 1
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)


def build_callbacks(corp: dict, follows: list[tuple[str, str]], path: str) -> list[tuple[str, bytes]]:
    """One signed, encrypted ``add_external_contact`` per follow relation: (URL with query, XML body)."""
    from siyu.channels.wecom.simulator import events
    from siyu.channels.wxcrypto import WXBizMsgCrypt

    crypt = WXBizMsgCrypt(token=corp["token"], encoding_aes_key=corp["aes_key"], receive_id=corp["corp_id"])
    out = []
    now = int(time.time())
    for userid, external_userid in follows:
        xml = events.change_external_contact(
            corp["corp_id"], now, "add_external_contact", ("UserID", userid), ("ExternalUserID", external_userid),
            ("State", ""), ("WelcomeCode", secrets.token_urlsafe(24)))
        encrypt = crypt.encrypt(xml)
        nonce, ts = secrets.token_hex(8), str(now)
        body = events.to_xml([("ToUserName", corp["corp_id"]), ("AgentID", str(corp.get("agent_id", ""))),
                              ("Encrypt", encrypt)])
        query = urlencode({"msg_signature": crypt.signature(ts, nonce, encrypt), "timestamp": ts, "nonce": nonce})
        out.append((f"{path}?{query}", body.encode()))
    return out


def drive(port: int, requests: list[tuple[str, bytes]], rate: float, timeout: float,
          senders: int = 128) -> dict:
    """Request *i* is due at ``start + i / rate``; ``senders`` threads with keep-alive connections take them in
    order and never wait for a schedule slot, and latency counts from the due time, so a slow server (or a sender
    that fell behind) shows as latency, not as a lower rate (no coordinated omission). Blocking ``http.client``
    threads, not an asyncio client: on a loaded 2-core machine an asyncio HTTP client with hundreds of open
    requests spent its CPU on itself and was the bottleneck."""
    import http.client
    import threading

    from_intended: list[float] = []
    from_sent: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    next_index = [0]
    start = time.perf_counter() + 0.2
    last_sent = [start]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(requests):
                break
            url, body = requests[i]
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            try:
                conn.request("POST", url, body=body, headers={"Content-Type": "text/xml"})
                resp = conn.getresponse()
                resp.read()
                status = str(resp.status)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                status = type(exc).__name__
            done = time.perf_counter()
            with lock:
                from_intended.append((done - due) * 1000)
                from_sent.append((done - sent) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                last_sent[0] = max(last_sent[0], sent)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(senders, len(requests)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finished = time.perf_counter()
    ok = statuses.get("200", 0)
    return {
        "requests": len(requests), "target_rate": rate, "senders": len(threads),
        "achieved_send_rate": round(len(requests) / (last_sent[0] - start), 1) if last_sent[0] > start else None,
        "answered_rate": round(len(requests) / (finished - start), 1),
        "ack_ms": summary(from_intended), "ack_ms_from_actual_send": summary(from_sent),
        "statuses": statuses, "errors": len(requests) - ok,
        "_last_sent": last_sent[0],
    }


def _drain(stack: Stack, since: float, timeout: float) -> dict:
    """Poll until every stored callback is processed (or gave up with an error); seconds from ``since``."""
    q = ("SELECT COUNT(*), COUNT(processed_at), SUM(CASE WHEN processed_at IS NULL AND error <> '' THEN 1 ELSE 0 "
         "END) FROM wecom_callbacklog")
    deadline = time.perf_counter() + timeout
    while True:
        stored, processed, failing = stack.sql(q)[0]
        if processed >= stored or time.perf_counter() > deadline:
            break
        time.sleep(0.25)
    return {"stored": stored, "processed": processed, "unprocessed_with_error": int(failing or 0),
            "drained": processed >= stored,
            "seconds_after_last_send": round(time.perf_counter() - since, 2)}


def _contact_sync(stack: Stack, customers: int) -> dict:
    before = stack.sql("SELECT COUNT(*) FROM wecom_externalcontact")[0][0]
    t = time.perf_counter()
    stack.sim("populate", "--corp-id", stack.corp["corp_id"], "--customers", str(customers))
    populate_seconds = time.perf_counter() - t
    t = time.perf_counter()
    out = stack.siyu("wecom", "sync", "--org", str(stack.org_id), "--corp-id", stack.corp["corp_id"],
                     "--kind", "contacts")
    seconds = time.perf_counter() - t
    after = stack.sql("SELECT COUNT(*) FROM wecom_externalcontact")[0][0]
    return {"customers_added_to_simulator": customers, "seconds_populate_not_timed": round(populate_seconds, 1),
            "contacts_before": before, "contacts_after": after, "sync_output": out.strip(),
            "seconds": round(seconds, 1), "contacts_per_second": round((after - before) / seconds, 1)}


def run(args, rest) -> dict:
    opts = _options(rest)
    if args.quick:
        opts.rate, opts.seconds, opts.dup_seconds = 50.0, 5.0, 2.0
    unique = int(opts.rate * opts.seconds)
    dups = int(opts.rate * opts.dup_seconds)
    result: dict = {"database": opts.db, "load_average_before": load_average(), "worker": not opts.no_worker,
                    "worker_env": {k: os.environ.get(k) for k in ("SIYU_WORKER_NICE", "SIYU_WORKERS")},
                    "queue": "redis" if os.environ.get("REDIS_URL") else "sqlite",
                    "machine_note": "shared machine (2 cores, several agents); server, worker, simulator, database "
                                    "and load generator share the cores",
                    "web_workers": opts.workers, "web_threads": opts.threads,
                    "target": {"ack_ms": TARGET_ACK_MS, "source": "WeCom 5 s limit (issue 4: well inside 5 s)"}}
    stack = Stack(opts)
    try:
        stack.start(customers=unique)
        requests = build_callbacks(stack.corp, stack.follows()[:unique], stack.callback_path)
        # 20 callbacks at 5/s: loads code paths and gives the ack time of a nearly idle server
        warm = drive(stack.port, requests[:20], 5.0, opts.timeout)
        warm.pop("_last_sent")
        result["idle_5_per_s"] = {"ack_ms": warm["ack_ms"], "statuses": warm["statuses"]}
        r = drive(stack.port, requests[20:], opts.rate, opts.timeout)
        last_sent = r.pop("_last_sent")
        result["unique"] = r
        result["drain"] = _drain(stack, last_sent, 0 if opts.no_worker else opts.drain_timeout)
        result["drain"]["callbacks_processed_per_second_overall"] = round(
            result["drain"]["processed"] / (opts.seconds + result["drain"]["seconds_after_last_send"]), 1)
        if dups:
            d = drive(stack.port, [requests[20 + i % (len(requests) - 20)] for i in range(dups)], opts.rate,
                      opts.timeout)
            d.pop("_last_sent")
            d["duplicates_counted"] = int(stack.sql("SELECT COALESCE(SUM(duplicates), 0) FROM wecom_callbacklog")[0][0])
            d["rows_stored_total"] = stack.sql("SELECT COUNT(*) FROM wecom_callbacklog")[0][0]
            result["exact_duplicates"] = d
        if opts.sync_customers:
            result["contact_sync"] = _contact_sync(stack, opts.sync_customers)
        p99 = result["unique"]["ack_ms"].get("p99_ms")
        result["target_met"] = p99 is not None and p99 <= TARGET_ACK_MS and result["unique"]["errors"] == 0
    finally:
        stack.stop()
        result["load_average_after"] = load_average()
    return result
