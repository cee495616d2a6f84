"""P12: console/API latency at dataset M on PostgreSQL under a constant mix, through the whole Django stack
in-process (middleware, API-key auth, rate limits, scope, serialisation) with the test client.

The mix (weights per 100 requests): list 50 (a filter plus keyset paging, 50 rows, following cursors up to 20
pages deep), detail 15, lookup 10 (phone, email, WeCom external_userid through the blind index), name search 10
(full names, surnames, given names), timeline 10, write 5 (a PATCH of one profile). Requests are paced to at most
``--rate`` per second (default 300); one client thread, so the rate is a ceiling, and the achieved rate is
reported. Targets (PostgreSQL): list p99 <= 15 ms, detail <= 10 ms, lookup <= 10 ms, name search <= 50 ms,
timeline <= 20 ms.

Data: ``siyu bench-data --size M --events 0`` (1M profiles with ~2.3M encrypted identities, tags, consent and
lifecycle stages; raw events are left out because no P12 operation reads them) loaded by ``--setup`` into
``--database-url`` (default ``siyu_bench_console`` on 127.0.0.1:5432), plus 60 timeline entries on each of
2,000 profiles. The field keys live in ``SIYU_VAR_DIR`` (default ``/tmp/siyu-bench-console``): run the setup and
the measurement with the same one.

``--database-url sqlite`` measures the embedded SQLite database in ``/tmp/siyu-bench-console-sqlite`` instead
(targets doubled, as P12 allows). ``--runs N`` repeats the measurement (after one warm-up) and reports each run
and the median of the runs' p50 and p99 per operation, with the load average: the machines are shared.

Usage: ``make bench NAME=console_api`` (measures; ``--setup`` first, ``--size S`` for the smaller set).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

from bench.djangodb import recreate_database, setup_django
from bench.stats import summary

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/siyu_bench_console"
TARGETS_MS = {"list": 15, "detail": 10, "lookup": 10, "search": 50, "timeline": 20}
MIX = [("list", 50), ("detail", 15), ("lookup", 10), ("search", 10), ("timeline", 10), ("write", 5)]
TIMELINE_PROFILES, TIMELINE_ENTRIES = 2_000, 60
SQLITE_VAR = "/tmp/siyu-bench-console-sqlite"


def _options(rest: list[str]) -> dict:
    import argparse

    p = argparse.ArgumentParser(prog="make bench NAME=console_api")
    p.add_argument("--database-url", default=os.environ.get("BENCH_CONSOLE_DB", DEFAULT_URL))
    p.add_argument("--setup", action="store_true", help="recreate the database and load the data first")
    p.add_argument("--size", default="M", choices=["XS", "S", "M"])
    p.add_argument("--requests", type=int, default=6000)
    p.add_argument("--rate", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--runs", type=int, default=1, help="measurements of --requests each; medians are reported")
    return vars(p.parse_args(rest))


def _setup_sqlite(recreate: bool) -> None:
    """Django on the embedded SQLite database (no DATABASE_URL), as a default installation runs."""
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("SIYU_VAR_DIR", SQLITE_VAR)
    os.environ["SIYU_API_RATE_PER_MINUTE"] = "100000000"
    var = Path(os.environ["SIYU_VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    if recreate:
        for suffix in ("", "-wal", "-shm"):
            (var / f"siyu.sqlite3{suffix}").unlink(missing_ok=True)
    import django

    django.setup()


def _load(size: str) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("bench_data", size=size, events=0)


def _bench_org(size: str):
    from siyu.iam.models import Organization

    org = Organization.objects.filter(name__startswith=f"Bench {size} ").order_by("-pk").first()
    if org is None:
        raise SystemExit(f"no 'Bench {size}' organisation in the database: run with --setup first")
    return org


def _timeline(actor, rng: random.Random) -> None:
    """60 timeline entries on each of 2,000 profiles (once), so the timeline has pages to read."""
    from django.db import transaction

    from siyu.cdp.bulkload import copy_rows
    from siyu.cdp.models import Profile, TimelineEntry

    if TimelineEntry.objects.in_org(actor).exists():
        return
    ids = list(Profile.objects.in_org(actor).order_by("pk").values_list("pk", flat=True)[:TIMELINE_PROFILES])
    now = dt.datetime.now(dt.UTC)
    kinds = [("event", lambda n: {"name": "Page Viewed", "n": n}), ("tag.added", lambda n: {"tag": "价值/VIP"}),
             ("lifecycle.changed", lambda n: {"from": "acquisition", "to": "nurturing"})]

    def rows():
        for pid in ids:
            for n in range(TIMELINE_ENTRIES):
                kind, make = kinds[n % 3]
                at = now - dt.timedelta(minutes=rng.randrange(500_000))
                yield (actor.org_id, pid, kind, at, "", "", json.dumps(make(n)), now, now)

    with transaction.atomic():
        copy_rows("cdp_timelineentry", ["org_id", "profile_id", "kind", "at", "ref_type", "ref_id", "data",
                                        "created_at", "updated_at"], rows())


def _samples(actor, rng: random.Random) -> dict:
    """Ids, decrypted identifiers and name queries of a random sample of the organisation's profiles."""
    from siyu.cdp.models import Identity, Profile
    from siyu.kernel import crypto

    top = Profile.objects.in_org(actor).order_by("-pk").values_list("pk", flat=True).first()
    low = Profile.objects.in_org(actor).order_by("pk").values_list("pk", flat=True).first()
    ids = [rng.randrange(low, top + 1) for _ in range(3000)]
    names = list(Profile.objects.in_org(actor).filter(pk__in=ids[:600]).values_list("name", flat=True))
    queries = []
    for name in names:
        queries += [name, name[0], name[1:]] if len(name) > 1 else [name]
    idents: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for type_ in ("phone", "email", "wecom_external_userid"):
        rows = Identity.objects.in_org(actor).filter(type=type_, profile_id__in=ids).values_list(
            "type", "value", "namespace")[:400]
        for t, value, ns in rows:
            idents[type_].append((crypto.decrypt(value, context=f"cdp.identity.{t}"), ns))
    timeline_ids = list(Profile.objects.in_org(actor).order_by("pk").values_list("pk", flat=True)[:TIMELINE_PROFILES])
    return {"ids": ids, "queries": queries, "idents": idents, "timeline_ids": timeline_ids}


