"""An API operation that fails half-way leaves nothing written, yet the denied access is still audited."""

import pytest
from django.urls import path
from ninja import NinjaAPI

from siyu.api import install_error_handlers
from siyu.audit.models import AuditLogEntry
from siyu.iam.auth import ApiKeyAuth
from siyu.iam.models import Department
from siyu.kernel.api import ERRORS, require
from siyu.kernel.errors import NotFound

half_api = NinjaAPI(urls_namespace="test-deferred", auth=[ApiKeyAuth()])
install_error_handlers(half_api)


@half_api.post("/half-write", response={200: dict, **ERRORS})
def half_write(request):
    actor = require(request, "iam.department.manage")
    Department.objects.create(org_id=actor.org_id, name="written before the failure")
    raise NotFound("the thing it needed is not there")


urlpatterns = [path("api/v1/", half_api.urls)]


@pytest.mark.urls(__name__)
def test_failed_operation_rolls_back_its_writes_but_keeps_the_denied_entry(org, api_client):
    client = api_client(org)
    before = Department.objects.count()
    r = client.post("/api/v1/half-write", content_type="application/json")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert Department.objects.count() == before
    denied = AuditLogEntry.objects.filter(action="denied").order_by("-id").first()
    assert denied is not None and denied.meta["path"] == "/api/v1/half-write"
