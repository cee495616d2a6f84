"""Fixtures for ingestion tests: a source with its write key and a raw HTTP poster."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest
from django.test import Client

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: make ingest_support importable by tests

from ingest_support import basic  # noqa: E402

from siyu.cdp.ingest import overload, sources
from siyu.cdp.ingest.sources import create_source
from siyu.kernel.actor import Actor


@pytest.fixture(autouse=True)
def _fresh_ingest_state():
    sources.clear_cache()
    overload.reset()
    yield
    sources.clear_cache()
    overload.reset()


@pytest.fixture
def write_key(org):
    _, key = create_source(actor=Actor.system(org.pk), name="web")
    return key


@pytest.fixture
def post(db):
    client = Client()

    def send(path, body, *, key=None, gz=False, raw=None, headers=None):
        data = raw if raw is not None else json.dumps(body).encode()
        extra = dict(headers or {})
        if gz:
            data = gzip.compress(data)
            extra["HTTP_CONTENT_ENCODING"] = "gzip"
        if key:
            extra["HTTP_AUTHORIZATION"] = basic(key)
        return client.post(path, data=data, content_type="application/json", **extra)

    return send
