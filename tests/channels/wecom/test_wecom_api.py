"""The WeCom channel API (/api/v1/channels/wecom): corps, syncs, contacts, tagging, live codes and their statistics;
permissions and other organisations' records (404, nothing changed); WeCom failures as 502/422."""

from __future__ import annotations

import json

import pytest

from siyu.channels.wecom import corps, sync, tags
from siyu.channels.wecom.models import Corp, ExternalContact, FollowRelation, LiveCode, SyncRun
from siyu.channels.wecom.testing import AES_KEY, API_BASE, TOKEN, FakeWeCom
from siyu.kernel.actor import Actor

BASE = "/api/v1/channels/wecom"


@pytest.fixture
def fake():
    f = FakeWeCom()
    f.add_employee("zhangsan", "张三")
    f.add_tag_group("等级", ["VIP"])
    return f


@pytest.fixture
def client(api_client, org):
    return api_client(org)


def post(client, url, body):
    return client.post(BASE + url, data=json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(BASE + url, data=json.dumps(body), content_type="application/json")


CORP = {"corp_id": "wwapi1", "name": "接口企业", "secret": "sec", "callback_token": TOKEN,
        "encoding_aes_key": AES_KEY, "api_base": API_BASE}


def test_corp_lifecycle_and_no_secret_in_any_answer(client, org, api):
    r = post(client, "/corps", CORP)
    assert r.status_code == 201, r.content
    body = r.json()
    corp = Corp.objects.get(corp_id="wwapi1")
    assert body["callback_url"] == f"http://testserver/wecom/callback/{corp.callback_key}/"
    assert (body["has_app"], body["api_base"]) == (False, API_BASE)
    assert AES_KEY not in r.content.decode() and TOKEN not in r.content.decode()
    assert post(client, "/corps", CORP).status_code == 409
    bad = post(client, "/corps", {**CORP, "corp_id": "wwapi2", "encoding_aes_key": "!" * 43})
    assert bad.status_code == 422 and list(bad.json()["fields"]) == ["encoding_aes_key"]
    r = patch(client, f"/corps/{corp.pk}", {"name": "新名字", "agent_id": 1000002, "agent_secret": "appsec"})
    assert r.status_code == 200 and (r.json()["name"], r.json()["has_app"]) == ("新名字", True)
    corp.refresh_from_db()
    assert corp.secret.startswith("v1:") and "sec" != corp.secret
    from siyu.kernel import encrypted

    assert (encrypted.reveal(corp, "secret"), encrypted.reveal(corp, "agent_secret")) == ("sec", "appsec")
    assert [c["corp_id"] for c in client.get(BASE + "/corps").json()] == ["wwapi1"]


def test_live_code_through_the_api(client, org, fake, api):
    corp = corps.add_corp(actor=Actor.system(org.pk), data={**CORP, "secret": fake.secret,
                                                           "corp_id": fake.corp_id})
    sync.sync_employees(corp)
    tags.pull_corp_tags(corp)
    vip = fake.tag_groups[0]["tag"][0]["id"]
    r = post(client, "/live-codes", {"corp": corp.pk, "name": "官网", "members": [{"userid": "zhangsan"}],
                                     "tag_ids": [vip], "welcome": {"text": "hi"},
                                     "schedule": {"weekdays": [1, 2], "start": "09:00", "end": "18:00"}})
    assert r.status_code == 201, r.content
    code = r.json()
    assert (code["state"][:2], len(code["state"]), code["tag_ids"], code["qr_code"]) == (
        "lc", 18, [vip], fake.contact_ways[code["config_id"]]["qr_code"])
    assert code["members"] == [{"userid": "zhangsan", "name": "张三", "weight": 1, "is_backup": False}]
    dup = post(client, "/live-codes", {"corp": corp.pk, "name": "x", "state": code["state"],
                                       "members": [{"userid": "zhangsan"}]})
    assert dup.status_code == 422 and "state" in dup.json()["fields"]
    unknown = post(client, "/live-codes", {"corp": corp.pk, "name": "x", "members": [{"userid": "nobody"}]})
    assert unknown.status_code == 422 and unknown.json()["fields"]["members"] == ["no employee nobody in this corp"]
    assert len(fake.contact_ways) == 1
    r = patch(client, f"/live-codes/{code['id']}", {"name": "官网2", "daily_cap": 5})
    assert r.status_code == 200 and (r.json()["name"], r.json()["daily_cap"]) == ("官网2", 5)
    stats = client.get(BASE + f"/live-codes/{code['id']}/stats?days=3").json()
    assert (len(stats["days"]), stats["totals"]) == (3, {"adds": 0, "deletions": 0, "net": 0, "active": 0})
    fake.fail["externalcontact/del_contact_way"] = [40001]
    failed = client.delete(BASE + f"/live-codes/{code['id']}")
    assert failed.status_code == 502 and failed.json()["code"] == "channel_config"
    assert LiveCode.objects.get(pk=code["id"]).is_active
    assert client.delete(BASE + f"/live-codes/{code['id']}").status_code == 204
    assert LiveCode.objects.get(pk=code["id"]).is_active is False
    assert [c["id"] for c in client.get(BASE + "/live-codes").json()] == []


def test_contacts_list_and_tagging(client, org, fake, api):
    corp = corps.add_corp(actor=Actor.system(org.pk), data={**CORP, "secret": fake.secret,
                                                           "corp_id": fake.corp_id})
    tags.pull_corp_tags(corp)
    fake.scan(state="", external_userid="woApi", name="小李", userid="zhangsan")
    run = SyncRun.objects.create(org_id=org.pk, corp=corp, kind="contacts")
    assert sync.run(run.pk, org_id=org.pk).status == "done"
    page = client.get(BASE + "/contacts?limit=10").json()
    assert [(c["external_userid"], c["name"], [f["userid"] for f in c["follows"]]) for c in page["items"]] == [
        ("woApi", "小李", ["zhangsan"])]
    contact = ExternalContact.objects.get()
    vip = fake.tag_groups[0]["tag"][0]["id"]
    r = post(client, f"/contacts/{contact.pk}/tags", {"add": [vip]})
    assert r.status_code == 200 and r.json() == {"marked": 1}
    assert fake.relations[("zhangsan", "woApi")]["tags_ids"] == [vip]
    assert FollowRelation.objects.get().tag_ids == [vip]
    assert post(client, f"/contacts/{contact.pk}/tags", {"add": ["nope"]}).status_code == 422


def test_syncs_are_queued_and_listed(client, org, api):
    corp = corps.add_corp(actor=Actor.system(org.pk), data=CORP)
    r = post(client, f"/corps/{corp.pk}/syncs", {"kind": "employees"})
    assert r.status_code == 202 and r.json()["status"] == "queued"
    again = post(client, f"/corps/{corp.pk}/syncs", {"kind": "employees"})
    assert again.json()["id"] == r.json()["id"]
    assert [s["kind"] for s in client.get(BASE + f"/corps/{corp.pk}/syncs").json()] == ["employees"]


def test_permissions_and_other_organisations(api_client, org, make_org, api):
    corp = corps.add_corp(actor=Actor.system(org.pk), data=CORP)
    reader = api_client(org, scopes=["channels.wecom.read"])
    assert reader.get(BASE + "/corps").status_code == 200
    assert post(reader, "/corps", {**CORP, "corp_id": "wwnew"}).status_code == 403
    assert patch(reader, f"/corps/{corp.pk}", {"name": "x"}).status_code == 403
    assert reader.get(BASE + "/live-codes").status_code == 403
    other = api_client(make_org("Other Co").org)
    assert other.get(BASE + f"/corps/{corp.pk}").status_code == 404
    assert patch(other, f"/corps/{corp.pk}", {"name": "x"}).status_code == 404
    assert post(other, f"/corps/{corp.pk}/syncs", {"kind": "tags"}).status_code == 404
    corp.refresh_from_db()
    assert (corp.name, Corp.objects.count(), SyncRun.objects.count()) == ("接口企业", 1, 0)
