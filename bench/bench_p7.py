"""P7: segment membership update latency — from the 2xx of ``POST /v1/track`` to the ``SegmentEntered`` domain
event of the profile it made a member, with the whole pipeline running as in production.

``siyu serve`` (2 web workers) and ``siyu worker`` (huey: ``cdp.ingest.process`` claims the batch, writes the
events and rollups and emits one ``ProfilesChanged`` for the batch; the outbox dispatcher runs the
``cdp.segments.refresh`` handler, which evaluates every active segment for the batch's profiles and emits
``SegmentEntered``) run as subprocesses against a fresh database (PostgreSQL ``siyu_bench_p7`` on
127.0.0.1:5432, and a SQLite file). The organisation has ``--segments`` active segments of mixed rules
(behaviour with and without windows, NOT, attributes, identities) plus the probe's segment ("did Probe Seen").

While a background load of 100-event batches runs at ``--rate`` events/s over known users (their refreshes
compete with the probes'), a probe sends one ``Probe Seen`` track event for a new user every 100 ms, and a
poller reads new ``cdp.SegmentEntered`` outbox rows every 20 ms: latency = first seen − ack received.
Reported: p50/p95/p99/max, probes that never entered within 30 s of the end, the machine's load average.

Usage: ``make bench NAME=p7`` (``--db postgres|sqlite|both``, default both; ``--seconds`` default 20;
``--rate`` default 500, 0 for probes alone; ``--segments`` default 20; ``--quick``). Small by design: the machine is shared.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
import uuid

from bench import bench_ingest
from bench.bench_event_latency import _pending, _post  # the same probe request and backlog count as P3
from bench.bench_ingest import EVENTS_PER_BATCH, Stack, drive, load_average, make_event
from bench.stats import summary

USERS = 300
PROBE_EVENT = "Probe Seen"

SEGMENTS_SNIPPET = """
import django, json, sys
django.setup()
from django.db import transaction
from siyu.kernel.actor import Actor
from siyu.cdp import consent, lifecycle
from siyu.cdp.segments import services
org, n = int(sys.argv[1]), int(sys.argv[2])
actor = Actor.system(org)
shapes = [
    lambda i: {"type": "event", "name": "Product Viewed", "min_count": 2 + i % 3, "within_days": 7 + i},
    lambda i: {"op": "and", "rules": [{"type": "event", "name": "Product Added", "within_days": 30},
               {"op": "not", "rule": {"type": "event", "name": "Order Completed", "within_days": 30}}]},
    lambda i: {"type": "event", "name": "Order Completed", "min_count": 1 + i % 4},
    lambda i: {"op": "or", "rules": [{"type": "identity", "identity_type": "user_id"},
               {"type": "attribute", "field": "city", "op": "eq", "value": "上海"}]},
    lambda i: {"type": "event", "name": "Page Viewed", "within_days": 3, "properties": [
               {"key": "category", "op": "eq", "value": "数码"}]},
]
with transaction.atomic():
    consent.ensure_default_purposes(actor=actor)
    lifecycle.ensure_default_stages(actor=actor)
    for i in range(n):
        services.create_segment(actor=actor, name=f"bench {i}", rules=shapes[i % len(shapes)](i))
    probe = services.create_segment(actor=actor, name="probe", rules={"type": "event", "name": "PROBE_EVENT"})
