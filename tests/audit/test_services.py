"""record_export and record_denied, as other contexts and the edges call them."""

from __future__ import annotations

from siyu.audit.models import AuditLogEntry
from siyu.audit.services import record_denied, record_export
from siyu.audit.verify import verify_chain
from siyu.kernel.actor import Actor

from .conftest import CHAIN


def test_record_export_lands_in_the_actors_chain(db):
    actor = Actor(org_id=CHAIN, user_id=42, label="42")
    record_export(actor, "cdp.profile", 1250, "xlsx", ip="192.0.2.7", segment_id=9)
    e = AuditLogEntry.objects.chain(CHAIN).get()
    assert (e.action, e.object_type, e.object_id, e.actor_user_id, e.ip) == ("export", "cdp.profile", "", 42, "192.0.2.7")
    assert e.meta == {"count": 1250, "format": "xlsx", "segment_id": 9}
    assert verify_chain(CHAIN).intact


def test_record_denied_without_an_actor_goes_to_the_pre_organisation_chain(db):
    record_denied(None, status=403, code="not_authenticated", method="POST", path="/api/v1/iam/users" + "x" * 400)
    e = AuditLogEntry.objects.chain(None).get()
    assert (e.action, e.org_id, e.actor_user_id, e.actor_api_key_id) == ("denied", None, None, None)
    assert e.meta["status"] == 403 and e.meta["code"] == "not_authenticated" and len(e.meta["path"]) == 300


def test_record_denied_with_an_api_key_actor(db):
    actor = Actor(org_id=CHAIN, user_id=None, api_key_id=3, label="apikey:abc")
    record_denied(actor, status=404, code="not_found", method="GET", path="/api/v1/iam/users/77")
    e = AuditLogEntry.objects.chain(CHAIN).get()
    assert (e.actor_api_key_id, e.actor_label, e.meta["status"]) == (3, "apikey:abc", 404)
