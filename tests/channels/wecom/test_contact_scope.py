"""WeCom external contacts are customers: a member sees those their data scope on ``cdp.profile`` gives them.

"Own": contacts with a live follow relation with an employee mapped to the member, or whose CDP profile the member
may see (also through a merge). "Department" / "department and below": the same for the members of those
departments. "Organisation": all of them. The list (console and API), the API's one contact, tagging, group member
lists and transfers all apply it; a contact outside the scope answers exactly like another organisation's: 404.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from siyu.cdp import merging
from siyu.cdp import profiles as cdp_profiles
from siyu.channels.wecom import selectors
from siyu.channels.wecom.models import (
    Corp,
    Employee,
    ExternalContact,
    FollowRelation,
    GroupChat,
    GroupMember,
    Transfer,
)
from siyu.channels.wecom.testing import FakeWeCom
from siyu.iam import services as iam
from siyu.iam.models import Department
from siyu.iam.selectors import actor_for_membership
from siyu.kernel import clock
from siyu.kernel.actor import Actor, DataScope

API = "/api/v1/channels/wecom"
EMAILS = {"zhangsan": "own@acme.example", "lisi": "peer@acme.example", "wangwu": "east@acme.example",
          "zhaoliu": "support@acme.example"}


@pytest.fixture
def fake():
    f = FakeWeCom()
    for userid, email in EMAILS.items():
        f.add_employee(userid, userid, email=email)
    return f


@pytest.fixture
def world(org, admin_actor, make_member, connect):
    """Sales (with Sales East below it) and Support; members mapped to WeCom employees by e-mail; one contact per
    way of being in (or out of) someone's scope."""
    root = Department.objects.in_org(admin_actor).get(parent__isnull=True)
    sales = iam.add_department(actor=admin_actor, name="Sales", parent=root)
    east = iam.add_department(actor=admin_actor, name="Sales East", parent=sales)
    support = iam.add_department(actor=admin_actor, name="Support", parent=root)
    m = {
        "own": make_member(org, EMAILS["zhangsan"], scope=DataScope.OWN, department=sales),
        "peer": make_member(org, EMAILS["lisi"], scope=DataScope.OWN, department=sales),
        "east": make_member(org, EMAILS["wangwu"], scope=DataScope.OWN, department=east),
        "support": make_member(org, EMAILS["zhaoliu"], scope=DataScope.OWN, department=support),
        "dept": make_member(org, "lead@acme.example", scope=DataScope.DEPARTMENT, department=sales),
        "tree": make_member(org, "head@acme.example", scope=DataScope.DEPARTMENT_TREE, department=sales),
        "all": make_member(org, "viewer@acme.example", scope=DataScope.ORGANIZATION, department=support),
        "nobody": make_member(org, "new@acme.example", scope=DataScope.OWN, department=support),
    }
    corp = connect()  # the employee sync maps each employee to the member with its e-mail
    employees = {e.userid: e for e in Employee.objects.in_org(admin_actor).filter(corp=corp)}
    assert {u: e.membership_id for u, e in employees.items()} == {
        "zhangsan": m["own"].pk, "lisi": m["peer"].pk, "wangwu": m["east"].pk, "zhaoliu": m["support"].pk}
    system = Actor.system(org.pk)

    def contact(name, *, followers=(), gone=(), profile=None):
        c = ExternalContact.objects.create(org_id=org.pk, corp=corp, external_userid=f"wm{name}", name=name,
                                           profile=profile)
        for userid, deleted in [*((u, False) for u in followers), *((u, True) for u in gone)]:
            FollowRelation.objects.create(org_id=org.pk, corp=corp, employee=employees[userid], external_contact=c,
                                          added_at=clock.now(), deleted=deleted)
        return c

    def profile(name, owner=None):
        return cdp_profiles.create_profile(actor=system, data={"name": name},
                                           owner_id=owner.user_id if owner else None).profile

    loser, survivor = profile("Merged away"), profile("Survivor", m["own"])
    merging.merge_profiles(actor=system, survivor=survivor, merged=loser, reason="same person")
    contacts = {
        "zhang": contact("C-zhang", followers=["zhangsan"]),
        "li": contact("C-li", followers=["lisi"]),
        "wang": contact("C-wang", followers=["wangwu"]),
        "support": contact("C-support", followers=["zhaoliu"]),
        "gone": contact("C-gone", gone=["zhangsan"]),  # zhangsan deleted this customer: no longer theirs
        "owned": contact("C-owned", profile=profile("Owned", m["own"])),  # nobody follows; own's profile
        "merged": contact("C-merged", profile=loser),  # linked to a profile merged into own's
    }
    return {"members": m, "actors": {k: actor_for_membership(v) for k, v in m.items()}, "corp": corp,
            "contacts": contacts, "employees": employees}


