"""The profile API: create through resolution, list with filters and keyset pages, detail with masked identities
and field security, update with custom-field validation, soft delete, owner, accounts, identities, lookup."""

from __future__ import annotations

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.cdp.models import Identity, Profile, ProfileStatus
from siyu.kernel.actor import Actor, DataScope
from siyu.platform import services as platform

BASE = "/api/v1/cdp"


@pytest.fixture
def vip_field(admin_actor):
    platform.create_field(actor=admin_actor, object_key="cdp.profile", key="level", label="Level",
                          type="single_select", options={"choices": [{"value": "vip", "label": "VIP"},
                                                                     {"value": "normal", "label": "Normal"}]})
    platform.create_field(actor=admin_actor, object_key="cdp.profile", key="spend", label="Spend", type="integer")


def audit_actions(org, object_id):
    return list(AuditLogEntry.objects.filter(org_id=org.pk, object_type="cdp.profile", object_id=str(object_id))
                .order_by("seq").values_list("action", flat=True))


def test_create_then_a_duplicate_phone_in_another_format_matches_the_same_profile(api, send, org):
    r = send(api, "post", f"{BASE}/profiles", {
        "name": "王小明", "gender": "male", "identifiers": [{"type": "phone", "value": "138 1234 5678"}]})
    assert r.status_code == 201, r.content
    body = r.json()
    pid = body["profile"]["id"]
    assert (body["created"], body["profile"]["name"], body["profile"]["gender"]) == (True, "王小明", "male")
    assert [(i["type"], i["masked"]) for i in body["profile"]["identities"]] == [("phone", "138****5678")]
    r = send(api, "post", f"{BASE}/profiles", {
        "name": "另一个名字", "city": "上海",
        "identifiers": [{"type": "phone", "value": "+86-138-1234-5678"}, {"type": "email", "value": "XM@Example.cn"}]})
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["created"], body["profile"]["id"]) == (False, pid)
    # a match fills only what the profile lacks: the name stays, the city is new
    assert (body["profile"]["name"], body["profile"]["city"]) == ("王小明", "上海")
    assert sorted(i["type"] for i in body["profile"]["identities"]) == ["email", "phone"]
    assert Profile.objects.filter(org=org).count() == 1
    assert audit_actions(org, pid) == ["create", "update", "update"]


def test_bad_identifiers_and_bad_custom_values_are_422_and_create_nothing(api, send, vip_field, cdp_state):
    before = cdp_state()
    r = send(api, "post", f"{BASE}/profiles", {"name": "x", "identifiers": [{"type": "phone", "value": "12345"}]})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["identifiers.0.phone"])
    r = send(api, "post", f"{BASE}/profiles", {"name": "x", "custom": {"level": "gold", "nope": 1}})
    assert (r.status_code, sorted(r.json()["fields"])) == (422, ["level", "nope"])
    r = send(api, "post", f"{BASE}/profiles", {"name": "x", "lifecycle_stage": "moon"})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["lifecycle_stage"])
    after = cdp_state()
    after.pop("cdp_lifecyclestagedefinition")  # the defaults are created on first use: bookkeeping, not the write
    before.pop("cdp_lifecyclestagedefinition")
    assert after == before


def test_list_filters_on_standard_custom_tag_stage_and_owner_with_keyset_pages(api, send, vip_field, admin_actor,
                                                                               admin_membership):
    ids = []
    for n in range(5):
        r = send(api, "post", f"{BASE}/profiles", {
            "name": f"客户{n}", "city": "上海" if n % 2 else "北京", "custom": {"level": "vip" if n < 2 else "normal",
                                                                            "spend": n * 100},
            "lifecycle_stage": "nurturing" if n == 4 else None, "owner_id": admin_membership.user_id if n == 3 else None})
        assert r.status_code == 201, r.content
        ids.append(r.json()["profile"]["id"])
    send(api, "post", f"{BASE}/profiles/{ids[1]}/tags", {"tags": [{"group": "价值", "name": "VIP"}]})
    tag_id = send(api, "get", f"{BASE}/tags").json()[0]["id"]

    def listed(query):
        r = api.get(f"{BASE}/profiles?{query}")
        assert r.status_code == 200, r.content
        return [p["id"] for p in r.json()["items"]]

    assert listed("") == ids[::-1]
    assert listed("filter[level][eq]=vip") == [ids[1], ids[0]]
    assert listed("filter[spend][gte]=200&filter[city][eq]=北京") == [ids[4], ids[2]]
    assert listed(f"tag_id={tag_id}") == [ids[1]]
    assert listed("lifecycle_stage=nurturing") == [ids[4]]
    assert listed(f"owner_id={admin_membership.user_id}") == [ids[3]]
    assert listed("sort=spend") == ids
    page1 = api.get(f"{BASE}/profiles?limit=2&sort=-spend").json()
    page2 = api.get(f"{BASE}/profiles?limit=2&sort=-spend&cursor={page1['next_cursor']}").json()
    assert [p["id"] for p in page1["items"] + page2["items"]] == [ids[4], ids[3], ids[2], ids[1]]
    assert page1["items"][0]["custom"] == {"level": "normal", "spend": 400}
    r = api.get(f"{BASE}/profiles?filter[level][gt]=1")
    assert (r.status_code, list(r.json()["fields"])) == (422, ["filter[level][gt]"])


