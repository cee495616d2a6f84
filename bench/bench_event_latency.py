"""P3: from the 2xx of ``POST /v1/track`` to the event on the profile's timeline, with the worker running.

``siyu serve`` (2 web workers) and ``siyu worker`` (the huey consumer that runs ``cdp.ingest.process``) run as
subprocesses against a fresh database (PostgreSQL ``siyu_bench_ingest`` on 127.0.0.1:5432, and a SQLite file).
Known users are created first (one identify each, processed before the clock starts). Then, for a bounded
time, a background load of 100-event batches is sent at a fixed rate while a probe sends one uniquely named
track event every 50 ms and a poller reads the timeline every 20 ms: latency = first seen on the timeline −
ack received. Reported: p50/p95/p99/max, probes not visible within 30 s after the end, events processed per
second by the worker, and the backlog left.

Usage: ``make bench NAME=event_latency`` (``--rate EVENTS_PER_S`` of background load, default 2,000;
``--seconds`` default 30; ``--db postgres|sqlite|both``; ``--worker-threads`` default 2; ``--quick``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
import uuid

from bench.bench_ingest import EVENTS_PER_BATCH, Stack, drive, load_average, make_event
from bench.stats import summary

USERS = 500


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, auth: str) -> int:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "Authorization": auth})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def _pending(stack: Stack) -> int:
    return stack.sql("SELECT COUNT(*) FROM cdp_eventbatch WHERE processed_at IS NULL")[0][0]


def _events(stack: Stack) -> int:
    return stack.sql("SELECT COUNT(*) FROM cdp_event")[0][0]


def bench_db(db: str, opts) -> dict:
    stack = Stack(db, worker=True, threads=opts.threads,
                  extra_env={"SIYU_DURABLE_POLL_SECONDS": "1", "SIYU_WORKERS": str(opts.worker_threads)}).start()
    try:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        tag = uuid.uuid4().hex[:6]
        identify = [{"type": "identify", "userId": f"user{u}", "messageId": f"id-{tag}-{u}", "timestamp": ts,
                     "traits": {"name": f"用户{u}"}} for u in range(USERS)]
        bodies = [json.dumps({"batch": identify[i:i + 100]}).encode() for i in range(0, USERS, 100)]
        drive(stack.port, stack.auth, "/v1/batch", bodies, 2)
        deadline = time.monotonic() + 180
        while _pending(stack) and time.monotonic() < deadline:
            time.sleep(0.5)
        rng = random.Random(7)
        n_batches = int(opts.rate * opts.seconds / EVENTS_PER_BATCH)
        load = [json.dumps({"batch": [make_event(rng, f"bg-{tag}-{b}-{i}", f"user{rng.randrange(USERS)}", ts)
                                      for i in range(EVENTS_PER_BATCH)]}).encode() for b in range(n_batches)]
        acked: dict[str, float] = {}
        seen: dict[str, float] = {}
        stop = threading.Event()
        name_sql = ("data->>'name'" if db == "postgres" else "json_extract(data, '$.name')")

        def probe():
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
            i = 0
            while not stop.is_set():
                name = f"probe-{tag}-{i}"
                body = json.dumps({"userId": f"user{i % USERS}", "event": name, "messageId": name,
                                   "properties": {"n": i}}).encode()
                if _post(conn, "/v1/track", body, stack.auth) == 200:
                    acked[name] = time.perf_counter()
                i += 1
                time.sleep(0.05)

        def poll():
            last = 0
            while not stop.is_set() or (len(seen) < len(acked) and time.perf_counter() < give_up[0]):
                rows = stack.sql(f"SELECT id, {name_sql} FROM cdp_timelineentry WHERE id > {last} "  # noqa: S608
                                 f"AND kind = 'event' AND {name_sql} LIKE 'probe-{tag}-%' ORDER BY id")
                now = time.perf_counter()
                for row_id, name in rows:
                    seen.setdefault(name, now)
                    last = max(last, row_id)
                time.sleep(0.02)

        give_up = [float("inf")]
        events_before, started = _events(stack), time.perf_counter()
        threads = [threading.Thread(target=probe), threading.Thread(target=poll)]
        for t in threads:
            t.start()
        r = drive(stack.port, stack.auth, "/v1/batch", load, 4, rate_per_second=opts.rate / EVENTS_PER_BATCH)
        load_seconds = time.perf_counter() - started
        processed_during = _events(stack) - events_before
        backlog_at_end = _pending(stack)
        give_up[0] = time.perf_counter() + 30
        stop.set()
        for t in threads:
            t.join()
        latencies = [(seen[n] - acked[n]) * 1000 for n in acked if n in seen]
        return {
            "database": db,
            "load_average_at_end": load_average(),
            "background_events_per_s": {"target": opts.rate, "achieved": round(r["stored"] / r["wall"])},
            "load_statuses": r["statuses"],
            "probes": len(acked), "probes_not_visible_after_30s": len(acked) - len(latencies),
            "ack_to_timeline_ms": summary(latencies),
            "worker_events_per_s_during_load": round(processed_during / load_seconds),
            "backlog_batches_at_end_of_load": backlog_at_end,
        }
    finally:
        stack.stop()


def run(args, rest) -> dict:
    parser = argparse.ArgumentParser(prog="make bench NAME=event_latency")
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=16, help="request threads per web worker")
    parser.add_argument("--worker-threads", type=int, default=2, help="huey worker threads (SIYU_WORKERS)")
    opts = parser.parse_args(rest)
    if getattr(args, "quick", False):
        opts.seconds = min(opts.seconds, 10)
    dbs = ["postgres", "sqlite"] if opts.db == "both" else [opts.db]
    return {"dataset": f"{USERS} known users, background load of 100-event batches", "web_workers": 2,
            "worker": f"siyu worker (huey, {opts.worker_threads} threads)", "results": [bench_db(db, opts) for db in dbs]}
