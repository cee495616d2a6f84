"""P5: CSV/XLSX import of 1M contacts, 12 columns, UTF-8 and GBK, against 1M existing profiles.

For each database (PostgreSQL ``siyu_bench_import`` on 127.0.0.1:5432, and a SQLite file):

* the database is created and migrated, an organisation is made and ``siyu bench-data --profiles N
  --events 0`` loads the existing customers (profiles with phones, WeCom ids, unionids, emails, tags, consent;
  no events: events play no part in an import and would only lengthen the setup);
* two files of ``--rows`` rows and 12 columns are generated (seeded): a UTF-8 CSV and a GBK CSV with other
  people. Each has ~62 % new people, ~30 % existing customers found by their phone (in many formats: spaces,
  dashes, +86, 0086, full-width digits), some of them bringing a new email, ~4 % rows repeating an earlier row,
  ~0.05 % rows whose phone and email belong to two different existing customers (a merge through identity
  resolution), ~1 % bad rows (invalid phone or email, a bad date, a wrong number of columns), names with
  formula payloads (stored as text);
* ``siyu import FILE --mapping MAP.json --org ORG`` runs as a subprocess, timed, with its peak RSS from
  ``os.wait4`` (``ru_maxrss`` of that process alone): UTF-8 first, then GBK (against the profiles the first
  run added too); then ``--xlsx-rows`` rows as an XLSX file (calamine holds a sheet in memory, so spreadsheets
  have a lower size cap; large imports are CSV).

Usage: ``make bench NAME=import`` (``--quick`` for 100K/100K; ``--db postgres|sqlite|both``; ``--rows N``;
``--existing N``; ``--xlsx-rows N``). Loopback only, bounded, stops by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NAME = "siyu_bench_import"
HEADER = ["姓名", "性别", "生日", "省份", "城市", "渠道", "手机", "邮箱", "unionid", "ERP编号", "标签", "备注"]
MAPPING = {"columns": {"姓名": "name", "性别": "gender", "生日": "birthday", "省份": "province", "城市": "city",
                       "渠道": "channel", "手机": "identifier:phone", "邮箱": "identifier:email",
                       "unionid": "identifier:unionid", "ERP编号": "identifier:erp_id", "标签": "tag:导入",
                       "备注": "skip"}, "source": "import"}

SETUP_SNIPPET = """
import django, json
django.setup()
from django.db import transaction
from siyu.iam import services as iam
with transaction.atomic():
    org = iam.create_organization(name="Bench import", admin_email="bench-import@siyu.local",
                                  admin_password="bench-password-import").org
print(json.dumps({"org": org.pk}))
"""

# Reads back the existing customers the files will hit: phones (decrypted once, here, not in the timed run)
# and emails by profile, written to a JSON file the generator reads.
EXISTING_SNIPPET = """
import django, json, sys
django.setup()
import base64
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection
from siyu.kernel import crypto
org, limit, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ring = crypto.keyring()
aeads = {k: AESGCM(v) for k, v in ring.keys.items()}
def dec(token, ctx):
    _, kid, body = token.split(":", 2)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return aeads[kid].decrypt(raw[:12], raw[12:], ctx.encode()).decode()
with connection.cursor() as cur:
    cur.execute("SELECT profile_id, type, value FROM cdp_identity WHERE org_id = %s AND type IN ('phone', 'email') "
                "ORDER BY profile_id LIMIT %s", [org, limit])
    found = {}
    for pid, t, v in cur.fetchall():
        found.setdefault(pid, {})[t] = dec(v, "cdp.identity." + t)
