"""P14: list and detail latency on a 1M-row synthetic object, one organisation versus 100 organisations with
roles, data scopes and field security on (target: <= 10 % slower than the single-organisation figures).

Both phases run in one process against one database (PostgreSQL by default: ``--database-url``), through the
whole Django stack in-process (middleware, auth, scope, serialisation) with the test client:

* phase ``single``: one organisation owning all rows; its administrator (organisation scope, no field rules);
* phase ``multi``: 99 more organisations (10K rows each) are added, the first organisation gets a department
  tree, 200 owners and roles: the administrator again, a manager (department-and-below scope, one hidden and
  one read-only field) and a representative (own scope).

Both databases stay connected and the four callers take turns request by request (in a shuffled order each
round), so the load of a shared machine falls on all of them alike; figures are medians.

Usage: ``make bench NAME=tenancy`` (``--rows 1000000``; ``--quick`` = 100K rows, fewer samples;
``--reuse`` keeps databases an earlier run built, after migrating them).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import time

from bench.stats import summary

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/siyu_bench_p14"


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SIYU_VAR_DIR", "/tmp/siyu-bench-p14")
    os.environ["SIYU_API_RATE_PER_MINUTE"] = "100000000"
    os.makedirs(os.environ["SIYU_VAR_DIR"], exist_ok=True)
    import django

    django.setup()


def _recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base.replace("postgres://", "postgresql://") + "/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')


def _load(org_id: int, object_id: int, rows: int, owners: list[tuple[int, int]], seed: int) -> None:
    from django.db import transaction

    from siyu.cdp.bulkload import copy_rows

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    stages = ["new", "qualified", "proposal", "won", "lost"]
    regions = ["华东", "华南", "华北", "西南", "华中"]
    cols = ["org_id", "object_id", "owner_id", "department_id", "data", "created_at", "updated_at"]
    chunk = 100_000
    for lo in range(0, rows, chunk):
        def gen(lo=lo):
            for n in range(lo, min(rows, lo + chunk)):
                owner, dept = owners[rng.randrange(len(owners))]
                data = {"stage": rng.choice(stages), "region": rng.choice(regions), "amount": f"{rng.randrange(100, 10**6)}.00",
                        "note": f"记录 {n}", "score": rng.randrange(100)}
                yield (org_id, object_id, owner, dept, json.dumps(data, ensure_ascii=False), now, now)

        with transaction.atomic():
            copy_rows("platform_customrecord", cols, gen())


def _object(actor):
    from siyu.platform import services

    services.create_object(actor=actor, key="custom.deal", label="Deal")
    for key, label, type_, opts in [
        ("stage", "Stage", "single_select",
         {"choices": [{"value": v} for v in ("new", "qualified", "proposal", "won", "lost")]}),
        ("region", "Region", "text", {}), ("amount", "Amount", "decimal", {}), ("note", "Note", "text", {}),
        ("score", "Score", "integer", {}),
    ]:
        services.create_field(actor=actor, object_key="custom.deal", key=key, label=label, type=type_, options=opts)
    from siyu.platform.models import ObjectDefinition

    return ObjectDefinition.objects.in_org(actor).get(key="custom.deal")


def _client_for(membership, password: str):
    from django.test import Client

    c = Client()
    r = c.post("/login/", {"email": membership.user.email, "password": password})
    assert r.status_code in (302, 303), r.status_code
    return c


def _one(client, ids: list[int], rng: random.Random) -> tuple[float, float, int]:
    """One list page and one detail of a random record; (list ms, detail ms, errors)."""
    base = "/api/v1/platform/objects/custom.deal/records"
    q = f"{base}?limit=50&filter[stage][eq]={rng.choice(['new', 'won', 'proposal'])}"
    t = time.perf_counter()
    r1 = client.get(q)
    list_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    r2 = client.get(f"{base}/{rng.choice(ids)}")
    detail_ms = (time.perf_counter() - t) * 1000
    return list_ms, detail_ms, (r1.status_code != 200) + (r2.status_code != 200)


def _build_single(opts, password: str) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from siyu.iam import services as iam
    from siyu.iam.selectors import actor_for_membership
    from siyu.platform.models import CustomRecord

    call_command("migrate", verbosity=0)
    admin_m = iam.create_organization(name="Solo", admin_email="solo@bench.local", admin_password=password)
    admin = actor_for_membership(admin_m)
    obj = _object(admin)
    t0 = time.time()
    _load(admin_m.org_id, obj.pk, opts.rows, [(admin_m.user_id, admin_m.department_id)], seed=1)
    load_s = time.time() - t0
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE platform_customrecord")
    ids = list(CustomRecord.objects.in_org(admin).values_list("pk", flat=True)[:20000])
    return {"clients": {"admin": (_client_for(admin_m, password), ids)}, "load_seconds": round(load_s, 1)}


def _build_multi(opts, password: str) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from siyu.iam import services as iam
    from siyu.iam.models import FieldSecurity, Role
    from siyu.iam.selectors import actor_for_membership
    from siyu.kernel.actor import DataScope
    from siyu.platform.models import CustomRecord

    call_command("migrate", verbosity=0)
    admin_m = iam.create_organization(name="Solo", admin_email="solo@bench.local", admin_password=password)
    admin = actor_for_membership(admin_m)
    org = admin_m.org
    root = admin_m.department
    regions = [iam.add_department(actor=admin, name=f"Region {r}", parent=root) for r in range(4)]
    teams = [iam.add_department(actor=admin, name=f"Team {r}-{t}", parent=reg)
             for r, reg in enumerate(regions) for t in range(4)]
    perms = ["platform.record.read", "platform.record.create", "platform.record.update"]
    rep_role = Role.objects.create(org=org, name="Bench rep", permissions=perms, default_scope=DataScope.OWN)
    mgr_role = Role.objects.create(org=org, name="Bench manager", permissions=perms,
                                   default_scope=DataScope.DEPARTMENT_TREE)
    for role in (rep_role, mgr_role):
        FieldSecurity.objects.create(role=role, object_key="custom.deal", field_name="amount", access="hidden")
        FieldSecurity.objects.create(role=role, object_key="custom.deal", field_name="score", access="read_only")
    members = [iam.add_member(actor=admin, email=f"rep{n}@solo.bench.local", password=password,
                              department=teams[n % len(teams)], roles=[rep_role]) for n in range(200)]
    manager = iam.add_member(actor=admin, email="manager@solo.bench.local", password=password,
                             department=regions[0], roles=[mgr_role])
    obj = _object(admin)
    _load(org.pk, obj.pk, opts.rows, [(m.user_id, m.department_id) for m in members], seed=1)
    for i in range(99):
        m = iam.create_organization(name=f"Tenant {i:02d}", admin_email=f"t{i}@bench.local", admin_password=password)
        o = _object(actor_for_membership(m))
        _load(m.org_id, o.pk, max(opts.rows // 100, 1000), [(m.user_id, m.department_id)], seed=100 + i)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE platform_customrecord")
    mine = CustomRecord.objects.in_org(admin)
    region0 = [regions[0].pk] + [t.pk for t in teams[:4]]
    return {"clients": {
        "admin": (_client_for(admin_m, password), list(mine.values_list("pk", flat=True)[:20000])),
        "manager": (_client_for(manager, password),
                    list(mine.filter(department_id__in=region0).values_list("pk", flat=True)[:20000])),
        "rep": (_client_for(members[0], password),
                list(mine.filter(owner_id=members[0].user_id).values_list("pk", flat=True)[:20000])),
    }, "rows_total": CustomRecord.objects.count()}


def _existing(password: str, with_roles: bool) -> dict:
    """Clients and record ids of a database an earlier run built (``--reuse``): the ids each caller can see."""
    from django.core.management import call_command

    from siyu.iam.models import Membership
    from siyu.iam.selectors import actor_for_membership
    from siyu.platform import selectors
    from siyu.platform.models import CustomRecord

    call_command("migrate", "platform", verbosity=0)  # what P14 reads: the records' table and its indexes
    ms = Membership.objects.unscoped_all_orgs().select_related("user", "org")
    emails = {"admin": "solo@bench.local"}
    if with_roles:
        emails |= {"manager": "manager@solo.bench.local", "rep": "rep0@solo.bench.local"}
    clients = {}
    for who, email in emails.items():
        m = ms.get(user__email=email)
        actor = actor_for_membership(m)
        visible = selectors.records_visible_to(actor, selectors.object_meta(actor, "custom.deal"))
        clients[who] = (_client_for(m, password), list(visible.values_list("pk", flat=True)[:20000]))
    return {"clients": clients, "load_seconds": None, "rows_total": CustomRecord.objects.count()}


def _exists(url: str, name: str) -> bool:
    import psycopg

    base = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://")
    with psycopg.connect(base + "/postgres", autocommit=True) as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def run(args, rest) -> dict:
    import argparse

    p = argparse.ArgumentParser(prog="bench tenancy")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                   help="PostgreSQL URL (its database name gets _single/_multi) or sqlite:////path/prefix")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--samples", type=int, default=400, help="requests per caller per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reuse", action="store_true", help="keep databases an earlier run built (migrated first)")
    opts = p.parse_args(rest)
    if args.quick:
        opts.rows, opts.samples = 100_000, 150
    url = opts.database_url
    password = "bench-password-p14"
    if url.startswith("postgres"):
        single_name, multi_name = url.rsplit("/", 1)[1] + "_single", url.rsplit("/", 1)[1] + "_multi"
        reuse = opts.reuse and _exists(url, single_name) and _exists(url, multi_name)
        if not reuse:
            _recreate_database(url + "_single")
            _recreate_database(url + "_multi")
    else:
        single_name, multi_name = url.split("sqlite:///", 1)[1] + "_single.sqlite3", url.split("sqlite:///", 1)[1] + "_multi.sqlite3"
        reuse = opts.reuse and os.path.exists(single_name) and os.path.exists(multi_name)
        for f in (single_name, multi_name):
            if not reuse and os.path.exists(f):
                os.remove(f)
    _setup_django(url + "_single" if url.startswith("postgres") else "sqlite:///" + single_name)
    from django.db import connection, connections

    single = _existing(password, with_roles=False) if reuse else _build_single(opts, password)
    # Two connections stay open, one per database; the caller's is put in place before each request.
    single_conn = connections["default"]
    multi_conn = single_conn.__class__({**single_conn.settings_dict, "NAME": multi_name}, "default")
    connections["default"] = multi_conn
    multi = _existing(password, with_roles=True) if reuse else _build_multi(opts, password)
    rng = random.Random(7)
    callers = [("single.admin", single_conn, single["clients"]["admin"])] + [
        (f"multi.{who}", multi_conn, multi["clients"][who]) for who in ("admin", "manager", "rep")]
    for _key, conn, (client, ids) in callers:  # warm-up
        connections["default"] = conn
        for _ in range(30):
            _one(client, ids, rng)
    rounds: dict[str, list[dict]] = {key: [] for key, _, _ in callers}
    errors = 0
    for _ in range(opts.rounds):
        samples = {key: {"list": [], "detail": []} for key, _, _ in callers}
        for _ in range(opts.samples):
            order = callers[:]
            rng.shuffle(order)
            for key, conn, (client, ids) in order:
                connections["default"] = conn
                list_ms, detail_ms, err = _one(client, ids, rng)
                samples[key]["list"].append(list_ms)
                samples[key]["detail"].append(detail_ms)
                errors += err
        for key in samples:
            rounds[key].append({op: summary(v) for op, v in samples[key].items()})

    def med(key, op, stat):
        return round(statistics.median(r[op][stat] for r in rounds[key]), 3)

    result = {"database": connection.vendor, "rows_first_org": opts.rows, "rows_total_multi": multi["rows_total"],
              "organisations_multi": 100, "load_seconds_first_org": single["load_seconds"], "reused": reuse,
              "rounds": opts.rounds, "samples_per_round": opts.samples, "interleaving": "per request",
              "latency": {}, "overhead_pct_vs_single": {}}
    for key in rounds:
        result["latency"][key] = {op: {st: med(key, op, st) for st in ("p50_ms", "p95_ms", "p99_ms")}
                                  for op in ("list", "detail")}
    for key in rounds:
        if key == "single.admin":
            continue
        for op in ("list", "detail"):
            for st in ("p50_ms", "p99_ms"):
                base = result["latency"]["single.admin"][op][st]
                result["overhead_pct_vs_single"][f"{key}.{op}.{st[:3]}"] = round(
                    (result["latency"][key][op][st] - base) / base * 100, 1)
    result["errors"] = errors
    result["target"] = "multi-org with scopes and field security <= 10 % slower than single-org (P14)"
    return result
