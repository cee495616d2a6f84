"""One error shape for every error under /api/v1, whatever produced it, and the OpenAPI declarations."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from siyu.api import api
from siyu.kernel import idempotency
from siyu.kernel.api import ERROR_STATUSES
from siyu.kernel.models import EffectRecord

SHAPE = {"code", "message", "fields"}


def test_unknown_route_under_the_api_is_a_json_404(db):
    r = Client().get("/api/v1/no/such/route")
    assert r.status_code == 404
    assert r["Content-Type"] == "application/json"
    assert r.json() == {"code": "not_found", "message": "no such resource", "fields": {}}


def test_unknown_route_with_a_key_is_a_json_404(key_client):
    r = key_client.delete("/api/v1/things/nope")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_method_not_allowed_is_a_json_405_with_allow(key_client):
    r = key_client.put("/api/v1/things", data="{}", content_type="application/json")
    assert r.status_code == 405
    assert r.json() == {"code": "method_not_allowed", "message": "method not allowed on this resource", "fields": {}}
    assert set(r["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_malformed_json_is_422_with_a_reason(key_client):
    r = key_client.post("/api/v1/things", data='{"name": "x",', content_type="application/json")
    assert r.status_code == 422
    assert r.json() == {
        "code": "validation_failed", "message": "the body is not valid JSON", "fields": {"body": ["not valid JSON"]},
    }
    assert EffectRecord.objects.count() == 0


def test_invalid_fields_are_422_per_field(key_client):
    r = key_client.post("/api/v1/things", data=json.dumps({"name": ""}), content_type="application/json")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    assert list(body["fields"]) == ["name"]


def test_oversized_bodies_are_413_before_anything_runs(key_client, settings):
    settings.SIYU_API_MAX_BODY_BYTES = 1000
    r = key_client.post("/api/v1/things", data=json.dumps({"name": "x" * 2000}), content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="big-1")
    assert r.status_code == 413
    assert r.json() == {
        "code": "request_too_large", "message": "the request body is larger than 1000 bytes", "fields": {},
    }
    assert EffectRecord.objects.count() == 0


def test_values_too_large_for_the_database_are_422_and_nothing_is_half_written(key_client):
    r = key_client.post("/api/v1/things/too-big", data=json.dumps({"name": "x"}), content_type="application/json")
    assert r.status_code == 422
    assert r.json() == {
        "code": "validation_failed", "message": "a value is out of range",
        "fields": {"__all__": ["a number or text is too large"]},
    }
    assert EffectRecord.objects.count() == 0


def test_missing_credentials_are_a_json_401(conventions_urls, db):
    r = Client().post("/api/v1/things", data=json.dumps({"name": "x"}), content_type="application/json")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


def test_server_errors_take_the_shape_too(key_client):
    r = key_client.post("/api/v1/things?fail=true", data=json.dumps({"name": "x"}), content_type="application/json")
    assert r.status_code == 500
    assert r.json() == {"code": "server_error", "message": "something went wrong on our side", "fields": {}}


def test_pages_outside_the_api_are_left_alone(db):
    r = Client().get("/no-such-console-page/")
    assert r.status_code == 404
    assert not r["Content-Type"].startswith("application/json")


def test_errors_declares_every_status_the_conventions_answer():
    # 405 is not declared: it never answers a declared operation, only an undeclared method.
    assert {401, 404, 409, 413, 422, 429} <= set(ERROR_STATUSES)


@pytest.fixture(scope="module")
def schema():
    return api.get_openapi_schema(path_prefix="/api/v1/")


def test_every_write_operation_declares_the_idempotency_key(schema):
    components = schema["components"]["parameters"]
    assert components["IdempotencyKey"]["name"] == "Idempotency-Key"
    assert components["IdempotencyKey"]["in"] == "header"
    ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            declared = ref in operation.get("parameters", [])
            assert declared == (method.upper() in idempotency.METHODS), f"{method.upper()} {path}"


def test_document_adds_the_header_once_to_writes_only():
    doc = {"paths": {"/x": {"get": {}, "post": {"parameters": []}, "delete": {}}}}
    idempotency.document(doc)
    idempotency.document(doc)
    ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    assert doc["paths"]["/x"]["post"]["parameters"] == [ref]
    assert doc["paths"]["/x"]["delete"]["parameters"] == [ref]
    assert "parameters" not in doc["paths"]["/x"]["get"]