def test_detail_hides_fields_and_update_refuses_read_only_and_hidden_fields(api, send, member_with, vip_field, cdp_state):
    pid = send(api, "post", f"{BASE}/profiles", {
        "name": "李雷", "city": "杭州", "custom": {"level": "vip", "spend": 5},
        "identifiers": [{"type": "email", "value": "lilei@example.cn"}]}).json()["profile"]["id"]
    member, actor = member_with("fs@acme.example", field_rules=[("city", "hidden"), ("spend", "hidden"),
                                                                ("name", "read_only"), ("level", "read_only"),
                                                                ("identities", "hidden")])
    from django.test import Client

    from siyu.iam import services as iam
    _, raw = iam.issue_api_key(actor=Actor.system(member.org_id), name="k", scopes=["cdp.*"])
    # the member's own session sees what field security leaves
    c = Client()
    assert c.post("/login/", {"email": "fs@acme.example", "password": "correct horse battery staple"}).status_code == 302
    body = c.get(f"{BASE}/profiles/{pid}").json()
    assert "city" not in body and "identities" not in body and body["custom"] == {"level": "vip"}
    assert body["name"] == "李雷"
    before = cdp_state()
    for change in ({"name": "韩梅梅"}, {"city": "苏州"}, {"custom": {"level": "normal"}}, {"custom": {"spend": 1}}):
        r = c.patch(f"{BASE}/profiles/{pid}", data=change, content_type="application/json")
        assert r.status_code == 422, (change, r.content)
    r = c.post(f"{BASE}/profiles/{pid}/identities", data={"type": "email", "value": "x@example.cn"},
               content_type="application/json")
    assert r.status_code == 422
    assert cdp_state() == before
    r = c.patch(f"{BASE}/profiles/{pid}", data={"province": "浙江"}, content_type="application/json")
    assert (r.status_code, r.json()["province"]) == (200, "浙江")


def test_update_validates_custom_on_every_write_and_audits_the_diff(api, send, vip_field, org):
    pid = send(api, "post", f"{BASE}/profiles", {"name": "A"}).json()["profile"]["id"]
    r = send(api, "patch", f"{BASE}/profiles/{pid}", {"name": "B", "custom": {"spend": "lots"}})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["spend"])
    assert Profile.objects.get(pk=pid).name == "A"
    r = send(api, "patch", f"{BASE}/profiles/{pid}", {"name": "B", "birthday": "1990-05-01", "custom": {"spend": 7}})
    assert r.status_code == 200, r.content
    assert (r.json()["name"], r.json()["birthday"], r.json()["custom"]) == ("B", "1990-05-01", {"spend": 7})
    entry = AuditLogEntry.objects.filter(org_id=org.pk, object_id=str(pid), action="update").order_by("-seq").first()
    assert entry.changes == {"name": ["A", "B"], "birthday": [None, "1990-05-01"], "custom.spend": [None, 7]}
    r = send(api, "patch", f"{BASE}/profiles/{pid}", {"birthday": "2999-01-01"})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["birthday"])
    r = send(api, "patch", f"{BASE}/profiles/{pid}", {"unknown": 1})
    assert r.status_code == 422


def test_delete_is_soft_and_the_profile_is_gone_from_reads(api, send, org):
    pid = send(api, "post", f"{BASE}/profiles", {"name": "Gone", "identifiers": [
        {"type": "phone", "value": "13900001111"}]}).json()["profile"]["id"]
    assert api.delete(f"{BASE}/profiles/{pid}").status_code == 204
    assert Profile.objects.get(pk=pid).status == ProfileStatus.DELETED
    assert api.get(f"{BASE}/profiles/{pid}").status_code == 404
    assert api.get(f"{BASE}/profiles").json()["items"] == []
    assert api.get(f"{BASE}/profiles/lookup?type=phone&value=13900001111").status_code == 404
    assert audit_actions(org, pid)[-1] == "delete"
    # a create that matches one of its identifiers brings it back
    r = send(api, "post", f"{BASE}/profiles", {"identifiers": [{"type": "phone", "value": "139 0000 1111"}]})
    assert (r.status_code, r.json()["profile"]["id"], r.json()["profile"]["status"]) == (200, pid, "active")


