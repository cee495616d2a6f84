"""Syncs (employees with membership mapping, full contact sync in blocks of 100 follow users with progress and
resume), corp tags both ways, the channel adapter on the port, and ``siyu wecom add-corp``."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from siyu.cdp import tags as cdp_tags
from siyu.cdp.models import Profile, ProfileTag
from siyu.channels.errors import ChannelConfigError, IdempotencyConflict
from siyu.channels.ports import Link, MessageContent, Recipient, SendStatus, registry
from siyu.channels.wecom import corps, sync, tags
from siyu.channels.wecom.models import Corp, CorpTag, Employee, ExternalContact, FollowRelation, SyncRun
from siyu.channels.wecom.testing import AES_KEY, FakeWeCom, err, signed_post
from siyu.iam import services as iam
from siyu.kernel import encrypted
from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed


@pytest.fixture
def fake():
    f = FakeWeCom()
    f.add_employee("zhangsan", "张三", mobile="13912345678")
    f.add_employee("lisi", "李四", email="Li.Si@Acme.example")
    f.add_employee("wangwu", "王五", follow=False)
    return f


@pytest.fixture
def corp(connect, fake):
    return connect(employees=False, corp_tags=False, name="示例", agent_id=1000002, agent_secret=fake.agent_secret)


def test_employee_sync_maps_memberships_and_marks_who_left(org, corp, fake, make_member):
    by_mobile = make_member(org, "zs@acme.example")
    iam.update_member(actor=Actor.system(org.pk), membership_id=by_mobile.pk, changes={"mobile": "139 1234 5678"})
    by_email = make_member(org, "li.si@acme.example")
    counts = sync.sync_employees(corp)
    assert counts == {"added": 3, "updated": 0, "left": 0}
    rows = {e.userid: (e.name, e.is_follow_user, e.membership_id, e.left_at) for e in Employee.objects.all()}
    assert rows == {"zhangsan": ("张三", True, by_mobile.pk, None), "lisi": ("李四", True, by_email.pk, None),
                    "wangwu": ("王五", False, None, None)}
    del fake.users["wangwu"]
    assert sync.sync_employees(corp) == {"added": 0, "updated": 2, "left": 1}
    assert Employee.objects.get(userid="wangwu").left_at is not None


def test_full_sync_in_blocks_with_progress_and_resume(org, corp, fake):
    for n in range(101):  # two blocks of follow users
        fake.add_employee(f"u{n:03d}")
    for n in range(7):
        fake.scan(state="", external_userid=f"woFull{n}", name=f"客户{n}", userid="zhangsan")
    fake.scan(state="", external_userid="woLast", name="最后", userid="lisi")
    fake.page_size = 3
    run = SyncRun.objects.create(org_id=org.pk, corp=corp, kind="contacts")
    # the second block fails: the run records it and keeps the first block's progress
    original = fake.api_externalcontact_batch_get_by_user

    def second_block_fails(body, query):
        if "u100" in body["userid_list"]:
            return err(40001)
        return original(body, query)

    fake.api_externalcontact_batch_get_by_user = second_block_fails
    run = sync.run(run.pk, org_id=org.pk)
    # sorted follow users: lisi, u000…u098 in the first block; u099, u100, zhangsan in the second
    assert (run.status, run.total, run.done, run.cursor, run.added) == ("failed", 103, 100, {"chunk": 1}, 1)
    assert "WeComConfigError" in run.error
    fake.api_externalcontact_batch_get_by_user = original
    run = sync.run(run.pk, org_id=org.pk)
    assert (run.status, run.done, run.added) == ("done", 103, 8)
    assert ExternalContact.objects.count() == 8 and Profile.objects.count() == 8
    assert FollowRelation.objects.filter(deleted=False).count() == 8
    # a full sync (not a reconcile) never deletes
    del fake.relations[("zhangsan", "woFull0")]
    again = sync.run(SyncRun.objects.create(org_id=org.pk, corp=corp, kind="contacts").pk, org_id=org.pk)
    assert (again.added, again.updated, again.deleted) == (0, 7, 0)
    assert FollowRelation.objects.filter(deleted=False).count() == 8


def test_corp_tags_both_ways(org, corp, fake, drain):
    ids = fake.add_tag_group("行业", ["教育", "医疗"])
    assert tags.pull_corp_tags(corp) == {"tags": 2, "deleted": 0}
    row = CorpTag.objects.get(tag_id=ids["教育"])
    assert (row.group_name, row.name, row.cdp_tag_id is not None) == ("行业", "教育", True)
    # Siyu → WeCom: a new tag is created in WeCom and mirrored at once (WeCom sends no callback for it)
    created = tags.create_corp_tags(actor=Actor.system(org.pk), corp=corp, group_name="行业", names=["金融"])
    assert [(t.group_id, t.name) for t in created] == [(row.group_id, "金融")]
    assert fake.called("externalcontact/add_corp_tag")[-1] == {"group_id": row.group_id, "tag": [{"name": "金融"}]}
    # a customer tagged in Siyu is marked in WeCom, and the profile gets the tag from the reserved group
    signed_post(Client(), corps.callback_path(corp), fake.scan(state="", external_userid="woT", userid="lisi"),
                corp_id=corp.corp_id)
    drain()
    contact = ExternalContact.objects.get()
    tags.tag_contact(actor=Actor.system(org.pk), contact_pk=contact.pk, add=[ids["医疗"]])
    assert fake.relations[("lisi", "woT")]["tags_ids"] == [ids["医疗"]]
    link = ProfileTag.objects.get(profile=contact.profile)
    assert (link.tag.group.name, link.tag.name, link.tag.group.kind, link.source) == ("示例·行业", "医疗", "channel",
                                                                                      "wecom")
    with pytest.raises(ValidationFailed):  # the reserved group takes no manual tags
        cdp_tags.add_tags(actor=Actor.system(org.pk), profile=contact.profile,
                          tags=[tags.cdp_tag_for(corp, row)], source="manual")
    # WeCom → Siyu: an employee edits the tags in the client; the callback brings the change to the profile
    fake.relations[("lisi", "woT")]["tags_ids"] = [ids["教育"]]
    xml = fake.event_xml("edit_external_contact", userid="lisi", external_userid="woT")
    signed_post(Client(), corps.callback_path(corp), xml, corp_id=corp.corp_id)
    drain()
    assert sorted(t.tag.name for t in ProfileTag.objects.filter(profile=contact.profile)) == ["教育"]
    # a tag deleted in WeCom: the change_external_tag callback re-reads the library
    fake.tag_groups[0]["tag"] = [t for t in fake.tag_groups[0]["tag"] if t["name"] != "金融"]
    xml = (f"<xml><ToUserName>{corp.corp_id}</ToUserName><FromUserName>sys</FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType>event</MsgType><Event>change_external_tag</Event>"
           f"<Id>{created[0].tag_id}</Id><TagType>tag</TagType><ChangeType>delete</ChangeType></xml>")
    signed_post(Client(), corps.callback_path(corp), xml, corp_id=corp.corp_id)
    drain()
    assert CorpTag.objects.get(tag_id=created[0].tag_id).deleted


def test_the_adapter_keeps_the_port_promises(org, corp, fake, make_member):
    sync.sync_employees(corp)
    fake.scan(state="", external_userid="woA", userid="zhangsan")
    fake.scan(state="", external_userid="woB", userid="lisi")
    sync.run(SyncRun.objects.create(org_id=org.pk, corp=corp, kind="contacts").pk, org_id=org.pk)
    adapter = registry.adapter("wecom", org_id=org.pk)
    assert adapter.capabilities().broadcast and adapter.capabilities().max_attachments == 9
    content = MessageContent(text="新品上市", attachments=(Link(title="看看", url="https://example.com/new"),))
    first = adapter.send_direct(idempotency_key="k1", recipient=Recipient(address="woA"), content=content)
    assert first.results[0].status == SendStatus.ACCEPTED
    template = fake.templates[-1]
    assert (template["chat_type"], template["external_userid"], template["sender"]) == ("single", ["woA"],
                                                                                       "zhangsan")
    again = adapter.send_direct(idempotency_key="k1", recipient=Recipient(address="woA"), content=content)
    assert again == first and len(fake.templates) == 1
    with pytest.raises(IdempotencyConflict):
        adapter.send_direct(idempotency_key="k1", recipient=Recipient(address="woB"), content=content)
    # an employee gets an app message
    sent = adapter.send_direct(idempotency_key="k2", recipient=Recipient(address="lisi"),
                               content=MessageContent(text="有新客户"))
    assert sent.results[0].status == SendStatus.SENT
    assert fake.app_messages == [{"agentid": 1000002, "msgtype": "text", "text": {"content": "有新客户"},
                                  "touser": "lisi"}]
    # a Siyu user (how approvals and alerts address people): the corp member mapped to them, else unreachable
    member = make_member(org, "lisi@acme.example")
    Employee.objects.in_org(Actor.system(org.pk)).filter(corp=corp, userid="lisi").update(membership=member)
    sent = adapter.send_direct(idempotency_key="k3", recipient=Recipient(address=f"user:{member.user_id}"),
                               content=MessageContent(text="待审批"))
    assert sent.results[0].status == SendStatus.SENT and fake.app_messages[-1]["touser"] == "lisi"
    nobody = adapter.send_direct(idempotency_key="k4", recipient=Recipient(address="user:999999"),
                                 content=MessageContent(text="待审批"))
    assert (nobody.results[0].status, nobody.results[0].code) == (SendStatus.UNREACHABLE, "not_a_member")
    assert len(fake.app_messages) == 2
    # a broadcast: one task per sender; a customer without a live relation is unreachable
    result = adapter.broadcast(idempotency_key="b1", recipients=[Recipient("woA"), Recipient("woB"),
                                                                 Recipient("woGhost")], content=content)
    assert [r.status for r in result.results] == [SendStatus.ACCEPTED, SendStatus.ACCEPTED, SendStatus.UNREACHABLE]
    assert sorted(t["sender"] for t in fake.templates[1:]) == ["lisi", "zhangsan"]
    # contacts and tags through the port
    page = adapter.sync_contacts()
    addresses = {c.address for c in page.contacts}
    while page.next_cursor:
        page = adapter.sync_contacts(cursor=page.next_cursor)
        addresses |= {c.address for c in page.contacts}
    assert addresses == {"woA", "woB"}
    fake.add_tag_group("来源", ["展会"])
    assert [(g.name, [t.name for t in g.tags]) for g in adapter.sync_tags()] == [("来源", ["展会"])]


def test_adapter_without_a_corp_is_a_config_error(make_org):
    with pytest.raises(ChannelConfigError):
        registry.adapter("wecom", org_id=make_org("Nobody Co").org.pk)


def test_add_corp_command_prints_the_callback_url(org, monkeypatch):
    monkeypatch.setenv("SIYU_PUBLIC_URL", "https://siyu.example.com/")
    out = io.StringIO()
    call_command("wecom", "add-corp", "--org", str(org.pk), "--corp-id", "wwcli", "--token", "tok",
                 "--aes-key", AES_KEY, "--secret", "s", "--agent-id", "7", "--agent-secret", "as",
                 "--api-base", "http://127.0.0.1:9000/cgi-bin", stdout=out)
    corp = Corp.objects.get(corp_id="wwcli")
    assert out.getvalue().splitlines() == [f"corp=wwcli id={corp.pk}",
                                           f"callback_url=https://siyu.example.com/wecom/callback/{corp.callback_key}/"]
    assert (corp.api_base, corp.agent_id, encrypted.reveal(corp, "agent_secret")) == (
        "http://127.0.0.1:9000/cgi-bin/", 7, "as")
    with pytest.raises(CommandError, match="encoding_aes_key"):
        call_command("wecom", "add-corp", "--org", str(org.pk), "--corp-id", "wwcli2", "--token", "tok",
                     "--aes-key", "short", "--secret", "s")
    assert not Corp.objects.filter(corp_id="wwcli2").exists()
