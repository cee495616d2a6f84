"""P1, P2 and P4: Segment-compatible ingestion through the real HTTP stack (``siyu serve`` = gunicorn).

For each database (PostgreSQL ``siyu_bench_ingest`` on 127.0.0.1:5432, and a SQLite file):

* the database is created and migrated, an organisation and a source are made, and ``siyu serve`` runs as a
  subprocess (``--workers`` 2 × ``--threads`` 16 by default: enough request threads per process for the group
  commit of single events to gather a group) on a loopback port; no job worker runs, so the figures are the
  ingest path alone;
* **P1**: ``POST /v1/batch`` with 100 events of ~400 B each from a closed-loop generator (threads with
  keep-alive connections, a bounded number of requests): events/s and ack p50/p95/p99; then the same at a
  paced rate (10K events/s, or 80 % of the measured maximum if lower) for ack latency under a fixed load;
  and, in the same run, the same rows loaded by a raw ``COPY`` into a scratch table with a unique
  (source_id, message_id) index — the ratio ingest / COPY is the P1 "≥ 40 % of raw COPY" figure (PostgreSQL);
* **P2**: ``POST /v1/track`` single events from 64 concurrent clients: req/s and p50/p95/p99;
* **P4**: P1 again with 10 % of the requests replaying an earlier batch (half of them the batch just sent by
  another client, so often concurrently): duplicates stored (must be 0) and the throughput drop against P1.

Usage: ``make bench NAME=ingest`` (``--quick`` for a smoke run; ``--db postgres|sqlite|both``;
``--batches N`` for P1; ``--track-requests N`` for P2; ``--workers``/``--threads`` for ``siyu serve``). Each result
records the machine's load average before and after (the machine is shared: read figures against it). Loopback
only, bounded loops, stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.stats import summary

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NAME = os.environ.get("SIYU_BENCH_INGEST_DB", "siyu_bench_ingest")  # two trees compared side by side
EVENTS_PER_BATCH = 100

SETUP_SNIPPET = """
import django, json
django.setup()
from django.db import transaction
from siyu.iam import services as iam
from siyu.kernel.actor import Actor
from siyu.cdp.ingest.sources import create_source
with transaction.atomic():
    org = iam.create_organization(name="Bench ingest", admin_email="bench-ingest@siyu.local",
                                  admin_password="bench-password-ingest").org
    source, key = create_source(actor=Actor.system(org.pk), name="bench")