def test_assign_owner_follows_the_owners_department(api, send, make_member, org, admin_membership):
    from siyu.iam import services as iam
    from siyu.iam.models import Department
    from siyu.iam.selectors import actor_for_membership

    root = Department.objects.in_org(Actor.system(org.pk)).get(parent__isnull=True)
    dept = iam.add_department(actor=actor_for_membership(admin_membership), name="华东", parent=root)
    rep = make_member(org, "rep@acme.example", department=dept)
    pid = send(api, "post", f"{BASE}/profiles", {"name": "C"}).json()["profile"]["id"]
    r = send(api, "put", f"{BASE}/profiles/{pid}/owner", {"owner_id": rep.user_id})
    assert (r.status_code, r.json()["owner_id"], r.json()["department_id"]) == (200, rep.user_id, dept.pk)
    assert r.json()["owner"]["id"] == rep.user_id
    r = send(api, "put", f"{BASE}/profiles/{pid}/owner", {"owner_id": 999999})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["owner_id"])
    r = send(api, "put", f"{BASE}/profiles/{pid}/owner", {"owner_id": None})
    assert (r.json()["owner_id"], r.json()["department_id"]) == (None, None)


def test_other_org_and_out_of_scope_get_404_and_change_nothing(api, send, api_client, make_org, member_with,
                                                                cdp_state):
    pid = send(api, "post", f"{BASE}/profiles", {"name": "Secret", "identifiers": [
        {"type": "email", "value": "secret@example.cn"}]}).json()["profile"]["id"]
    iid = Identity.objects.get(profile_id=pid).pk
    other = api_client(make_org("Bravo").org)
    from django.test import Client

    member_with("own@acme.example", scope=DataScope.OWN)
    scoped = Client()
    scoped.post("/login/", {"email": "own@acme.example", "password": "correct horse battery staple"})
    before = cdp_state()
    for client in (other, scoped):
        assert client.get(f"{BASE}/profiles/{pid}").status_code == 404
        assert send(client, "patch", f"{BASE}/profiles/{pid}", {"name": "X"}).status_code == 404
        assert client.delete(f"{BASE}/profiles/{pid}").status_code == 404
        assert send(client, "put", f"{BASE}/profiles/{pid}/owner", {"owner_id": None}).status_code == 404
        assert client.delete(f"{BASE}/profiles/{pid}/identities/{iid}").status_code == 404
        assert send(client, "post", f"{BASE}/profiles/{pid}/identities/{iid}/reveal", {"reason": "x"}).status_code == 404
        assert client.get(f"{BASE}/profiles/lookup?type=email&value=secret@example.cn").status_code == 404
        assert client.get(f"{BASE}/profiles").json()["items"] == []
        assert client.get(f"{BASE}/profiles/search?q=Secret").json()["items"] == []
    # an identifier of a customer the caller cannot see: a 409 that creates nothing
    r = send(scoped, "post", f"{BASE}/profiles", {"name": "Dup", "identifiers": [
        {"type": "email", "value": "secret@example.cn"}]})
    assert (r.status_code, r.json()["code"]) == (409, "duplicate_out_of_scope")
    assert cdp_state() == before


def test_missing_permission_is_403_and_changes_nothing(api, send, api_client, org, cdp_state):
    pid = send(api, "post", f"{BASE}/profiles", {"name": "P"}).json()["profile"]["id"]
    reader = api_client(org, scopes=["cdp.profile.read"])
    before = cdp_state()
    assert send(reader, "post", f"{BASE}/profiles", {"name": "Q"}).status_code == 403
    assert send(reader, "patch", f"{BASE}/profiles/{pid}", {"name": "Q"}).status_code == 403
    assert reader.delete(f"{BASE}/profiles/{pid}").status_code == 403
    assert send(reader, "post", f"{BASE}/profiles/{pid}/consent", {"purpose": "marketing", "granted": True}
                ).status_code == 403
    assert send(reader, "put", "/api/v1/cdp/lifecycle-stages", {"stages": [{"key": "a", "label": "A"}]}
                ).status_code == 403
    assert cdp_state() == before
    assert reader.get(f"{BASE}/profiles/{pid}").status_code == 200


