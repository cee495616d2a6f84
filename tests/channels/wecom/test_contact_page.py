"""The console page of one WeCom external contact (``/channels/wecom/contacts/<id>/``): the contact, its CDP
profile and its follow relations, for a member whose customer scope includes it; a 404 for anyone else, exactly
like another organisation's contact. The scope is the one the list and the API apply (same selector); the members
and contacts are those of the scope tests."""

from __future__ import annotations

import pytest
from django.urls import reverse

from siyu.channels.wecom.models import CorpTag, ExternalContact, FollowRelation
from siyu.kernel import encrypted
from siyu.kernel.actor import DataScope

from . import test_contact_scope as scope

# The scope tests' organisation, members, contacts and foreign contact (fixtures of that module, shared here).
fake, world, other_org_contact, EXPECTED = scope.fake, scope.world, scope.other_org_contact, scope.EXPECTED

PAGE = "/channels/wecom/contacts/{}/"


@pytest.fixture
def english(login_client):
    """A member's signed-in client reading the console in English (the default is Chinese)."""
    return lambda membership: _in(login_client(membership), "en")


def _in(client, language: str):
    client.cookies["django_language"] = language
    return client


@pytest.fixture
def detailed(world, org):
    """C-zhang with everything the page shows: a unionid, a profile, and a follow relation with remark,
    description, add way, state and a corp tag."""
    contact = world["contacts"]["zhang"]
    encrypted.set_encrypted(contact, "unionid", "oUnionZhang12345")
    contact.type, contact.gender, contact.corp_name = 2, 2, "星河科技"
    contact.avatar = "https://wework.qpic.cn/avatar/zhang.png"
    contact.profile = world["contacts"]["owned"].profile
    contact.save()
    CorpTag.objects.create(org_id=org.pk, corp=world["corp"], tag_id="etVIP", name="重要客户", group_id="etG",
                           group_name="客户等级")
    FollowRelation.objects.filter(external_contact=contact).update(
        remark="张总", description="上海门店来访", add_way=1, state="poster-01", tag_ids=["etVIP", "etGone"])
    return contact


def test_a_member_in_scope_sees_the_contact_and_its_follow_relations(world, detailed, english):
    r = english(world["members"]["own"]).get(PAGE.format(detailed.pk))
    assert r.status_code == 200
    page = r.content.decode()
    facts = page.split('data-testid="wecom-contact-facts"', 1)[1].split("</dl>", 1)[0]
    assert "C-zhang" in facts and "wmC-zhang" in facts and "星河科技" in facts
    assert "WeCom" in facts and "Female" in facts
    assert 'href="https://wework.qpic.cn/avatar/zhang.png"' in facts
    # The unionid masked as the kernel masks every envelope, never in clear.
    assert "oUnionZhang12345" not in page
    assert "<code>o******</code>" in facts
    assert f'href="{reverse("cdp_profile", args=[detailed.profile_id])}"' in facts
    follows = page.split('data-testid="wecom-contact-follows"', 1)[1].split("</table>", 1)[0]
    for text in ("zhangsan", "张总", "上海门店来访", "Scanned a QR code (1)", "poster-01", "重要客户", "etGone"):
        assert text in follows, text
    assert "No follow relations." not in follows


def test_the_page_in_chinese(world, detailed, login_client):
    client = _in(login_client(world["members"]["own"]), "zh-hans")
    page = client.get(PAGE.format(detailed.pk)).content.decode()
    for text in ("跟进关系", "添加方式", "扫描二维码 (1)", "企业微信", "女", "已脱敏"):
        assert text in page, text


def test_without_the_profile_permission_the_profile_is_named_not_linked(world, detailed, make_member, org,
                                                                         english):
    reader = make_member(org, "reader@acme.example", permissions=("channels.wecom.read",),
                         scope=DataScope.ORGANIZATION)
    r = english(reader).get(PAGE.format(detailed.pk))
    assert r.status_code == 200
    profile = r.content.decode().split('data-testid="wecom-contact-profile"', 1)[1].split("</dd>", 1)[0]
    assert f"#{detailed.profile_id}" in profile and "href" not in profile


def test_each_member_opens_exactly_the_contacts_of_its_scope(world, english):
    """The page answers 200 for the contacts the list shows the member and 404 for every other one."""
    for who, expected in EXPECTED.items():
        client = english(world["members"][who])
        opened = {name for name, c in ((c.name, c) for c in world["contacts"].values())
                  if client.get(PAGE.format(c.pk)).status_code == 200}
        assert opened == expected, who
        for c in world["contacts"].values():
            if c.name not in expected:
                assert client.get(PAGE.format(c.pk)).status_code == 404, (who, c.name)


def test_a_contact_outside_the_scope_shows_nothing_of_it(world, english):
    r = english(world["members"]["own"]).get(PAGE.format(world["contacts"]["li"].pk))
    assert r.status_code == 404
    assert "C-li" not in r.content.decode() and "wmC-li" not in r.content.decode()


def test_another_organisations_contact_is_404_even_for_the_widest_scope(world, other_org_contact, english,
                                                                        login_client, admin_membership):
    for client in (english(world["members"]["all"]), login_client(admin_membership)):
        r = client.get(PAGE.format(other_org_contact.pk))
        assert r.status_code == 404
        assert "C-other" not in r.content.decode()
    assert english(world["members"]["all"]).get(PAGE.format(2147480000)).status_code == 404


def test_the_list_links_each_row_to_its_page(world, english):
    page = english(world["members"]["own"]).get("/channels/wecom/contacts/").content.decode()
    links = {c.name for c in world["contacts"].values() if f'href="{PAGE.format(c.pk)}"' in page}
    assert links == EXPECTED["own"]
    contact = ExternalContact.objects.get(pk=world["contacts"]["zhang"].pk)
    assert english(world["members"]["own"]).get(PAGE.format(contact.pk)).status_code == 200
