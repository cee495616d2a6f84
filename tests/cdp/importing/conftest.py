"""Fixtures of the import tests: a job made from bytes, and a run of it (begin + run, as the edge does)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.db import transaction

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: make import_support importable by tests

from import_support import MAPPING  # noqa: E402

from siyu.cdp.importing import runner, services  # noqa: E402


@pytest.fixture
def make_job(tmp_path, settings):
    settings.SIYU_IMPORT_DIR = str(tmp_path / "imports")

    def make(actor, data: bytes, name="customers.csv", mapping=MAPPING):
        with transaction.atomic():
            job = services.create_import(actor=actor, file_name=name, chunks=[data])
            if mapping is not None:
                job = services.save_mapping(actor=actor, job_id=job.pk, mapping=mapping)
        return job

    return make


@pytest.fixture
def run_import():
    def run(actor, job, dry_run=False, **kw):
        with transaction.atomic():
            runner.begin_run(actor=actor, job_id=job.pk, dry_run=dry_run, force=kw.pop("force", False))
        return runner.run_job(actor=actor, job_id=job.pk, **kw)

    return run