def test_identities_add_remove_conflict_and_audited_reveal(api, send, api_client, org):
    a = send(api, "post", f"{BASE}/profiles", {"name": "A"}).json()["profile"]["id"]
    b = send(api, "post", f"{BASE}/profiles", {"name": "B", "identifiers": [
        {"type": "phone", "value": "13711112222"}]}).json()["profile"]["id"]
    r = send(api, "post", f"{BASE}/profiles/{a}/identities", {"type": "wecom_external_userid", "value": "wmAbc",
                                                              "namespace": "ww1"})
    assert r.status_code == 201, r.content
    iid = r.json()["id"]
    assert (r.json()["type"], r.json()["masked"]) == ("wecom_external_userid", "w****")
    again = send(api, "post", f"{BASE}/profiles/{a}/identities", {"type": "wecom_external_userid", "value": "wmAbc",
                                                                  "namespace": "ww1"})
    assert again.status_code == 201 and again.json()["id"] == iid
    taken = send(api, "post", f"{BASE}/profiles/{a}/identities", {"type": "phone", "value": "137-1111-2222"})
    assert (taken.status_code, taken.json()["code"]) == (409, "identifier_taken")
    r = api.get(f"{BASE}/profiles/lookup?type=wecom_external_userid&value=wmAbc&namespace=ww1")
    assert (r.status_code, r.json()["id"]) == (200, a)
    assert api.get(f"{BASE}/profiles/lookup?type=phone&value=%2B8613711112222").json()["id"] == b
    # reveal: the plaintext for holders of cdp.profile.unmask, with the reason in the audit log
    no_unmask = api_client(org, scopes=["cdp.profile.read"])
    assert send(no_unmask, "post", f"{BASE}/profiles/{a}/identities/{iid}/reveal", {"reason": "call"}).status_code == 403
    r = send(api, "post", f"{BASE}/profiles/{a}/identities/{iid}/reveal", {"reason": "customer called"})
    assert (r.status_code, r.json()["value"]) == (200, "wmAbc")
    entry = AuditLogEntry.objects.filter(org_id=org.pk, action="unmask").get()
    assert (entry.object_type, entry.meta["field"], entry.meta["reason"]) == ("cdp.profile", "value", "customer called")
    assert api.delete(f"{BASE}/profiles/{a}/identities/{iid}").status_code == 204
    assert Profile.objects.get(pk=a).identity_count == 0
    assert api.get(f"{BASE}/profiles/lookup?type=wecom_external_userid&value=wmAbc&namespace=ww1").status_code == 404


def test_accounts_have_contacts(api, send):
    r = send(api, "post", f"{BASE}/accounts", {"name": "思域科技有限公司", "city": "深圳"})
    assert (r.status_code, r.json()["profile"]["kind"]) == (201, "company")
    acc = r.json()["profile"]["id"]
    p1 = send(api, "post", f"{BASE}/profiles", {"name": "张三", "account_id": acc}).json()["profile"]["id"]
    p2 = send(api, "post", f"{BASE}/profiles", {"name": "李四"}).json()["profile"]["id"]
    assert send(api, "patch", f"{BASE}/profiles/{p2}", {"account_id": acc}).json()["account"] == {
        "id": acc, "name": "思域科技有限公司"}
    assert [p["id"] for p in api.get(f"{BASE}/accounts/{acc}/contacts").json()["items"]] == [p2, p1]
    assert [p["id"] for p in api.get(f"{BASE}/accounts").json()["items"]] == [acc]
    r = send(api, "patch", f"{BASE}/profiles/{p1}", {"account_id": p2})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["account_id"])
    assert api.get(f"{BASE}/accounts/{p1}/contacts").status_code == 404
    r = api.delete(f"{BASE}/profiles/{acc}")
    assert (r.status_code, r.json()["code"]) == (409, "account_has_contacts")


def test_list_and_detail_queries_do_not_grow_with_rows(api, send, vip_field):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(url):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url).status_code == 200
        return len(ctx.captured_queries)

    def add(n):
        for i in range(n):
            r = send(api, "post", f"{BASE}/profiles", {"name": f"N{i}", "custom": {"spend": i}, "identifiers": [
                {"type": "email", "value": f"n{i}-{n}@example.cn"}, {"type": "phone", "value": f"1390000{n:02d}{i:02d}"}]})
            send(api, "post", f"{BASE}/profiles/{r.json()['profile']['id']}/tags", {"tags": [{"group": "g", "name": f"t{i}"}]})
        return r.json()["profile"]["id"]

    pid = add(2)
    small = (count(f"{BASE}/profiles?filter[spend][gte]=0"), count(f"{BASE}/profiles/{pid}"))
    pid = add(30)
    send(api, "post", f"{BASE}/profiles/{pid}/tags", {"tags": [{"group": "g", "name": f"x{i}"} for i in range(5)]})
    assert (count(f"{BASE}/profiles?filter[spend][gte]=0"), count(f"{BASE}/profiles/{pid}")) == small
