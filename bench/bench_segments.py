"""P6 and P8 (segments): rule evaluation and the 50-segment full recompute on generated data.

For each database (PostgreSQL ``siyu_bench_segments_<size>`` on 127.0.0.1:5432, and a SQLite file under
``/tmp/siyu-bench-segments-<size>``), a child process:

* creates and migrates the database and loads ``siyu bench-data --size S|M`` (kept for the next run with
  ``--reuse``), then ``VACUUM ANALYZE`` / ``ANALYZE``;
* **P6**: evaluates three rules — an attribute rule, a behavioural rule with NOT ("viewed a product at least 3
  times in 30 days and did not order in 30 days") and "viewed but did not buy in 7 days" — as the count the
  rule builder shows (``Compiler.profiles(rule).count()``, the whole organisation), ``--runs`` times after one
  warm-up run: median, min, max;
* **P8**: creates 50 varied segments (attributes, tags, consent, identities, events with windows, NOT and
  property filters) — each computes its members set-based on creation — then runs the daily job's full
  recompute of all 50 (diffs read, nothing to change): both timed; and the incremental refresh of 100
  random profiles against the 50 segments (what ingestion's hook costs per batch), median of 5.

Usage: ``make bench NAME=segments`` (``--size S|M``, ``--db postgres|sqlite|both``, ``--runs 7``, ``--reuse``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_BASE = "postgresql://postgres@127.0.0.1:5432"


def _options(rest: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make bench NAME=segments")
    p.add_argument("--size", default="S", choices=["XS", "S", "M"])
    p.add_argument("--db", default="both", choices=["postgres", "sqlite", "both"])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--reuse", action="store_true", help="keep and reuse the loaded database")
    p.add_argument("--skip-p8", action="store_true")
    return p.parse_args(rest)


def run(args, rest) -> dict:
    opts = _options(rest)
    if args.quick:
        opts.size = "XS"
    out = {"dataset": opts.size, "runs": opts.runs, "results": {}}
    for db in (["postgres", "sqlite"] if opts.db == "both" else [opts.db]):
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="siyu.settings", SIYU_HUEY_IMMEDIATE="false")
        env.pop("DATABASE_URL", None)
        var = f"/tmp/siyu-bench-segments-{opts.size.lower()}-{db}"
        os.makedirs(var, exist_ok=True)
        env["SIYU_VAR_DIR"] = var
        if db == "postgres":
            env["DATABASE_URL"] = f"{PG_BASE}/siyu_bench_segments_{opts.size.lower()}"
        cmd = [sys.executable, "-m", "bench.bench_segments", "--child", db, "--size", opts.size,
               "--runs", str(opts.runs)] + (["--reuse"] if opts.reuse else []) + (["--skip-p8"] if opts.skip_p8 else [])
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            out["results"][db] = {"error": proc.stderr[-3000:]}
            continue
        out["results"][db] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# --- the child: one database ----------------------------------------------------------------------------------

def _prepare(db: str, size: str, reuse: bool) -> int:
    import django

    if db == "postgres":
        import psycopg

        name = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
        with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as c:
            exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists and not reuse:
                c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            if not exists or not reuse:
                c.execute(f'CREATE DATABASE "{name}"')
    else:
        path = Path(os.environ["SIYU_VAR_DIR"]) / "siyu.sqlite3"
        if path.exists() and not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from siyu.cdp.demo_data import SIZES, generate
    from siyu.iam import services as iam
    from siyu.iam.models import Organization
    from siyu.kernel.actor import Actor

    call_command("migrate", verbosity=0)
    org = Organization.objects.filter(name=f"Bench segments {size}").first()
    if org is None:
        with transaction.atomic():
            org = iam.create_organization(name=f"Bench segments {size}", admin_email=f"bench-seg-{size.lower()}@siyu.local",
                                          admin_password="bench-password-segments").org
        profiles, events = SIZES[size]
        started = time.monotonic()
        generate(actor=Actor.system(org.pk, label="bench"), profiles=profiles, events=events)
        sys.stderr.write(f"loaded {size} in {time.monotonic() - started:.0f} s\n")
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                connection.ensure_connection()
                connection.connection.autocommit = True
                cur.execute("VACUUM ANALYZE")
            else:
                cur.execute("ANALYZE")
    return org.pk


P6_RULES = {
    "attribute": {"op": "and", "rules": [
        {"type": "attribute", "field": "gender", "op": "eq", "value": "female"},
        {"type": "attribute", "field": "province", "op": "eq", "value": "广东"},
        {"type": "lifecycle", "stages": ["order", "repurchase"]}]},
    "behavioural_with_not": {"op": "and", "rules": [
        {"type": "event", "name": "Product Viewed", "min_count": 3, "within_days": 30},
        {"op": "not", "rule": {"type": "event", "name": "Order Completed", "within_days": 30}}]},
    "viewed_not_bought_7d": {"op": "and", "rules": [
        {"type": "event", "name": "Product Viewed", "within_days": 7},
        {"op": "not", "rule": {"type": "event", "name": "Order Completed", "within_days": 7}}]},
}


def _fifty(tag_ids: list[int]) -> list[dict]:
    provinces = ["上海", "北京", "广东", "浙江", "江苏", "四川"]
    stages = ["acquisition", "nurturing", "opportunity", "order", "service", "repurchase"]
    events = ["Page Viewed", "Product Viewed", "Article Read", "Product Added", "Order Completed"]
    out: list[dict] = []
    for i in range(50):
        kind = i % 10
        if kind == 0:
            rule = {"op": "and", "rules": [{"type": "attribute", "field": "province", "op": "eq", "value": provinces[i % 6]},
                                           {"type": "attribute", "field": "gender", "op": "eq", "value": "female"}]}
        elif kind == 1:
            rule = {"type": "lifecycle", "stages": [stages[i % 6], stages[(i + 1) % 6]]}
        elif kind == 2:
            rule = {"type": "tag", "tag_ids": tag_ids[(i % 6):(i % 6) + 2], "match": "any"}
        elif kind == 3:
            rule = {"op": "and", "rules": [{"type": "consent", "purpose": "marketing", "channel": "wecom"},
                                           {"type": "tag", "tag_ids": [tag_ids[i % 6]]}]}
        elif kind == 4:
            rule = {"type": "event", "name": events[i % 5], "within_days": 7 + i}
        elif kind == 5:
            rule = {"op": "and", "rules": [{"type": "event", "name": "Product Viewed", "min_count": 2 + i % 3,
                                            "within_days": 30},
                                           {"op": "not", "rule": {"type": "event", "name": "Order Completed",
                                                                  "within_days": 30}}]}
        elif kind == 6:
            rule = {"op": "and", "rules": [{"type": "identity", "identity_type": "wecom_external_userid"},
                                           {"op": "not", "rule": {"type": "event", "name": events[i % 5]}}]}
        elif kind == 7:
            rule = {"type": "event", "name": "Order Completed", "within_days": 30,
                    "properties": [{"key": "sku", "op": "in", "value": [f"SKU{n:04d}" for n in range(i, i + 20)]}]}
        elif kind == 8:
            rule = {"op": "or", "rules": [{"type": "event", "name": events[i % 5], "min_count": 5},
                                          {"type": "attribute", "field": "source", "op": "eq", "value": "web_form"}]}
        else:
            rule = {"op": "and", "rules": [
                {"type": "attribute", "field": "province", "op": "in", "value": provinces[:3]},
                {"type": "event", "name": "Product Viewed", "within_days": 14},
                {"op": "not", "rule": {"type": "tag", "tag_ids": [tag_ids[0]]}}]}
        out.append(rule)
    return out


def child(db: str, size: str, runs: int, reuse: bool, skip_p8: bool) -> dict:
    org_id = _prepare(db, size, reuse)
    from django.db import connection, transaction

    from siyu.cdp.models import Profile, Segment, Tag
    from siyu.cdp.segments import membership, services
    from siyu.cdp.segments.compiler import Compiler, tune_session
    from siyu.cdp.segments.rules import parse
    from siyu.iam.models import Membership
    from siyu.iam.selectors import actor_for_membership
    from siyu.kernel import clock
    from siyu.kernel.actor import Actor

    system = Actor.system(org_id)
    result: dict = {"database": connection.vendor, "profiles": Profile.objects.in_org(system).count(), "p6": {}}
    for name, raw in P6_RULES.items():
        node = parse(raw, actor=system)
        times, count = [], 0
        for i in range(runs + 1):
            started = time.perf_counter()
            with transaction.atomic():  # as in a request (ATOMIC_REQUESTS) or a job
                tune_session()
                count = Compiler(system, now=clock.now()).profiles(node).count()
            if i:  # the first run warms caches
                times.append((time.perf_counter() - started) * 1000)
        result["p6"][name] = {"count": count, "median_ms": round(statistics.median(times), 1),
                              "min_ms": round(min(times), 1), "max_ms": round(max(times), 1)}
    if skip_p8:
        return result
    admin = actor_for_membership(Membership.objects.in_org(system).filter(roles__is_admin=True).first())
    tag_ids = list(Tag.objects.in_org(system).order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():
        Segment.objects.in_org(system).delete()
    rules = _fifty(tag_ids)
    started = time.perf_counter()
    with transaction.atomic():
        for i, rule in enumerate(rules):
            services.create_segment(actor=admin, name=f"bench {i:02d}", rules=rule)
    created = time.perf_counter() - started
    started = time.perf_counter()
    with transaction.atomic():
        changes = membership.recompute_all(system, emit=True)
    recomputed = time.perf_counter() - started
    counts = list(Segment.objects.in_org(system).values_list("member_count", flat=True))
    # The incremental path (what ingestion's hook costs per batch): 100 profiles against the 50 segments.
    ids = list(Profile.objects.in_org(system).order_by("?").values_list("pk", flat=True)[:500])
    refresh_ms = []
    for lo in range(0, 500, 100):
        started = time.perf_counter()
        with transaction.atomic():
            membership.refresh_profiles(system, ids[lo:lo + 100])
        refresh_ms.append((time.perf_counter() - started) * 1000)
    result["p8"] = {"segments": len(rules), "initial_compute_s": round(created, 2),
                    "full_recompute_s": round(recomputed, 2), "changes": changes.total,
                    "members_total": sum(counts), "largest": max(counts), "smallest": min(counts),
                    "refresh_100_profiles_ms": {"median": round(statistics.median(refresh_ms), 1),
                                                "max": round(max(refresh_ms), 1)}}
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--child", required=True)
    p.add_argument("--size", default="S")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--reuse", action="store_true")
    p.add_argument("--skip-p8", action="store_true")
    a = p.parse_args()
    print(json.dumps(child(a.child, a.size, a.runs, a.reuse, a.skip_p8), ensure_ascii=False))


if __name__ == "__main__":
    main()