print(json.dumps({"probe": probe.pk}))
""".replace("PROBE_EVENT", PROBE_EVENT)


def _payload(value) -> dict:
    return value if isinstance(value, dict) else json.loads(value)


def bench_db(db: str, opts) -> dict:
    bench_ingest.PG_NAME = "siyu_bench_p7"  # its own database: never drops one an ingest benchmark is using
    stack = Stack(db, worker=True, threads=16,
                  extra_env={"SIYU_DURABLE_POLL_SECONDS": "1", "SIYU_WORKERS": str(opts.worker_threads)}).start()
    try:
        probe_segment = json.loads(stack.run("-c", SEGMENTS_SNIPPET, str(stack.org_id),
                                             str(opts.segments)).strip().splitlines()[-1])["probe"]
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        tag = uuid.uuid4().hex[:6]
        identify = [{"type": "identify", "userId": f"user{u}", "messageId": f"id-{tag}-{u}", "timestamp": ts,
                     "traits": {"name": f"用户{u}", "city": "上海" if u % 3 == 0 else "北京"}} for u in range(USERS)]
        drive(stack.port, stack.auth, "/v1/batch",
              [json.dumps({"batch": identify[i:i + 100]}).encode() for i in range(0, USERS, 100)], 2)
        deadline = time.monotonic() + 180
        while _pending(stack) and time.monotonic() < deadline:
            time.sleep(0.5)
        last_row = [stack.sql("SELECT COALESCE(MAX(id), 0) FROM kernel_outboxmessage")[0][0]]
        rng = random.Random(7)
        n_batches = int(opts.rate * opts.seconds / EVENTS_PER_BATCH)
        load = [json.dumps({"batch": [make_event(rng, f"bg-{tag}-{b}-{i}", f"user{rng.randrange(USERS)}", ts)
                                      for i in range(EVENTS_PER_BATCH)]}).encode() for b in range(n_batches)]
        acked: dict[str, float] = {}  # probe user -> ack time
        seen: dict[int, float] = {}  # profile id -> first seen in a SegmentEntered of the probe segment
        stop = threading.Event()

        def probe():
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
            i = 0
            while not stop.is_set():
                user = f"probe-{tag}-{i}"
                body = json.dumps({"userId": user, "event": PROBE_EVENT, "messageId": user}).encode()
                if _post(conn, "/v1/track", body, stack.auth) == 200:
                    acked[user] = time.perf_counter()
                i += 1
                time.sleep(0.1)

        def poll():
            while not stop.is_set() or (len(seen) < len(acked) and time.perf_counter() < give_up[0]):
                rows = stack.sql("SELECT id, payload FROM kernel_outboxmessage WHERE topic = 'cdp.SegmentEntered' "
                                 f"AND id > {last_row[0]} ORDER BY id")  # noqa: S608 - integers
                now = time.perf_counter()
                for row_id, payload in rows:
                    data = _payload(payload)
                    if data["segment_id"] == probe_segment:
                        seen.setdefault(data["profile_id"], now)
                    last_row[0] = max(last_row[0], row_id)
                time.sleep(0.02)

        give_up = [float("inf")]
        threads = [threading.Thread(target=probe), threading.Thread(target=poll)]
        for t in threads:
            t.start()
        if opts.rate > 0:
            r = drive(stack.port, stack.auth, "/v1/batch", load, 2, rate_per_second=opts.rate / EVENTS_PER_BATCH)
            achieved = round(r["stored"] / r["wall"])
        else:  # the pipeline's own latency: probes only
            time.sleep(opts.seconds)
            achieved = 0
        backlog = _pending(stack)
        give_up[0] = time.perf_counter() + 30
        stop.set()
        for t in threads:
            t.join()
        # probe users -> their profiles (each probe user is a new profile made by its one event)
        profile_of = dict(stack.sql("SELECT message_id, profile_id FROM cdp_event "
                                    f"WHERE message_id LIKE 'probe-{tag}-%'"))  # noqa: S608 - our tag
        latencies = [(seen[profile_of[u]] - acked[u]) * 1000 for u in acked if profile_of.get(u) in seen]
        changed = stack.sql("SELECT COUNT(*) FROM kernel_outboxmessage WHERE topic = 'cdp.ProfilesChanged'")[0][0]
        undelivered = stack.sql("SELECT COUNT(*) FROM kernel_outboxmessage WHERE topic = 'cdp.ProfilesChanged' "
                                "AND processed_at IS NULL")[0][0]
        return {
            "database": db,
            "load_average_at_end": load_average(),
            "active_segments": opts.segments + 1,
            "background_events_per_s": {"target": opts.rate, "achieved": achieved},
            "ingest_backlog_batches_at_end_of_load": backlog,
            "probes": len(acked), "probes_not_entered_after_30s": len(acked) - len(latencies),
            "ack_to_segment_entered_ms": summary(latencies),
            "profiles_changed_messages": changed, "profiles_changed_not_yet_handled": undelivered,
        }
    finally:
        stack.stop()


def run(args, rest) -> dict:
    parser = argparse.ArgumentParser(prog="make bench NAME=p7")
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--worker-threads", type=int, default=2, help="huey worker threads (SIYU_WORKERS)")
    opts = parser.parse_args(rest)
    if getattr(args, "quick", False):
        opts.seconds = min(opts.seconds, 8)
    dbs = ["postgres", "sqlite"] if opts.db == "both" else [opts.db]
    return {"dataset": f"{USERS} known users, {opts.segments} + 1 segments, background load of 100-event batches",
            "web_workers": 2, "worker": f"siyu worker (huey, {opts.worker_threads} threads)",
            "results": [bench_db(db, opts) for db in dbs]}
