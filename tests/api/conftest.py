"""A tiny API mounted under /api/v1 for testing the API-wide conventions without depending on any context's
routers: one write that records an effect row (so a test can count how often the handler really ran), with
switches to fail with a 500 or to hold the request in flight until the test lets it go.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.test import Client, override_settings
from django.urls import include, path
from ninja import NinjaAPI, Schema, Status
from pydantic import Field

from siyu.api import api as siyu_api
from siyu.api import install_error_handlers
from siyu.kernel.api import ERRORS, actor_of
from siyu.kernel.models import EffectRecord

EFFECT_SCOPE = "tests.api.thing"


class Gate:
    """Holds a request inside its handler (after its idempotency placeholder committed) until released."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()


GATES: dict[str, Gate] = {}

conventions_api = NinjaAPI(title="conventions test", urls_namespace="api-conventions-test", auth=siyu_api.auth)
install_error_handlers(conventions_api)  # errors take the one shape exactly as in production


class ThingIn(Schema):
    name: str = Field(min_length=1, max_length=50)


class ThingOut(Schema):
    id: int
    name: str


@conventions_api.post("/things", response={201: ThingOut, **ERRORS})
def create_thing(request, payload: ThingIn, fail: bool = False):
    actor_of(request)
    gate = GATES.get(payload.name)
    if gate is not None:
        gate.entered.set()
        assert gate.release.wait(20), "the test never released the gate"
    if fail:
        raise RuntimeError("the handler failed on purpose")
    row = EffectRecord.objects.create(scope=EFFECT_SCOPE, key=f"{payload.name}:{uuid.uuid4().hex}")
    return Status(201, {"id": row.pk, "name": payload.name})


@conventions_api.post("/things/too-big", response={201: ThingOut, **ERRORS})
def too_big(request, payload: ThingIn):
    """Writes, then hits a value the database cannot hold (what SQLite says of an unbounded huge integer)."""
    actor_of(request)
    EffectRecord.objects.create(scope=EFFECT_SCOPE, key=f"{payload.name}:half-written")
    raise OverflowError("Python int too large to convert to SQLite INTEGER")


@conventions_api.get("/things", response={200: list[ThingOut], **ERRORS})
def list_things(request):
    actor_of(request)
    return [{"id": r.pk, "name": r.key.split(":")[0]} for r in EffectRecord.objects.filter(scope=EFFECT_SCOPE)]


class ConventionsUrls:
    # the test API first, then the whole site (login pages, the real API for other paths)
    urlpatterns = [path("api/v1/", conventions_api.urls), path("", include("siyu.urls"))]


def effects() -> int:
    return EffectRecord.objects.filter(scope=EFFECT_SCOPE).count()


@pytest.fixture
def conventions_urls():
    with override_settings(ROOT_URLCONF=ConventionsUrls):
        yield


@pytest.fixture
def key_client(org, conventions_urls):
    """An API key client of ``org`` (all scopes) against the test API, plus the raw key."""
    from siyu.iam import services as iam
    from siyu.kernel.actor import Actor

    key, raw = iam.issue_api_key(actor=Actor.system(org.pk), name="conventions", scopes=["*"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", raise_request_exception=False)
    client.api_key = key
    client.raw_key = raw
    return client


@pytest.fixture
def count_effects():
    return effects


@pytest.fixture
def gates():
    yield GATES
    for gate in GATES.values():
        gate.release.set()
    GATES.clear()


@pytest.fixture
def new_gate():
    return Gate