json.dump([[pid, d.get("phone", ""), d.get("email", "")] for pid, d in found.items()], open(out, "w"))
print(len(found))
"""


def generate(path: Path, rows: int, existing: list, seed: int, encoding: str) -> dict:
    """Write the CSV; returns what it holds (for the report)."""
    import csv
    import random

    rng = random.Random(seed)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力斌宇浩凯健俊帆晨欣怡佳琪雪梅婷颖"
    places = [("上海", "上海"), ("北京", "北京"), ("广东", "广州"), ("广东", "深圳"), ("浙江", "杭州"), ("江苏", "苏州")]
    with_phone = [e for e in existing if e[1]]
    with_email = [e for e in existing if e[2]]
    kinds = {"new": 0, "existing": 0, "repeat": 0, "link_two": 0, "bad": 0}
    earlier: list[list[str]] = []

    def fmt_phone(e164: str) -> str:
        d = e164[3:]
        form = rng.random()
        if form < 0.5:
            return d
        if form < 0.7:
            return f"{d[:3]} {d[3:7]} {d[7:]}"
        if form < 0.85:
            return f"+86-{d[:3]}-{d[3:7]}-{d[7:]}"
        if form < 0.95:
            return "0086" + d
        return d.translate(str.maketrans("0123456789", "０１２３４５６７８９"))

    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for n in range(rows):
            name = rng.choice(surnames) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2))))
            prov, city = rng.choice(places)
            row = [name, rng.choice(("男", "女", "")), f"{rng.randrange(1960, 2005)}-{rng.randrange(1, 13):02d}-"
                   f"{rng.randrange(1, 29):02d}" if rng.random() < 0.6 else "", prov, city,
                   rng.choice(("展会", "官网", "门店", "")), "", "", "", "", rng.choice(("VIP", "", "", "新客")), ""]
            r = rng.random()
            if r < 0.0005 and len(with_phone) > 2 and with_email:
                a, b = rng.choice(with_phone), rng.choice(with_email)
                if a[0] != b[0]:
                    row[6], row[7] = fmt_phone(a[1]), b[2]
                    kinds["link_two"] += 1
                else:
                    row[6] = f"170{n:08d}"
                    kinds["new"] += 1
            elif r < 0.01:
                bad = rng.randrange(4)
                row[6] = f"170{n:08d}"
                if bad == 0:
                    row[6] = "12345"
                elif bad == 1:
                    row[7] = "not-an-email@"
                elif bad == 2:
                    row[2] = "1990-13-45"
                else:
                    row = row[:9]
                kinds["bad"] += 1
            elif r < 0.05 and earlier:
                row = list(rng.choice(earlier))
                kinds["repeat"] += 1
            elif r < 0.35 and with_phone:
                e = rng.choice(with_phone)
                row[6] = fmt_phone(e[1])
                if rng.random() < 0.2:
                    row[7] = f"new{seed}.{n}@example.com"
                kinds["existing"] += 1
            else:
                row[6] = f"17{rng.choice('0135')}{(n * 7919 + seed) % 10**8:08d}"
                if rng.random() < 0.3:
                    row[7] = f"p{seed}.{n}@mail.example.cn"
                if rng.random() < 0.1:
                    row[9] = f"ERP{seed}-{n}"
                kinds["new"] += 1
            if rng.random() < 0.001 and len(row) == len(HEADER):
                row[0] = "=HYPERLINK(\"http://x.example\",\"点我\")"
                row[11] = "=cmd|' /C calc'!A0"
            w.writerow(row)
            if len(earlier) < 5000 and rng.random() < 0.05:
                earlier.append(row)
    return kinds


class Db:
    def __init__(self, kind: str, var: str | None = None, reuse: bool = False, pg_name: str = PG_NAME):
        self.kind = kind
        self.var = var or tempfile.mkdtemp(prefix=f"siyu-bench-import-{kind}-")
        Path(self.var).mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, SIYU_VAR_DIR=self.var, DJANGO_SETTINGS_MODULE="siyu.settings",
                        SIYU_LOG_LEVEL="ERROR")
        self.env.pop("DATABASE_URL", None)
        if kind == "postgres":
            import psycopg

            self.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{pg_name}"
            if reuse:
                return
            with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
                c.execute(f'CREATE DATABASE "{pg_name}"')

    def run(self, *args: str) -> str:
        return subprocess.run([PYTHON, *args], env=self.env, cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout

    def timed(self, *args: str, env: dict | None = None) -> tuple[float, float, str, int]:
        """Wall seconds, peak RSS (MB) of this process alone, its stdout, its exit status."""
        out = Path(self.var) / "timed.out"
        with out.open("w") as fh:
            started = time.monotonic()
            proc = subprocess.Popen([PYTHON, *args], env={**self.env, **(env or {})}, cwd=ROOT, stdout=fh,
                                    stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        return seconds, usage.ru_maxrss / 1024, out.read_text(), proc.returncode


def _import(db: Db, org: int, path: Path, mapping: Path) -> dict:
    seconds, rss, out, code = db.timed("-m", "siyu.cli", "import", str(path), "--mapping", str(mapping),
                                       "--org", str(org))
    summary = out.strip().splitlines()[0] if out.strip() else ""
    return {"file": path.name, "seconds": round(seconds, 1), "peak_rss_mb": round(rss), "exit": code,
            "summary": summary}


def run_db(kind: str, rows: int, existing: int, xlsx_rows: int, var: str | None, reuse: bool,
           encodings: list[str], pg_name: str = PG_NAME) -> dict:
    """``reuse`` with ``var``: the database and var dir of an earlier run (same field keys), its existing
    customers already loaded (organisation 1); imports of earlier runs stay, so later files meet more."""
    db = Db(kind, var, reuse, pg_name)
    known = Path(db.var) / "existing.json"
    setup_seconds = 0.0
    org = 1
    if not reuse:
        db.run("-m", "siyu.cli", "migrate", "--verbosity", "0")
        db.run("-m", "siyu.cli", "createcachetable")
        org = json.loads(db.run("-c", SETUP_SNIPPET).strip().splitlines()[-1])["org"]
        t = time.monotonic()
        db.run("-m", "siyu.cli", "bench-data", "--org", str(org), "--profiles", str(existing), "--events", "0")
        setup_seconds = time.monotonic() - t
    if not known.exists():
        db.run("-c", EXISTING_SNIPPET, str(org), str(min(existing, 400_000) * 3), str(known))
    existing_rows = json.loads(known.read_text())
    mapping = Path(db.var) / "mapping.json"
    mapping.write_text(json.dumps(MAPPING, ensure_ascii=False))
    results = {"existing_profiles": existing, "bench_data_seconds": round(setup_seconds, 1), "runs": []}
    for seed, encoding in ((1, "utf-8"), (2, "gbk")):
        if encoding not in encodings:
            continue
        path = Path(db.var) / f"contacts-{encoding}.csv"
        kinds = generate(path, rows, existing_rows, seed, encoding)
        result = _import(db, org, path, mapping)
        result.update(rows=rows, encoding=encoding, size_mb=round(path.stat().st_size / 2**20, 1), composition=kinds)
        results["runs"].append(result)
    if xlsx_rows:
        results["runs"].append(_xlsx(db, org, xlsx_rows, existing_rows, mapping))
    return results


def _xlsx(db: Db, org: int, rows: int, existing_rows: list, mapping: Path) -> dict:
    import csv

    from openpyxl import Workbook

    src = Path(db.var) / "contacts-x.csv"
    kinds = generate(src, rows, existing_rows, 3, "utf-8")
    path = Path(db.var) / "contacts.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    with src.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            ws.append(row)
    wb.save(path)
    result = _import(db, org, path, mapping)
    result.update(rows=rows, encoding="xlsx", size_mb=round(path.stat().st_size / 2**20, 1), composition=kinds)
    return result


def run(args, rest: list[str]) -> dict:
    import argparse

    p = argparse.ArgumentParser(prog="make bench NAME=import")
    p.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    p.add_argument("--rows", type=int)
    p.add_argument("--existing", type=int)
    p.add_argument("--xlsx-rows", type=int)
    p.add_argument("--var", help="var dir to use (with --reuse: the one of the run that loaded the database)")
    p.add_argument("--reuse", action="store_true", help="skip creating the database and loading customers")
    p.add_argument("--encodings", default="utf-8,gbk", help="which CSV files to import, in order")
    p.add_argument("--pg-name", default=PG_NAME, help="PostgreSQL database to (re)create or reuse")
    opts = p.parse_args(rest)
    rows = opts.rows or (100_000 if args.quick else 1_000_000)
    existing = opts.existing or (100_000 if args.quick else 1_000_000)
    xlsx_rows = opts.xlsx_rows if opts.xlsx_rows is not None else (20_000 if args.quick else 100_000)
    out = {"workload": "P5", "targets": {"postgres": "<= 60 s and <= 512 MB", "sqlite": "<= 180 s"}}
    for kind in (["postgres", "sqlite"] if opts.db == "both" else [opts.db]):
        out[kind] = run_db(kind, rows, existing, xlsx_rows, opts.var, opts.reuse, opts.encodings.split(","),
                           opts.pg_name)
    return out