EXPECTED = {
    "own": {"C-zhang", "C-owned", "C-merged"},
    "peer": {"C-li"},
    "east": {"C-wang"},
    "support": {"C-support"},
    "dept": {"C-zhang", "C-li", "C-owned", "C-merged"},  # Sales, not Sales East
    "tree": {"C-zhang", "C-li", "C-wang", "C-owned", "C-merged"},
    "all": {"C-zhang", "C-li", "C-wang", "C-support", "C-gone", "C-owned", "C-merged"},
    "nobody": set(),
}


@pytest.fixture
def other_org_contact(make_member):
    """A contact of another organisation (its own corp), which nobody here may reach."""
    other = iam.create_organization(name="Other Co", admin_email="admin@other.example", admin_password="x" * 16)
    corp = Corp.objects.create(org_id=other.org_id, corp_id="wwother", secret="s", callback_token="t",
                               encoding_aes_key="k", callback_key="other-callback-key")
    return ExternalContact.objects.create(org_id=other.org_id, corp=corp, external_userid="wmOther", name="C-other")


def _names(rows) -> set[str]:
    return {r.name if hasattr(r, "name") else r["name"] for r in rows}


def test_each_scope_lists_its_contacts_in_the_selector_the_console_and_the_api(world, login_client):
    for who, expected in EXPECTED.items():
        assert _names(selectors.external_contacts(world["actors"][who])) == expected, who
        client = login_client(world["members"][who])
        page = client.get("/channels/wecom/contacts/")
        assert page.status_code == 200
        shown = {name for name in EXPECTED["all"] if f"<code>wm{name}</code>" in page.content.decode()}
        assert shown == expected, who
        r = client.get(f"{API}/contacts?limit=200")
        assert r.status_code == 200 and _names(r.json()["items"]) == expected, who


def test_one_contact_in_scope_opens_and_one_outside_is_404(world, login_client, other_org_contact):
    for who in ("own", "dept", "tree", "all"):
        client = login_client(world["members"][who])
        for c in world["contacts"].values():
            r = client.get(f"{API}/contacts/{c.pk}")
            if c.name in EXPECTED[who]:
                assert r.status_code == 200 and r.json()["name"] == c.name, (who, c.name)
            else:
                assert r.status_code == 404 and set(r.json()) == {"code", "message", "fields"}, (who, c.name)
        assert client.get(f"{API}/contacts/{other_org_contact.pk}").status_code == 404, who


def test_searching_by_external_userid_finds_nothing_outside_the_scope(world, login_client):
    client = login_client(world["members"]["own"])
    assert client.get(f"{API}/contacts?q=wmC-li").json()["items"] == []
    assert _names(client.get(f"{API}/contacts?q=wmC-zhang").json()["items"]) == {"C-zhang"}
    page = client.get("/channels/wecom/contacts/?q=wmC-li").content.decode()
    assert "<code>wmC-li</code>" not in page and 'data-testid="wecom-contacts-empty"' in page


def test_tagging_a_contact_outside_the_scope_is_404_and_changes_nothing(world, login_client, other_org_contact):
    client = login_client(world["members"]["own"])
    li, other = world["contacts"]["li"], other_org_contact
    before = list(FollowRelation.objects.order_by("pk").values_list("pk", "tag_ids", "updated_at"))
    for c in (li, other):
        r = client.post(f"{API}/contacts/{c.pk}/tags", data=json.dumps({"add": ["anytag"]}),
                        content_type="application/json")
        assert r.status_code == 404, r.content
    assert list(FollowRelation.objects.order_by("pk").values_list("pk", "tag_ids", "updated_at")) == before
    # in scope the lookup passes and the service goes on to the tags (here an unknown one: 422, not 404)
    mine = client.post(f"{API}/contacts/{world['contacts']['zhang'].pk}/tags", data=json.dumps({"add": ["anytag"]}),
                       content_type="application/json")
    assert mine.status_code == 422 and "tag_ids" in mine.json()["fields"]