print(json.dumps({"org": org.pk, "source": source.pk, "key": key}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A migrated database, an organisation with a source, and ``siyu serve`` (plus optionally a worker)."""

    def __init__(self, db: str, *, web_workers: int = 2, threads: int = 4, worker: bool = False,
                 extra_env: dict | None = None):
        self.db = db
        self.var = tempfile.mkdtemp(prefix=f"siyu-bench-ingest-{db}-")
        self.env = dict(os.environ, SIYU_VAR_DIR=self.var, DJANGO_SETTINGS_MODULE="siyu.settings",
                        SIYU_LOG_LEVEL="ERROR", SIYU_INGEST_SOURCE_EVENTS_PER_SECOND="0", **(extra_env or {}))
        self.env.pop("DATABASE_URL", None)
        if db == "postgres":
            self.url = f"postgres://postgres@127.0.0.1:5432/{PG_NAME}"
            self.env["DATABASE_URL"] = self.url
            self._recreate_pg()
        self.port = free_port()
        self.web_workers, self.threads, self.with_worker = web_workers, threads, worker
        self.procs: list[subprocess.Popen] = []

    def _recreate_pg(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{PG_NAME}"')

    def run(self, *args: str) -> str:
        return subprocess.run([PYTHON, *args], env=self.env, cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout

    def start(self) -> Stack:
        self.run("-m", "siyu.cli", "migrate", "--verbosity", "0")
        self.run("-m", "siyu.cli", "createcachetable")
        info = json.loads(self.run("-c", SETUP_SNIPPET).strip().splitlines()[-1])
        self.org_id, self.source_id, self.key = info["org"], info["source"], info["key"]
        self.auth = "Basic " + base64.b64encode(f"{self.key}:".encode()).decode()
        self.procs.append(subprocess.Popen(
            [PYTHON, "-m", "siyu.cli", "serve", "--port", str(self.port), "--workers", str(self.web_workers),
             "--threads", str(self.threads)], env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        if self.with_worker:
            self.procs.append(subprocess.Popen([PYTHON, "-m", "siyu.cli", "worker"], env=self.env, cwd=ROOT,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("siyu serve did not start")

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    def sql(self, query: str) -> list[tuple]:
        if self.db == "postgres":
            import psycopg

            with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as c:
                return c.execute(query).fetchall()
        import sqlite3

        with sqlite3.connect(Path(self.var) / "siyu.sqlite3") as c:
            return c.execute(query).fetchall()


def make_event(rng: random.Random, mid: str, user: str, ts: str) -> dict:
    """A ~400-byte track event, like a web SDK's."""
    return {
        "type": "track", "event": rng.choice(["Product Viewed", "Page Viewed", "Product Added", "Order Completed"]),
        "userId": user, "anonymousId": f"anon-{user}", "messageId": mid, "timestamp": ts,
        "properties": {"sku": f"SKU{rng.randrange(5000):05d}", "price": rng.randrange(100, 99999) / 100,
                       "category": rng.choice(["服饰", "数码", "美妆", "食品"]), "currency": "CNY"},
        "context": {"ip": "127.0.0.1", "locale": "zh-CN", "library": {"name": "analytics.js", "version": "4.1.0"},
                    "page": {"path": "/p/123", "url": "https://shop.example.cn/p/123"}},
    }


def make_batches(n: int, tag: str, users: int = 5000, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    out = []
    for b in range(n):
        batch = [make_event(rng, f"{tag}-{b}-{i}", f"user{rng.randrange(users)}", ts) for i in range(EVENTS_PER_BATCH)]
        out.append(json.dumps({"batch": batch, "sentAt": ts}, ensure_ascii=False).encode())
    return out


def drive(port: int, auth: str, path: str, bodies: list[bytes], concurrency: int,
          rate_per_second: float | None = None) -> dict:
    """Send every body once from ``concurrency`` keep-alive connections; closed loop, or paced when
    ``rate_per_second`` (requests) is given. Returns wall time, latencies and status counts."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    answers: list[dict] = []
    lock = threading.Lock()
    next_index = [0]
    start = time.perf_counter()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": auth}
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(bodies):
                break
            if rate_per_second:
                due = start + i / rate_per_second
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=bodies[i], headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status, data = 599, b"{}"
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    answers.append(json.loads(data))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"wall": wall, "latency": summary(latencies), "statuses": statuses,
            "stored": sum(a.get("stored", 0) for a in answers),
            "duplicates": sum(a.get("duplicates", 0) for a in answers)}


def raw_copy(stack: Stack, bodies: list[bytes]) -> dict:
    """The same event rows through one raw COPY into a scratch table shaped like cdp_event (PostgreSQL)."""
    import psycopg

    rows = []
    for body in bodies:
        for e in json.loads(body)["batch"]:
            rows.append((stack.org_id, None, stack.source_id, "track", e["event"], e["messageId"], e["anonymousId"],
                         e["userId"], json.dumps(e["properties"], ensure_ascii=False),
                         json.dumps(e["context"], ensure_ascii=False), e["timestamp"], e["timestamp"]))
    cols = ("org_id, profile_id, source_id, type, name, message_id, anonymous_id, user_id, properties, context, "
            '"timestamp", received_at')
    with psycopg.connect(stack.url.replace("postgres://", "postgresql://")) as c:
        c.execute("DROP TABLE IF EXISTS bench_copy")
        c.execute("CREATE TABLE bench_copy (LIKE cdp_event INCLUDING DEFAULTS INCLUDING IDENTITY)")
        c.execute("CREATE UNIQUE INDEX bench_copy_mid ON bench_copy (source_id, message_id)")
        c.commit()
        t0 = time.perf_counter()
        with c.cursor() as cur, cur.copy(f"COPY bench_copy ({cols}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        c.commit()
        seconds = time.perf_counter() - t0
        c.execute("DROP TABLE bench_copy")
    return {"rows": len(rows), "seconds": round(seconds, 3), "rows_per_s": round(len(rows) / seconds)}


def duplicates_stored(stack: Stack) -> int:
    if stack.db == "postgres":
        q = ("SELECT COUNT(*) - COUNT(DISTINCT e->>'messageId') FROM cdp_eventbatch, "
             "jsonb_array_elements(payload) AS e")
    else:
        q = ("SELECT COUNT(*) - COUNT(DISTINCT json_extract(e.value, '$.messageId')) FROM cdp_eventbatch, "
             "json_each(cdp_eventbatch.payload) AS e")
    return stack.sql(q)[0][0]


def _rate(events: int, wall: float) -> int:
    return round(events / wall) if wall else 0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def warm_up(stack: Stack, connections: int, *, max_seconds: float = 120.0) -> int:
    """Warm every web worker before measuring. The port answers as soon as gunicorn's master listens, while
    its workers are still booting (Django set-up), and each worker imports the URLconf in its first request:
    seconds of CPU that, landing inside a measured run, stall every request that worker holds. So rounds of
    requests on new connections are sent until one round is answered without a slow request (a worker
    booting or importing makes some request wait for many seconds), after at least three; returns the rounds."""
    deadline = time.monotonic() + max_seconds
    rounds = 0
    while True:
        r = drive(stack.port, stack.auth, "/v1/batch", make_batches(connections * 2, f"warm-{uuid.uuid4().hex[:6]}"),
                  connections)
        rounds += 1
        if (rounds >= 3 and r["latency"]["max_ms"] < 2500) or time.monotonic() > deadline:
            return rounds


def bench_db(db: str, opts) -> dict:
    stack = Stack(db, web_workers=opts.workers, threads=opts.threads).start()
    try:
        out: dict = {"database": db, "load_average_before": load_average()}
        out["warm_up_rounds"] = warm_up(stack, opts.concurrency * 2)
        # P1 closed loop
        bodies = make_batches(opts.batches, f"p1-{uuid.uuid4().hex[:6]}", seed=2)
        r = drive(stack.port, stack.auth, "/v1/batch", bodies, opts.concurrency)
        p1_rate = _rate(r["stored"], r["wall"])
        out["P1_batch"] = {"requests": len(bodies), "events": len(bodies) * EVENTS_PER_BATCH,
                           "concurrency": opts.concurrency, "events_per_s": p1_rate,
                           "batch_bytes_avg": round(sum(map(len, bodies)) / len(bodies)),
                           "ack_ms": r["latency"], "statuses": r["statuses"], "stored": r["stored"]}
        if db == "postgres":
            copy = raw_copy(stack, bodies)
            out["P1_batch"]["raw_copy"] = copy
            out["P1_batch"]["ratio_to_raw_copy"] = round(p1_rate / copy["rows_per_s"], 3)
        # P1 paced: ack latency at a fixed load
        target = min(10_000, int(p1_rate * 0.8)) or 1000
        paced_n = max(20, min(opts.batches, int(target / EVENTS_PER_BATCH * opts.paced_seconds)))
        bodies = make_batches(paced_n, f"p1p-{uuid.uuid4().hex[:6]}", seed=3)
        r = drive(stack.port, stack.auth, "/v1/batch", bodies, opts.concurrency * 2,
                  rate_per_second=target / EVENTS_PER_BATCH)
        out["P1_paced"] = {"target_events_per_s": target, "achieved_events_per_s": _rate(r["stored"], r["wall"]),
                           "ack_ms": r["latency"], "statuses": r["statuses"]}
        # P2: single events, 64 clients
        rng = random.Random(4)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        tag = uuid.uuid4().hex[:6]
        singles = [json.dumps(make_event(rng, f"p2-{tag}-{i}", f"user{rng.randrange(5000)}", ts)).encode()
                   for i in range(opts.track_requests)]
        r = drive(stack.port, stack.auth, "/v1/track", singles, 64)
        out["P2_track"] = {"requests": len(singles), "clients": 64, "req_per_s": _rate(len(singles), r["wall"]),
                           "latency_ms": r["latency"], "statuses": r["statuses"]}
        # P4: 10 % replays, half of them of the batch just handed to another client (concurrent)
        fresh = make_batches(opts.batches, f"p4-{uuid.uuid4().hex[:6]}", seed=5)
        bodies, prng = [], random.Random(6)
        for i, body in enumerate(fresh):
            bodies.append(body)
            if i % 9 == 8:
                bodies.append(fresh[i] if prng.random() < 0.5 else fresh[prng.randrange(i)])
        r = drive(stack.port, stack.auth, "/v1/batch", bodies, opts.concurrency)
        sent = len(bodies) * EVENTS_PER_BATCH
        accepted_rate = _rate(r["stored"] + r["duplicates"], r["wall"])
        out["P4_replay"] = {"requests": len(bodies), "replayed_requests": len(bodies) - len(fresh),
                            "events_sent_per_s": accepted_rate, "new_events_per_s": _rate(r["stored"], r["wall"]),
                            "stored": r["stored"], "duplicates_answered": r["duplicates"],
                            "duplicates_stored": duplicates_stored(stack), "events_sent": sent,
                            "drop_vs_P1": round(1 - accepted_rate / p1_rate, 3) if p1_rate else None,
                            "ack_ms": r["latency"], "statuses": r["statuses"]}
        out["load_average_after"] = load_average()
        return out
    finally:
        stack.stop()


def run(args, rest) -> dict:
    parser = argparse.ArgumentParser(prog="make bench NAME=ingest")
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--batches", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--track-requests", type=int, default=None)
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    opts = parser.parse_args(rest)
    quick = getattr(args, "quick", False)
    opts.batches = opts.batches or (100 if quick else 600)
    opts.track_requests = opts.track_requests or (1000 if quick else 6000)
    if quick:
        opts.paced_seconds = min(opts.paced_seconds, 3.0)
    dbs = ["postgres", "sqlite"] if opts.db == "both" else [opts.db]
    return {"dataset": f"{opts.batches} batches x {EVENTS_PER_BATCH} events (~400 B)",
            "web_workers": opts.workers, "web_threads": opts.threads,
            "results": [bench_db(db, opts) for db in dbs]}
