"""Gate: schemathesis over the whole OpenAPI schema (every operation every router declares).

Each operation gets generated valid and invalid requests, sent through the real WSGI application (every
middleware, ATOMIC_REQUESTS, ninja) with an administrator's API key of a fresh organisation. The run fails on
any 5xx, on any status the operation does not declare, on a response body that does not match its declared
schema and on a wrong content type. Examples are bounded so the gate stays quick.
"""

from __future__ import annotations

import os
import uuid

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from siyu.api import api
from siyu.wsgi import application

# The document /api/v1/openapi.json serves, built here (collection has no database for a request to touch).
# The coverage phase (systematic boundary, missing and wrong-typed values for every parameter: ~50 requests an
# operation, ten times the random phase) is opt-in so the gate stays affordable as routers grow:
# SIYU_FUZZ_COVERAGE=1. Undeclared methods are probed by tests/api/test_error_shape.py instead.
COVERAGE = {"unexpected-methods": []} if os.environ.get("SIYU_FUZZ_COVERAGE") == "1" else {"enabled": False}
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": COVERAGE}})
schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1/"), config=CONFIG)
schema.app = application

# Random valid and invalid requests per operation. Raise it to dig: SIYU_FUZZ_EXAMPLES=100 make test.
FUZZ_EXAMPLES = int(os.environ.get("SIYU_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@pytest.fixture
def keep_test_connection():
    """The WSGI app fires request_started/finished, whose close_old_connections would close the test's
    connection (its transaction is not in autocommit) on PostgreSQL; Django's test client unhooks it too."""
    hooks = (signals.request_started, signals.request_finished)
    for hook in hooks:
        hook.disconnect(close_old_connections)
    yield
    for hook in hooks:
        hook.connect(close_old_connections)


@pytest.fixture
def admin_key(make_org, keep_test_connection):
    from siyu.iam import services as iam
    from siyu.iam.selectors import actor_for_membership

    membership = make_org("Fuzz Org")
    key, raw = iam.issue_api_key(actor=actor_for_membership(membership), name="schemathesis", scopes=["*"])
    key.rate_per_minute = 1_000_000  # the gate fuzzes; rate limits have their own tests
    key.save(update_fields=["rate_per_minute"])
    return raw


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api(case, admin_key):
    if case.headers and "Idempotency-Key" in case.headers:
        # Generated keys repeat ("0", "0", …): a replay or a 422 mismatch would hide the handler from the fuzzer.
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, checks=CHECKS)
