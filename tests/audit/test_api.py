"""GET /api/v1/audit/entries and /entries/export: filters, newest first by cursor, organisation-tight,
denied access recorded, CSV with formulas neutralised and the export itself recorded."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine

from siyu.audit.models import AuditLogEntry
from siyu.kernel.auditing import AuditEntry, record

URL = "/api/v1/audit/entries"


def put(org_id, n=1, *, action="update", object_type="test.thing", object_id="1", user=None, changes=None):
    for _ in range(n):
        record(AuditEntry(org_id=org_id, action=action, object_type=object_type, object_id=object_id,
                          actor_user_id=user, changes=changes or {}))


def chain_len(org_id) -> int:
    return AuditLogEntry.objects.chain(org_id).count()


@pytest.fixture
def other(make_org):
    return make_org("Other").org


def test_filters_and_keyset_pages_newest_first(org, api_client):
    put(org.pk, 3, object_id="a", user=11)
    put(org.pk, 2, object_id="b", user=12)
    put(org.pk, 1, action="delete", object_id="a", user=11)
    client = api_client(org, scopes=["audit.entry.read"])
    r = client.get(URL, {"object_type": "test.thing", "limit": 4})
    assert r.status_code == 200, r.content
    body = r.json()
    seqs = [i["seq"] for i in body["items"]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 4
    assert [i["action"] for i in body["items"]][0] == "delete"
    r2 = client.get(URL, {"object_type": "test.thing", "limit": 4, "cursor": body["next_cursor"]})
    rest = [i["seq"] for i in r2.json()["items"]]
    assert len(rest) == 2 and r2.json()["next_cursor"] is None
    assert max(rest) < min(seqs)

    def ids(**params):
        return [(i["action"], i["object_id"], i["actor_user_id"])
                for i in client.get(URL, {"object_type": "test.thing", **params}).json()["items"]]

    assert ids(action="delete") == [("delete", "a", 11)]
    assert ids(object_id="b") == [("update", "b", 12)] * 2
    assert ids(actor_user_id=11) == [("delete", "a", 11)] + [("update", "a", 11)] * 3
    assert ids(object_type="nothing") == []


def test_time_range(org, api_client):
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)):
        put(org.pk, object_id="jan")
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)):
        put(org.pk, object_id="mar")
    client = api_client(org, scopes=["audit.entry.read"])

    def ids(**params):
        return [i["object_id"] for i in client.get(URL, {"object_type": "test.thing", **params}).json()["items"]]

    assert ids(since="2026-02-01T00:00:00Z") == ["mar"]
    assert ids(until="2026-02-01T00:00:00Z") == ["jan"]
    assert ids(since="2026-01-10T12:00:00Z", until="2026-03-10T12:00:00Z") == ["jan"]
    assert ids(since="2026-02-01T00:00:00") == ["mar"]  # a bare time is the server's zone, no crash


def test_another_organisations_entries_never_appear(org, other, api_client):
    put(other.pk, 2, object_id="theirs")
    put(org.pk, 1, object_id="ours")
    theirs = AuditLogEntry.objects.chain(other.pk).filter(object_id="theirs").first()
    client = api_client(org, scopes=["audit.entry.read", "audit.entry.export"])
    items = client.get(URL, {"limit": 200}).json()["items"]
    assert "theirs" not in {i["object_id"] for i in items}
    assert {i["object_id"] for i in items if i["object_type"] == "test.thing"} == {"ours"}
    before_other = chain_len(other.pk)
    r = client.get(f"{URL}/{theirs.pk}")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    # refused and recorded in the asking organisation's chain, nothing added to the other's
    assert chain_len(other.pk) == before_other
    denied = AuditLogEntry.objects.chain(org.pk).filter(action="denied").get()
    assert denied.meta == {"status": 404, "code": "not_found", "method": "GET", "path": f"{URL}/{theirs.pk}"}
    assert denied.actor_api_key_id is not None
    export = client.get(f"{URL}/export")
    assert export.status_code == 200
    assert "theirs" not in b"".join(export.streaming_content).decode()


def test_detail(org, api_client):
    put(org.pk, changes={"name": ["a", "b"]})
    entry = AuditLogEntry.objects.chain(org.pk).filter(object_type="test.thing").get()
    r = api_client(org, scopes=["audit.entry.read"]).get(f"{URL}/{entry.pk}")
    assert r.status_code == 200
    assert r.json()["changes"] == {"name": ["a", "b"]} and r.json()["hash"] == entry.hash


def test_missing_permission_is_403_recorded_and_nothing_else_changes(org, api_client):
    client = api_client(org, scopes=["iam.user.read"])
    before = chain_len(org.pk)
    for path in (URL, f"{URL}/export"):
        r = client.get(path)
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    denied = list(AuditLogEntry.objects.chain(org.pk).filter(seq__gt=before).order_by("seq"))
    assert [(e.action, e.meta["status"], e.meta["path"]) for e in denied] == [
        ("denied", 403, URL), ("denied", 403, f"{URL}/export")]
    assert chain_len(org.pk) == before + 2  # the refusals and nothing else (no export entry)


@pytest.mark.parametrize("params", [
    {"cursor": "garbage!"}, {"cursor": "WzEsMl0"}, {"cursor": "WyJ4IiwieSJd"}, {"limit": 0}, {"limit": 201},
    {"actor_user_id": 2**70}, {"object_id": "a\x00b"}, {"since": "yesterday"},
])
def test_bad_input_is_422(org, api_client, params):
    r = api_client(org, scopes=["audit.entry.read"]).get(URL, params)
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "validation_failed" and r.json()["fields"]


def test_export_streams_csv_neutralises_formulas_and_is_recorded(org, api_client):
    put(org.pk, object_id="=cmd|'/C calc'!A0", changes={"name": ["+1", "@SUM(A1)"]})
    put(org.pk, object_id="-2")
    put(org.pk, object_id="plain")
    client = api_client(org, scopes=["audit.entry.read", "audit.entry.export"])
    r = client.get(f"{URL}/export", {"object_type": "test.thing"})
    assert r.status_code == 200
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    assert r["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    text = b"".join(r.streaming_content).decode()
    assert text.startswith("\ufeffid,seq,at,action,")
    table = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [row["object_id"] for row in table] == ["plain", "'-2", "'=cmd|'/C calc'!A0"]
    assert table[2]["changes"] == '{"name": ["+1", "@SUM(A1)"]}'  # inside JSON, not at the start of a cell
    export = AuditLogEntry.objects.chain(org.pk).filter(action="export").get()
    assert (export.object_type, export.meta["count"], export.meta["format"]) == ("audit.entry", 3, "csv")
    assert export.actor_api_key_id is not None


def test_openapi_declares_errors_and_csv(org, api_client):
    schema = api_client(org).get("/api/v1/openapi.json").json()
    for path in ("/api/v1/audit/entries", "/api/v1/audit/entries/export", "/api/v1/audit/entries/{entry_id}"):
        responses = schema["paths"][path]["get"]["responses"]
        assert {"403", "404", "422"} <= set(responses), path
    assert "text/csv" in schema["paths"]["/api/v1/audit/entries/export"]["get"]["responses"]["200"]["content"]
