"""Console pages: custom fields (pick, list, add, edit with the htmx options editor, archive), custom objects,
and the generic record list rendered from metadata."""

from __future__ import annotations

import pytest
from django.utils import translation

from siyu.kernel.actor import DataScope
from siyu.platform import services
from siyu.platform.models import FieldDefinition


@pytest.fixture
def admin_web(login_client, admin_membership):
    return login_client(admin_membership)


def test_fields_page_lists_standard_and_custom_fields(admin_web, admin_actor):
    services.create_field(actor=admin_actor, object_key="iam.user", key="shoe", label="Shoe size", type="integer")
    r = admin_web.get("/settings/fields/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'data-testid="fields-table"' in html and "Shoe size" in html and "<code>shoe</code>" in html
    assert "<code>mobile</code>" in html  # standard fields come from the registered metadata
    assert admin_web.get("/settings/fields/?object=custom.nope").status_code == 404


def test_add_edit_and_archive_a_field_through_the_form(admin_web, admin_actor):
    r = admin_web.get("/settings/fields/options/?type=single_select", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and 'name="opt_choices"' in r.content.decode()
    assert "<html" not in r.content.decode()  # a partial for htmx
    r = admin_web.post("/settings/fields/form/", {
        "object": "iam.user", "key": "tier", "label": "Tier", "type": "single_select", "order": "2",
        "opt_choices": "gold|Gold\nsilver|Silver", "indexed": "1"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 204 and r["HX-Redirect"] == "/settings/fields/?object=iam.user"
    fd = FieldDefinition.objects.get(key="tier")
    assert (fd.type, fd.options, fd.order, fd.indexed) == (
        "single_select", {"choices": [{"value": "gold", "label": "Gold"}, {"value": "silver", "label": "Silver"}]},
        2, True)
    # a bad submission re-renders the form with the messages and writes nothing
    r = admin_web.post("/settings/fields/form/", {"object": "iam.user", "key": "Bad", "label": "",
                                                  "type": "integer", "opt_min": "x"})
    assert r.status_code == 200
    assert "lower-case letters, digits and _" in r.content.decode()
    assert FieldDefinition.objects.count() == 1
    # edit: the key is fixed, only compatible types are offered
    r = admin_web.get("/settings/fields/form/?object=iam.user&field=tier")
    html = r.content.decode()
    assert r.status_code == 200 and 'value="tier" disabled' in html and 'value="long_text"' in html
    assert 'value="integer"' not in html and "gold|Gold" in html
    r = admin_web.post("/settings/fields/form/", {"object": "iam.user", "field": "tier", "label": "Level",
                                                  "type": "single_select", "opt_choices": "gold|Gold", "order": "2"})
    assert r.status_code == 302
    fd.refresh_from_db()
    assert (fd.label, fd.indexed, fd.options["choices"]) == ("Level", False, [{"value": "gold", "label": "Gold"}])
    r = admin_web.post("/settings/fields/archive/", {"object": "iam.user", "field": "tier"})
    assert r.status_code == 302
    fd.refresh_from_db()
    assert fd.archived_at is not None


def test_objects_page_and_record_list(admin_web, admin_actor, project):
    services.create_record(actor=admin_actor, object_key=project, data={"name": "Alpha", "seats": 3,
                                                                        "phone": "13812345678", "stage": "won"})
    services.create_record(actor=admin_actor, object_key=project, data={"name": "Beta", "seats": 9})
    r = admin_web.get("/settings/fields/objects/")
    assert r.status_code == 200 and "custom.project" in r.content.decode()
    r = admin_web.post("/settings/fields/objects/", {"key": "Bad key", "label": "X"})
    assert r.status_code == 422
    r = admin_web.post("/settings/fields/objects/", {"key": "asset", "label": "Asset"})
    assert r.status_code == 302 and r["Location"] == "/settings/fields/?object=custom.asset"

    url = f"/settings/fields/objects/{project}/records/"
    html = admin_web.get(url).content.decode()
    assert "Alpha" in html and "Beta" in html and "138****5678" in html and "13812345678" not in html
    assert 'name="filter[name][contains]"' in html and 'name="filter[stage][eq]"' in html
    r = admin_web.get(url + "?filter[name][contains]=alp&filter[seats][eq]=", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "Alpha" in html and "Beta" not in html and "<html" not in html
    html = admin_web.get(url + "?sort=-seats").content.decode()
    assert html.index("Beta") < html.index("Alpha")
    r = admin_web.get(url + "?filter[seats][eq]=many")
    assert r.status_code == 422 and "must be a whole number" in r.content.decode()
    assert admin_web.get("/settings/fields/objects/custom.none/records/").status_code == 404
    assert admin_web.get("/settings/fields/objects/iam.user/records/").status_code == 404


def test_pages_need_permissions_and_sign_in(client, org, make_member, login_client, project):
    assert client.get("/settings/fields/").status_code == 302
    member = make_member(org, "m@acme.example", permissions=("iam.user.read",), scope=DataScope.OWN)
    web = login_client(member)
    for url in ("/settings/fields/", "/settings/fields/form/?object=iam.user", "/settings/fields/objects/",
                f"/settings/fields/objects/{project}/records/"):
        assert web.get(url).status_code == 403, url
    assert web.post("/settings/fields/form/", {"object": "iam.user", "key": "x", "label": "X",
                                               "type": "text"}).status_code == 403
    assert web.post("/settings/fields/archive/", {"object": project, "field": "name"}).status_code == 403
    assert FieldDefinition.objects.filter(key="x").count() == 0
    assert FieldDefinition.objects.get(key="name").archived_at is None


def test_page_is_translated(admin_web):
    admin_web.cookies["django_language"] = "zh-hans"
    with translation.override("zh-hans"):
        html = admin_web.get("/settings/fields/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "自定义字段" in html and "添加字段" in html