LIST_FILTERS = ["lifecycle_stage=nurturing", "filter[city][eq]=上海", "filter[source][eq]=web_form",
                "lifecycle_stage=opportunity&filter[province][eq]=广东", "filter[gender][eq]=female", ""]


def run(args, rest) -> dict:
    opts = _options(rest)
    if args.quick:
        opts.update(size="S", requests=2000)
    sqlite = opts["database_url"] == "sqlite"
    if sqlite:
        _setup_sqlite(recreate=opts["setup"])
    else:
        if opts["setup"]:
            recreate_database(opts["database_url"])
        setup_django(opts["database_url"], "/tmp/siyu-bench-console")
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from siyu.iam import services as iam
    from siyu.iam.models import ApiKey
    from siyu.kernel.actor import Actor

    started = time.monotonic()
    if opts["setup"]:
        _load(opts["size"])
    else:
        call_command("migrate", verbosity=0)  # indexes added since the load
    load_seconds = round(time.monotonic() - started, 1) if opts["setup"] else None
    org = _bench_org(opts["size"])
    actor = Actor.system(org.pk, label="bench-console")
    rng = random.Random(opts["seed"])
    _timeline(actor, rng)
    with connection.cursor() as cur:
        # after a load, as autovacuum would have by then: the load rewrites every profile once (identity counts),
        # and index-only scans need the visibility map
        cur.execute("VACUUM ANALYZE" if opts["setup"] and not sqlite else "ANALYZE")
    key, raw = iam.issue_api_key(actor=actor, name="bench console", scopes=["*"])
    ApiKey.objects.in_org(actor).filter(pk=key.pk).update(rate_per_minute=100_000_000)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    s = _samples(actor, rng)
    base = "/api/v1/cdp"
    cursors: dict[str, tuple[str, int]] = {}

    def list_request():
        f = rng.choice(LIST_FILTERS)
        cursor, depth = cursors.get(f, (None, 0))
        url = f"{base}/profiles?limit=50&{f}" + (f"&cursor={cursor}" if cursor else "")
        r = client.get(url)
        nxt = r.json().get("next_cursor") if r.status_code == 200 else None
        cursors[f] = (nxt, depth + 1) if nxt and depth < 20 else (None, 0)
        return r

    def lookup_request():
        type_ = rng.choice(["phone", "email", "wecom_external_userid"])
        value, ns = rng.choice(s["idents"][type_])
        return client.get(f"{base}/profiles/lookup", {"type": type_, "value": value, "namespace": ns})

    actions = {
        "list": list_request,
        "detail": lambda: client.get(f"{base}/profiles/{rng.choice(s['ids'])}"),
        "lookup": lookup_request,
        "search": lambda: client.get(f"{base}/profiles/search", {"q": rng.choice(s["queries"]), "limit": 20}),
        "timeline": lambda: client.get(f"{base}/profiles/{rng.choice(s['timeline_ids'])}/timeline?limit=20"),
        "write": lambda: client.patch(f"{base}/profiles/{rng.choice(s['ids'])}",
                                      data={"city": rng.choice(["上海", "北京", "杭州"])}, content_type="application/json"),
    }
    names, weights = zip(*MIX, strict=True)
    for _ in range(300):  # warm-up: connections, caches, code paths
        actions[rng.choices(names, weights)[0]]()
    interval = 1.0 / opts["rate"]

    def measure() -> dict:
        samples: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        for n in range(opts["requests"]):
            due = t0 + n * interval
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            name = rng.choices(names, weights)[0]
            start = time.perf_counter()
            r = actions[name]()
            samples[name].append((time.perf_counter() - start) * 1000)
            statuses[name][r.status_code] += 1
        elapsed = time.perf_counter() - t0
        return {"achieved_rate": round(opts["requests"] / elapsed, 1),
                "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                "latency": {name: summary(values) for name, values in samples.items()},
                "statuses": {k: dict(v) for k, v in statuses.items()}}

    runs = [measure() for _ in range(max(1, opts["runs"]))]
    factor = 2 if sqlite else 1
    medians, verdict = {}, {}
    for name in names:
        per_run = [r["latency"][name] for r in runs if name in r["latency"]]
        if not per_run:
            continue
        medians[name] = {k: round(statistics.median(x[k] for x in per_run), 3) for k in ("p50_ms", "p99_ms")}
        medians[name]["n_per_run"] = [x["n"] for x in per_run]
        target = TARGETS_MS.get(name)
        if target is not None:
            target *= factor
            p99 = medians[name]["p99_ms"]
            verdict[name] = {"target_p99_ms": target, "median_p99_ms": p99, "met": p99 <= target,
                             "missed_by_ms": round(max(0.0, p99 - target), 3),
                             "missed_by_pct": round(max(0.0, p99 / target - 1) * 100, 1)}
    from siyu.cdp.models import Identity, Profile

    return {
        "database": connection.vendor, "size": opts["size"], "load_seconds": load_seconds,
        "profiles": Profile.objects.in_org(actor).count(), "identities": Identity.objects.in_org(actor).count(),
        "requests": opts["requests"], "target_rate": opts["rate"], "mix": dict(MIX),
        "median_of_runs": medians, "p12": verdict, "runs": runs,
    }
