"""The conversation archive end to end against the simulator: ingestion by seq cursor only for customers who
agreed (the CDP ledger decides, including a withdrawal after the agreement), encrypted storage, the timeline
entry without content, sensitive-word and reply-timeout alerts, retention, and who may read a conversation."""

from __future__ import annotations

import datetime as dt

import pytest

from siyu.audit.models import AuditLogEntry
from siyu.cdp import consent
from siyu.cdp.models import TimelineEntry
from siyu.channels.wecom.archive import alerts, purge, services
from siyu.channels.wecom.archive.ingest import content_of, ingest
from siyu.channels.wecom.archive.models import ArchiveAlert, ArchivedMessage
from siyu.channels.wecom.models import ExternalContact
from siyu.channels.wecom.simulator import actions
from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.models import ScheduledAction

pytestmark = pytest.mark.django_db

ALL_DAY = {"retention_days": "30", "reply_timeout_minutes": "30", "work_start": "00:00", "work_end": "23:59",
           "work_days": ["1", "2", "3", "4", "5", "6", "7"], "source": "simulator"}


@pytest.fixture
def config(admin_actor, corp, sim_corp):
    return services.save_config(actor=admin_actor, corp_pk=corp.pk, data={**ALL_DAY, "secret": sim_corp.msgaudit_secret})


def _contacts(org):
    return list(ExternalContact.objects.in_org(Actor.system(org.pk)).select_related("profile").order_by("external_userid"))


def test_only_consenting_customers_are_archived_encrypted(org, admin_actor, sim, sim_corp, config):
    a, b, c = _contacts(org)
    say = lambda who, text, sender="customer": actions.message(  # noqa: E731
        sim.sim, corp_id=sim_corp.corp_id, external_userid=who.external_userid, text=text, sender=sender)
    actions.agree(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid)
    actions.agree(sim.sim, corp_id=sim_corp.corp_id, external_userid=c.external_userid)
    say(a, "你好，我想问一下价格")
    say(a, "您好，这款 299 元", sender="employee")
    say(b, "b never agreed: WeCom does not archive this")
    say(c, "c agreed in WeCom")
    services.add_word(actor=admin_actor, word="加微信")
    say(a, "可以加微信吗？")

    counts = ingest(config)
    assert counts["consent"] == 2 and counts["stored"] == 4
    stored = list(ArchivedMessage.objects.order_by("seq"))
    assert [(m.profile_id, m.direction) for m in stored] == [
        (a.profile_id, "in"), (a.profile_id, "out"), (c.profile_id, "in"), (a.profile_id, "in")]
    assert all(m.content.startswith("v1:") and "价格" not in m.content for m in stored)
    assert content_of(stored[0]) == {"content": "你好，我想问一下价格"}
    # The agreement from WeCom's stream is in the CDP ledger.
    assert consent.may_contact(actor=admin_actor, profile=a.profile, purpose="conversation_archive",
                               channel="wecom").allowed
    # Timeline: one entry per message, no content in it.
    entries = TimelineEntry.objects.filter(profile=a.profile, kind="wecom.chat_message")
    assert entries.count() == 3
    assert all("价格" not in str(e.data) and "微信" not in str(e.data) for e in entries)
    # Sensitive word: one alert, naming the word, on a's last message.
    alert = ArchiveAlert.objects.get(kind="sensitive_word")
    assert (alert.detail, alert.profile_id) == ("加微信", a.profile_id)

    # The customer withdraws in Siyu (e.g. a data-subject request): nothing more of theirs is archived.
    consent.record_consent(actor=admin_actor, profile=c.profile, purpose="conversation_archive", granted=False,
                           source="dsr", channel="wecom", at=clock.now())
    say(c, "after the withdrawal")
    say(a, "still archived")
    counts = ingest(config)
    assert (counts["stored"], counts["no_consent"]) == (1, 1)
    # The cursor moved on: a further run finds nothing, nothing is stored twice.
    assert sum(ingest(config).values()) == 0
    assert ArchivedMessage.objects.count() == 5


def test_reply_timeout_alerts_employee_and_manager(org, admin_actor, sim, sim_corp, config):
    a, b, _ = _contacts(org)
    for who in (a, b):
        actions.agree(sim.sim, corp_id=sim_corp.corp_id, external_userid=who.external_userid)
    actions.message(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid, text="在吗？")
    actions.message(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid, text="在吗？？")
    actions.message(sim.sim, corp_id=sim_corp.corp_id, external_userid=b.external_userid, text="hello")
    actions.message(sim.sim, corp_id=sim_corp.corp_id, external_userid=b.external_userid, text="hi!",
                    sender="employee")
    ingest(config)
    checks = ScheduledAction.objects.filter(action=alerts.REPLY_CHECK)
    assert checks.count() == 2  # a's first unanswered message, b's message; not a's second
    first_a = ArchivedMessage.objects.filter(profile=a.profile).order_by("seq").first()
    row = checks.get(key=alerts.reply_check_key(first_a))
    assert row.due_at == first_a.msgtime + dt.timedelta(minutes=30)
    checks.update(due_at=clock.now())
    scheduled.run_due()
    alert = ArchiveAlert.objects.get(kind="reply_timeout")
    assert alert.profile_id == a.profile_id and alert.message_id == first_a.pk
    assert not ArchiveAlert.objects.filter(kind="reply_timeout", profile=b.profile).exists()


