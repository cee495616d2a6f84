"""Resumability: a run killed at any row, then run again, ends exactly where an uninterrupted run ends (same
customers, identities, tags, merges, reviews, counters and error report)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction
from import_support import MAPPING, counts, csv_bytes, customers

from siyu.cdp import profiles
from siyu.cdp.models import MergeLog, MergeReview
from siyu.iam.selectors import actor_for_membership


class Killed(Exception):
    pass


def _rows() -> list[list[str]]:
    rows = []
    for n in range(40):
        phone = f"1390000{n:04d}"
        rows.append([f"新{n}", phone, f"n{n}@example.cn" if n % 3 == 0 else "", "男" if n % 2 else "女", "",
                     "上海", "VIP" if n % 4 == 0 else "", ""])
        if n % 9 == 0:  # a repeat of the row, in another format, later in the file (often another chunk)
            rows.append(["", f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}", "", "", "1990-01-01", "", "新客", ""])
        if n % 11 == 0:
            rows.append(["坏", "12345", "", "", "", "", "", ""])
    rows.insert(5, ["老客甲", "13800001111", "", "", "", "北京", "老客", ""])  # fills an existing customer
    rows.insert(17, ["", "13800002222", "b@example.cn", "", "", "", "", ""])  # links two: a merge
    rows.insert(30, ["", "13800000000", "", "", "", "", "", ""])  # blocklisted: resolution decides
    return rows


def _seed(actor) -> None:
    for phone, email in (("13800001111", ""), ("13800002222", ""), ("13800003333", "b@example.cn")):
        ids = [{"type": "phone", "value": phone}] + ([{"type": "email", "value": email}] if email else [])
        profiles.create_profile(actor=actor, data={"name": ""}, identifiers=ids)


def _state(actor, job) -> tuple:
    job.refresh_from_db()
    report = Path(job.error_file_path).read_text(encoding="utf-8-sig")
    return (customers(actor), counts(job), report, MergeLog.objects.in_org(actor).count(),
            sorted(r.reason for r in MergeReview.objects.in_org(actor)))


@pytest.fixture
def two_orgs(make_org):
    return [actor_for_membership(make_org(name)) for name in ("Uninterrupted", "Killed")]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_run_killed_at_a_random_row_resumes_to_the_same_end_state(two_orgs, make_job, run_import, seed):
    whole, killed = two_orgs
    data = csv_bytes(_rows())
    for actor in two_orgs:
        _seed(actor)
    job_a = make_job(whole, data)
    run_import(whole, job_a, chunk_rows=7)

    rng = random.Random(seed)
    job_b = make_job(killed, data)
    stage = rng.choice(["row", "flushed"])
    at = rng.randrange(1, len(_rows()) + 1)

    def fault(where: str, rows: int) -> None:
        if where == stage and rows >= at:
            raise Killed(f"{where} {rows}")

    with pytest.raises(Killed):
        run_import(killed, job_b, chunk_rows=7, fault=fault)
    job_b.refresh_from_db()
    assert job_b.status == "failed" and job_b.done_rows < len(_rows())
    run_import(killed, job_b, chunk_rows=7)
    assert _state(killed, job_b) == _state(whole, job_a)
    assert counts(job_a)["profiles_merged"] == 1 and counts(job_a)["errors"] == 4


@pytest.mark.postgres_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_siyu_import_killed_by_sigkill_resumes_on_the_command_line(make_org, tmp_path):
    """A real ``kill -9`` of ``siyu import`` mid-run; running the same command again finishes the job."""
    if connection.vendor != "postgresql":
        pytest.skip("the subprocess needs a database it can reach (PostgreSQL's test database)")
    import json

    whole, killed = (actor_for_membership(make_org(n)) for n in ("Whole", "Sigkill"))
    for actor in (whole, killed):
        with transaction.atomic():
            _seed(actor)
    file = tmp_path / "customers.csv"
    file.write_bytes(csv_bytes(_rows()))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING, ensure_ascii=False))
    from urllib.parse import urlsplit, urlunsplit

    url = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]))
    env = dict(os.environ, DATABASE_URL=url)  # same SIYU_VAR_DIR: the same field keys

    def siyu(org, kill_after=0):
        return subprocess.run([sys.executable, "-m", "siyu.cli", "import", str(file), "--mapping", str(mapping),
                               "--org", str(org), "--chunk", "7"],
                              env={**env, "SIYU_IMPORT_KILL_AFTER_ROWS": str(kill_after)}, capture_output=True,
                              text=True, timeout=120)

    assert siyu(whole.org_id).returncode == 0
    first = siyu(killed.org_id, kill_after=23)
    assert first.returncode == -9, first.stderr[-500:]
    from siyu.cdp.models import ImportJob

    job = ImportJob.objects.in_org(killed).get()
    assert job.status == "running" and job.done_rows == 21  # three chunks of 7 committed before row 23
    second = siyu(killed.org_id)
    assert second.returncode == 0, second.stderr[-500:]
    assert "import #" in second.stdout and " done: 52 rows" in second.stdout
    job_a = ImportJob.objects.in_org(whole).get()
    assert _state(killed, ImportJob.objects.in_org(killed).get()) == _state(whole, job_a)
