"""The console page of event sources: create (the key shown once, usable at once), disable / enable, rotate
(the old key refused, the new one accepted), audited; only for holders of cdp.source.manage; the CDP
navigation lists event sources and imports."""

from __future__ import annotations

import base64
import re

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.cdp.ingest import sources
from siyu.cdp.models import Source

TRACK = '{"userId": "u1", "event": "Clicked"}'


@pytest.fixture(autouse=True)
def _fresh_cache():
    sources.clear_cache()
    yield
    sources.clear_cache()


@pytest.fixture
def admin(login_client, admin_membership):
    c = login_client(admin_membership)
    c.cookies["django_language"] = "en"
    return c


def _key(response) -> str:
    found = re.search(rb'data-testid="cdp-write-key"[^>]*|value="(wk[0-9a-f]{14}[^"]+)"', response.content)
    keys = re.findall(rb'value="(wk[0-9a-f]{14}[A-Za-z0-9_-]+)"', response.content)
    assert found and keys, response.content[:2000]
    return keys[0].decode()


def _track(client, key):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return client.post("/v1/track", data=TRACK, content_type="application/json", HTTP_AUTHORIZATION=auth)


def test_create_shows_the_key_once_and_it_works(admin, client):
    page = admin.get("/customers/sources/")
    assert page.status_code == 200 and b"No sources yet." in page.content
    r = admin.post("/customers/sources/", {"name": "Web shop"})
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    key = _key(r)
    source = Source.objects.get()
    assert source.name == "Web shop" and key.startswith(source.key_prefix) and key not in source.key_hash
    assert _track(client, key).status_code == 200
    listing = admin.get("/customers/sources/")
    assert source.key_prefix.encode() in listing.content and key.encode() not in listing.content  # never again
    entry = AuditLogEntry.objects.filter(object_type="cdp.source").order_by("-seq").first()
    assert entry.action == "create" and entry.changes["key_prefix"] == [None, source.key_prefix]


def test_bad_name_is_a_422_with_the_reason(admin):
    r = admin.post("/customers/sources/", {"name": "   "})
    assert r.status_code == 422 and b"1 to 120 characters" in r.content
    assert not Source.objects.exists()


def test_disable_enable_and_rotate(admin, client):
    key = _key(admin.post("/customers/sources/", {"name": "App"}))
    source = Source.objects.get()
    r = admin.post(f"/customers/sources/{source.pk}/disable/")
    assert r.status_code == 302
    assert _track(client, key).status_code == 401  # refused at once in this process
    admin.post(f"/customers/sources/{source.pk}/enable/")
    assert _track(client, key).status_code == 200
    rotated = admin.post(f"/customers/sources/{source.pk}/rotate/")
    assert rotated.status_code == 200 and b"The previous key no longer works." in rotated.content
    new_key = _key(rotated)
    assert new_key != key
    assert _track(client, key).status_code == 401
    assert _track(client, new_key).status_code == 200
    changes = [e.changes for e in AuditLogEntry.objects.filter(object_type="cdp.source").order_by("seq")]
    assert changes[1:3] == [{"is_active": [True, False]}, {"is_active": [False, True]}]
    assert list(changes[3]) == ["key_prefix"] and changes[3]["key_prefix"][1] == Source.objects.get().key_prefix
    assert admin.get("/customers/sources/").status_code == 200


def test_only_holders_of_the_permission_and_only_their_organisation(admin, login_client, make_member, org, make_org):
    other = make_org("Other").org
    from siyu.kernel.actor import Actor

    foreign, _ = sources.create_source(actor=Actor.system(other.pk), name="theirs")
    assert admin.post(f"/customers/sources/{foreign.pk}/disable/").status_code == 404
    assert admin.post(f"/customers/sources/{foreign.pk}/rotate/").status_code == 404
    assert Source.objects.get(pk=foreign.pk).is_active
    rep = login_client(make_member(org, "rep@acme.example", permissions=("cdp.profile.read",)))
    assert rep.get("/customers/sources/").status_code == 403
    assert rep.post("/customers/sources/", {"name": "x"}).status_code == 403
    assert Source.objects.filter(org_id=org.pk).count() == 0
    assert AuditLogEntry.objects.filter(action="denied").exists()


def test_the_cdp_navigation_lists_imports_and_sources(admin, login_client, make_member, org):
    home = admin.get("/customers/").content
    assert b'href="/customers/import/"' in home and b'href="/customers/sources/"' in home
    rep = login_client(make_member(org, "rep@acme.example", permissions=("cdp.profile.read",)))
    content = rep.get("/customers/").content
    assert b'href="/customers/sources/"' not in content and b'href="/customers/import/"' not in content