def test_retention_purges_old_messages(org, admin_actor, sim, sim_corp, config):
    a, *_ = _contacts(org)
    actions.agree(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid)
    for text in ("one", "two"):
        actions.message(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid, text=text)
    ingest(config)
    old = ArchivedMessage.objects.order_by("seq").first()
    ArchivedMessage.objects.filter(pk=old.pk).update(msgtime=clock.now() - dt.timedelta(days=31))
    assert purge.purge(config) == 1
    assert list(ArchivedMessage.objects.values_list("pk", flat=True)) != [old.pk]
    assert ArchivedMessage.objects.count() == 1


def test_who_may_read_a_conversation(org, admin_actor, admin_membership, make_member, make_org, login_client, sim,
                                     sim_corp, config):
    a, *_ = _contacts(org)
    actions.agree(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid)
    actions.message(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid, text="秘密内容")
    ingest(config)
    url = f"/channels/wecom/archive/customers/{a.profile_id}/"
    page = login_client(admin_membership).get(url)
    assert page.status_code == 200 and "秘密内容" in page.content.decode()
    no_perm = make_member(org, "sales@acme.example", permissions=("cdp.*",))
    assert login_client(no_perm).get(url).status_code == 403
    assert login_client(make_org("Other")).get(url).status_code == 404
    # One audit entry per reading; the refused attempts read nothing.
    readings = AuditLogEntry.objects.unscoped_all_orgs().filter(action="read", object_type="channels.archive_conversation")
    assert list(readings.values_list("object_id", "actor_user_id")) == [(str(a.profile_id), admin_membership.user_id)]
    overview = login_client(admin_membership).get("/channels/wecom/archive/")
    assert overview.status_code == 200 and "秘密内容" not in overview.content.decode()
    # On the 360° timeline: the entry, never its content; the way to read it only for those allowed to.
    profile_page = login_client(admin_membership).get(f"/customers/profiles/{a.profile_id}/").content.decode()
    assert "秘密内容" not in profile_page and f'href="{url}" data-testid="cdp-timeline-link"' in profile_page
    # a colleague who sees the customer (organisation scope) but may not read archived chats
    no_perm = make_member(org, "ops@acme.example", permissions=("cdp.*",), scope=DataScope.ORGANIZATION)
    other_page = login_client(no_perm).get(f"/customers/profiles/{a.profile_id}/")
    assert other_page.status_code == 200 and "cdp-timeline-link" not in other_page.content.decode()
    api = login_client(admin_membership).get(f"/api/v1/cdp/profiles/{a.profile_id}/timeline").json()["items"]
    assert [i["link"] for i in api if i["kind"] == "wecom.chat_message"] == [url]
    api = login_client(no_perm).get(f"/api/v1/cdp/profiles/{a.profile_id}/timeline").json()["items"]
    assert [i["link"] for i in api if i["kind"] == "wecom.chat_message"] == [None]


def test_alerts_reach_the_employee_and_their_manager_as_wecom_app_messages(
        org, admin_actor, make_member, sim, sim_corp, corp, config):
    from siyu.channels.wecom import corps, sync
    from siyu.channels.wecom.archive import notify
    from siyu.channels.wecom.archive.events import ArchiveAlertRaised
    from siyu.channels.wecom.models import Employee
    from siyu.channels.wecom.simulator import state
    from siyu.iam import services as iam
    from siyu.kernel import outbox

    state.add_employee(sim.store, sim_corp.corp_id, userid="lisi", name="李四", department=[1])
    corps.update_corp(actor=admin_actor, corp_pk=corp.pk,
                      data={"agent_id": sim_corp.agent_id, "agent_secret": sim_corp.agent_secret})
    corp.refresh_from_db()
    sync.sync_employees(corp)
    boss = make_member(org, "boss@acme.example")
    team = iam.add_department(actor=admin_actor, name="华东销售", parent=None, manager=boss.user_id)
    rep = make_member(org, "rep@acme.example", department=team)
    # Sync maps a member by mobile or e-mail (tested with the sync); here the two are linked directly.
    employees = Employee.objects.in_org(admin_actor).filter(corp=corp)
    employees.filter(userid="zhangsan").update(membership=rep)
    employees.filter(userid="lisi").update(membership=boss)

    a, *_ = _contacts(org)
    actions.agree(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid)
    services.add_word(actor=admin_actor, word="返现")
    actions.message(sim.sim, corp_id=sim_corp.corp_id, external_userid=a.external_userid, text="能返现吗")
    ingest(config)
    alert = ArchiveAlert.objects.get(kind="sensitive_word")
    assert alert.notify_user_ids == [rep.user_id, boss.user_id]
    outbox.dispatch_pending()
    # A redelivery (a worker that died after WeCom answered, before the outbox recorded the handler as done) runs
    # the handler again: the adapter's send-once ledger sends nothing twice.
    notify.announce(ArchiveAlertRaised(org_id=org.pk, alert_id=alert.pk, kind=alert.kind,
                                       notify_user_ids=alert.notify_user_ids))
    with sim.store.tx() as db:
        sent = db.execute("SELECT touser, payload FROM app_messages ORDER BY created_at").fetchall()
    assert sorted(row[0] for row in sent) == ["lisi", "zhangsan"]
    assert all("返现" in row[1] and "能返现吗" not in row[1] for row in sent)  # the word, never the chat