def test_a_group_lists_employees_and_only_the_customers_in_the_scope(world, login_client, org):
    corp, contacts = world["corp"], world["contacts"]
    group = GroupChat.objects.create(org_id=org.pk, corp=corp, chat_id="wrScope", name="VIP", member_count=3,
                                     external_count=2)
    GroupMember.objects.create(org_id=org.pk, group=group, userid="zhaoliu", type=1, name="Employee Zhao",
                               employee=world["employees"]["zhaoliu"])
    for key in ("zhang", "li"):
        GroupMember.objects.create(org_id=org.pk, group=group, userid=contacts[key].external_userid, type=2,
                                   name=f"Member {contacts[key].name}", external_contact=contacts[key])
    page = login_client(world["members"]["own"]).get(f"/channels/wecom/groups/{group.pk}/").content.decode()
    assert "Employee Zhao" in page and "Member C-zhang" in page
    assert "Member C-li" not in page
    full = login_client(world["members"]["all"]).get(f"/channels/wecom/groups/{group.pk}/").content.decode()
    assert "Member C-zhang" in full and "Member C-li" in full


def test_a_transfer_of_a_customer_outside_the_scope_is_refused_as_unknown(world, login_client, fake):
    client = login_client(world["members"]["own"])
    body = {"corp": world["corp"].pk, "kind": "onjob", "handover": "lisi", "takeover": "zhangsan",
            "external_userids": ["wmC-li"]}
    r = client.post(f"{API}/transfers", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["fields"]["external_userids.0"] == ["wmC-li: unknown customer"]
    assert not Transfer.objects.exists()
    # the transfer page offers the handover's customers in the scope only
    page = client.get(f"/channels/wecom/transfers/?corp={world['corp'].pk}&handover=lisi").content.decode()
    assert "wmC-li" not in page
    assert "wmC-li" in login_client(world["members"]["peer"]).get(
        f"/channels/wecom/transfers/?corp={world['corp'].pk}&handover=lisi").content.decode()


def test_the_transfer_list_shows_only_the_customers_in_the_scope(world, login_client, org):
    employees, contacts = world["employees"], world["contacts"]
    for key in ("zhang", "li"):
        Transfer.objects.create(org_id=org.pk, corp=world["corp"], kind="onjob", handover=employees["lisi"],
                                takeover=employees["wangwu"], external_contact=contacts[key], started_at=clock.now())
    seen = {t["external_userid"] for t in login_client(world["members"]["own"]).get(f"{API}/transfers").json()}
    assert seen == {"wmC-zhang"}
    seen = {t["external_userid"] for t in login_client(world["members"]["all"]).get(f"{API}/transfers").json()}
    assert seen == {"wmC-zhang", "wmC-li"}


def test_system_paths_still_see_every_contact(world, org):
    """Callbacks, syncs and processing act as the system actor: no scope narrows what they find."""
    system = Actor.system(org.pk)
    assert _names(ExternalContact.objects.visible_to(system)) == EXPECTED["all"]


def test_the_list_costs_the_same_queries_whatever_the_number_of_rows(world, login_client, org):
    """One predicate with subqueries, no per-row work: a page of 3 and a page of 30 cost the same."""
    client = login_client(world["members"]["own"])
    corp, zhangsan = world["corp"], world["employees"]["zhangsan"]

    def count(url: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(url)
        assert r.status_code == 200
        rows = len(r.json()["items"]) if url.startswith("/api/") else r.content.decode().count("<code>wm")
        return rows, len(ctx.captured_queries)

    few = {url: count(url) for url in ("/channels/wecom/contacts/", f"{API}/contacts")}
    for n in range(27):
        c = ExternalContact.objects.create(org_id=org.pk, corp=corp, external_userid=f"wmMore{n}", name=f"More {n}")
        FollowRelation.objects.create(org_id=org.pk, corp=corp, employee=zhangsan, external_contact=c)
    for url, (rows, queries) in few.items():
        more_rows, more_queries = count(url)
        assert (rows, more_rows) == (3, 30), url
        assert more_queries == queries, f"{url}: {queries} queries for {rows} rows, {more_queries} for {more_rows}"
