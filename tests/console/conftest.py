"""Console fixtures: a client signed in without the login form (iam's tests cover that form), compiled
catalogues so translated pages can be asserted when the tests run without ``make setup``, and the records the
browser gate opens detail pages with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import respx
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.db import transaction
from django.test import Client

from siyu.iam.models import UserSession
from siyu.kernel import clock
from siyu.kernel.actor import Actor

LOCALE = Path(__file__).resolve().parents[2] / "src" / "siyu" / "console" / "locale"


def compile_console_catalogue() -> None:
    """What ``make setup`` does (pybabel compile), for the console's catalogue when its .mo is missing or stale."""
    po = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    with po.open("rb") as f:
        catalog = read_po(f, locale="zh_Hans")
    with mo.open("wb") as f:
        write_mo(f, catalog)
    # Catalogues Django already loaded in this process would otherwise keep the stale text.
    from django.utils.translation import trans_real

    trans_real._translations.clear()
    trans_real._default = None


compile_console_catalogue()  # before Django loads any translation


def signed_in(membership, client: Client | None = None) -> Client:
    client = client or Client()
    client.force_login(membership.user)
    # The session policy ends sessions it has no server-side record of; write the record login would write.
    UserSession.objects.create(
        user=membership.user, session_key=client.session.session_key, last_seen_at=clock.now()
    )
    session = client.session
    session["org_id"] = membership.org_id
    session.save()
    return client


@pytest.fixture
def console_client(db):
    return signed_in


# --- records for the browser gate's detail pages ----------------------------------------------------------------


@dataclass
class DetailRecords:
    """What the browser gate fills path arguments with: ``ids`` by the word a route's ``<word_id>`` parameter
    (or, for a bare ``<pk>``, its URL name) uses, and ``texts`` by the name of a ``<str:…>`` parameter."""

    ids: dict[str, list[int]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture
def detail_records():
    """``seed(system, admin) -> DetailRecords``: one real record of each kind a console detail page
    shows, made through each context's public services (so every one is audited and as a person would see it).
    WeCom's side of the corp and the live code is the package's fake WeCom behind respx."""

    def seed(system: Actor, admin: Actor) -> DetailRecords:
        out = DetailRecords()
        # One transaction each, as a command opens them (services never commit; the browser gate's database is
        # a transactional one).
        with transaction.atomic():
            _sales(system, admin, out)
        with transaction.atomic():
            _customers(system, out)
        with transaction.atomic():
            _segments(system, out)
        _customer_import(system, out)
        with transaction.atomic():
            _wecom(system, out)
        if "official_account_callback" in {p.name for p in _url_patterns()}:
            with transaction.atomic():
                _official_account(system, out)
        return out

    return seed


def _url_patterns():
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns)
            elif isinstance(p, URLPattern):
                yield p

    return walk(get_resolver().url_patterns)


def _sales(system: Actor, admin: Actor, out: DetailRecords) -> None:
    import io

    import segno

    from siyu.sales import demo_data
    from siyu.sales.models.forms import WebForm
    from siyu.sales.services import activities, views

    out.ids.update(demo_data.seed_demo(system))
    out.texts["form_key"] = [WebForm.objects.in_org(system).get(pk=out.ids["form"][0]).key]
    visit = activities.create_activity(actor=system, data={
        "kind": "visit", "subject": "上门拜访 星河科技", "lead_id": out.ids["lead"][0], "address": "上海市浦东新区"})
    photo = io.BytesIO()
    segno.make("星河科技 门店").save(photo, kind="png", scale=4)  # any PNG will do as the check-in photo
    activities.attach_photo(actor=system, activity_id=visit.pk, content=photo.getvalue())
    out.ids["activity"] = [*out.ids.get("activity", []), visit.pk]
    saved = views.save_filter(actor=admin, object_key="sales.quote", name="我的报价", query="mine=1&sort=-total")
    out.ids["filter"] = [saved.pk]
    _commerce(system, admin.user_id, out)
    _bulk_job(admin, out)


def _bulk_job(admin: Actor, out: DetailRecords) -> None:
    """A finished bulk job (the administrator transferring a demo lead to themselves), for its page."""
    from siyu.sales.services import bulk

    job = bulk.start_bulk(actor=admin, kind="transfer", lead_ids=out.ids["lead"][:1],
                          params={"owner_id": admin.user_id})
    bulk.run_chunk(job.pk, 0)  # what its scheduled chunk does (that chunk then finds the job done)
    out.ids["bulk_job"] = [job.pk]


def _commerce(system: Actor, admin_user_id: int, out: DetailRecords) -> None:
    """One record of each commerce kind, ids by the kind's URL slug (the generic object pages take ``<slug>/<pk>``):
    an approved quote carried through contract, order, payment plan and receipt, and a quote over the discount
    limit waiting in the administrator's approval inbox."""
    from siyu.platform.approvals import services as approvals
    from siyu.sales.services.commerce import contracts, forecasts, orders, quotes

    today = clock.now().date()
    product = quotes.save_product(actor=system, data={"code": "SKU-ANNUAL", "name": "思域 年度订阅", "unit": "套",
                                                      "list_price": "10000.00"})
    book = quotes.save_price_book(actor=system, name="2026 渠道价", max_discount_percent="10",
                                  prices={product.pk: "9000.00"})
    process = approvals.create_process(
        actor=system, object_key="sales.quote", name="报价折扣审批 / Quote discount approval",
        conditions=[{"field": "max_line_discount", "op": "gt", "value": 10}],
        steps=[{"name": "销售总监", "mode": "any", "approvers": [{"kind": "user", "value": admin_user_id}]}])
    opportunity = out.ids["opportunity"][0]
    approved = quotes.create_quote(actor=system, data={
        "title": "星河科技 年度订阅报价", "customer_name": "星河科技", "opportunity_id": opportunity,
        "price_book_id": book.pk, "lines": [{"product_id": product.pk, "quantity": "12"},
                                            {"name": "上线实施服务", "unit_price": "8000.00"}]})
    quotes.submit_quote(actor=system, quote_id=approved.pk)  # no process matches: approved at once
    pending = quotes.create_quote(actor=system, data={
        "title": "星河科技 扩容报价", "customer_name": "星河科技", "opportunity_id": opportunity,
        "lines": [{"product_id": product.pk, "quantity": "5", "discount_percent": "15"}]})
    request = quotes.submit_quote(actor=system, quote_id=pending.pk, comment="折扣超过 10%，请审批")
    contract = contracts.create_contract(actor=system, data={
        "title": "星河科技 年度订阅合同", "quote_id": approved.pk, "starts_on": today,
        "ends_on": today + dt.timedelta(days=365), "signed_on": today})
    contracts.submit_contract(actor=system, contract_id=contract.pk)
    order = orders.create_order_from_contract(actor=system, contract_id=contract.pk, ordered_on=today)
    plan = orders.add_payment_plan(actor=system, due_on=today, amount="50000.00", contract_id=contract.pk)
    receipt = orders.record_receipt(actor=system, plan_id=plan.pk, amount="30000.00", received_on=today,
                                    method="银行转账", reference="HX20260001")
    target = forecasts.set_target(actor=system, period=forecasts.current_period(), amount="500000.00", count=5,
                                  user_id=admin_user_id)
    out.ids.update({"process": [process.pk], "quote": [pending.pk], "request": [request.pk], "products": [product.pk],
                    "price-books": [book.pk], "quotes": [approved.pk], "contracts": [contract.pk],
                    "orders": [order.pk], "payment-plans": [plan.pk], "receipts": [receipt.pk],
                    "targets": [target.pk]})
    out.texts["slug"] = ["products", "price-books", "quotes", "contracts", "orders", "payment-plans", "receipts",
                         "targets"]


def _customers(system: Actor, out: DetailRecords) -> None:
    from siyu.cdp import profiles
    from siyu.cdp.models import Identity, MergeLog

    def person(name: str, **ids: str) -> profiles.Written:
        return profiles.create_profile(actor=system, data={"name": name, "province": "上海", "city": "上海"},
                                       identifiers=[{"type": t, "value": v} for t, v in ids.items()])

    shown = person("王小明", phone="13800001111", unionid="oUnionWang").profile
    tag = profiles.tag_profile(actor=system, profile_id=shown.pk, tags=[("价值", "VIP")])[0]
    identity = Identity.objects.in_org(system).filter(profile=shown).order_by("pk").first()
    # Two profiles that share a phone each but carry different unionids: joining them waits for a review.
    person("李小红", phone="13800002222", unionid="oUnionLi")
    review = profiles.create_profile(actor=system, data={"name": "王小明"}, identifiers=[
        {"type": "phone", "value": "13800001111"}, {"type": "phone", "value": "13800002222"}]).review_id
    # Two profiles that one create joins: a merge the log can undo.
    person("赵强", phone="13800003333")
    person("赵强", email="zhao.qiang@example.cn")
    person("赵强", phone="13800003333", email="zhao.qiang@example.cn")
    merge = MergeLog.objects.in_org(system).order_by("-pk").values_list("pk", flat=True).first()
    out.ids.update(profile=[shown.pk], tag=[tag.pk], identity=[identity.pk], review=[review], merge=[merge])


def _segments(system: Actor, out: DetailRecords) -> None:
    """A segment with a persona, and an event source (the segment's events come from sources)."""
    from siyu.cdp.ingest import sources
    from siyu.cdp.segments import services as segments

    segment = segments.create_segment(actor=system, name="上海客户", description="省份为上海的客户", rules={
        "op": "and", "rules": [{"type": "attribute", "field": "province", "op": "eq", "value": "上海"}]})
    persona = segments.create_persona(actor=system, data={
        "name": "都市白领", "description": "25–35 岁，上海，关注新品", "segment_id": segment.pk})
    out.ids.update(segment=[segment.pk], persona=[persona.pk])
    out.texts["trait"] = ["gender"]
    source, _key = sources.create_source(actor=system, name="官网 JavaScript SDK")
    out.ids["source"] = [source.pk]


def _customer_import(system: Actor, out: DetailRecords) -> None:
    """A finished import with one rejected row, so its page, progress and error report all have something."""
    from siyu.cdp.importing import runner
    from siyu.cdp.importing import services as imports

    csv = "姓名,手机\n周杰,13900001111\n吴敏,13900002222\n坏行,not-a-phone\n".encode()
    with transaction.atomic():
        job = imports.create_import(actor=system, file_name="展会名单.csv", chunks=[csv])
        imports.save_mapping(actor=system, job_id=job.pk,
                             mapping={"columns": {"姓名": "name", "手机": "identifier:phone"}})
        imports.start_import(actor=system, job_id=job.pk)
    runner.run_job(actor=system, job_id=job.pk)  # what the worker does: it commits chunk by chunk
    out.ids["job"] = [job.pk]


def _wecom(system: Actor, out: DetailRecords) -> None:
    """A corp connected to the fake WeCom (its employees synced), a live code, a customer group, an external
    contact who joined the group and added an employee, a broadcast to a segment, and conversation archive settings
    with a sensitive word."""
    from siyu.channels.wecom import corps, grouplivecodes, groups, livecodes, sync
    from siyu.channels.wecom.archive import services as archive
    from siyu.channels.wecom.broadcasts import services as broadcasts
    from siyu.channels.wecom.models import ExternalContact
    from siyu.channels.wecom.testing import AES_KEY, API_BASE, TOKEN, FakeWeCom, ok

    fake = FakeWeCom()
    fake.add_employee("zhangmin", "张敏")
    fake.add_employee("liuyang", "刘洋")
    now = int(clock.now().timestamp())
    group = {"chat_id": "wrDemoGroup0001", "name": "星河科技 VIP 客户群", "owner": "zhangmin", "create_time": now,
             "notice": "欢迎加入", "member_version": "v1", "member_list": [
                 {"userid": "zhangmin", "type": 1, "join_time": now, "join_scene": 1},
                 {"userid": "wmDemoCustomer0001", "type": 2, "join_time": now, "join_scene": 3, "name": "陈先生",
                  "unionid": "oUnionChen"}]}
    with respx.mock(assert_all_called=False) as mock:
        # The fake has no customer groups: WeCom's answer to groupchat/get, as the protocol document gives it.
        mock.post(url__regex=r"/externalcontact/groupchat/get\b").mock(return_value=ok(group_chat=group))
        # Nor join ways: WeCom's answers to groupchat/add_join_way and get_join_way.
        mock.post(url__regex=r"/externalcontact/groupchat/add_join_way\b").mock(
            return_value=ok(config_id="9ad7fa5cdaa6511298498f979c472aaa"))
        mock.post(url__regex=r"/externalcontact/groupchat/get_join_way\b").mock(return_value=ok(join_way={
            "config_id": "9ad7fa5cdaa6511298498f979c472aaa", "scene": 2,
            "qr_code": "http://p.qpic.cn/wwhead/demo-group-code", "chat_id_list": [group["chat_id"]]}))
        mock.route(host="wecom.test").mock(side_effect=fake.handle)
        corp = corps.add_corp(actor=system, data={
            "corp_id": fake.corp_id, "secret": fake.secret, "callback_token": TOKEN, "encoding_aes_key": AES_KEY,
            "api_base": API_BASE, "name": "示例科技"})
        sync.sync_employees(corp)
        code = livecodes.create_live_code(actor=system, corp_pk=corp.pk, data={
            "name": "门店活码", "channel_label": "上海门店", "members": [{"userid": "zhangmin", "weight": 2},
                                                                   {"userid": "liuyang"}]})
        chat, _ = groups.refresh_group(corp, group["chat_id"])
        # The group's customer also added 张敏 through the live code: a contact with a follow relation, as the
        # contact sync records it.
        fake.scan(state=code.state, external_userid="wmDemoCustomer0001", name="陈先生", unionid="oUnionChen",
                  userid="zhangmin")
        contact_sync = sync.start_sync(actor=system, corp_pk=corp.pk, kind="contacts")
        assert sync.run(contact_sync.pk, org_id=system.org_id).status == "done", "the contact sync failed"
        group_code = grouplivecodes.create_group_code(actor=system, corp_pk=corp.pk, data={
            "name": "VIP 群活码", "chat_ids": [group["chat_id"]]})
    broadcast = broadcasts.create_broadcast(actor=system, data={
        "name": "双十一活动通知", "text": "双十一全场八折，点击了解详情", "corp_id": corp.pk,
        "segment_id": out.ids["segment"][0], "scheduled_at": clock.now() + dt.timedelta(days=1),
        "attachments": [{"kind": "image", "url": "https://cdn.example.com/promotions/2026/double-eleven/banner-750x1334.png"},
                        {"kind": "link", "title": "双十一会场", "url": "https://shop.example.com/activities/1111?from=wecom",
                         "description": "全场八折，会员再享九五折"},
                        {"kind": "miniprogram", "title": "会员中心", "appid": "wx8bd80126147dfAAA",
                         "page": "pages/member/index?from=broadcast", "picture_media_id": "MEDIA_COVER_1111"}]})
    config = archive.save_config(actor=system, corp_pk=corp.pk, data={
        "secret": "archive-secret", "retention_days": 180, "reply_timeout_minutes": 30, "work_start": "09:00",
        "work_end": "18:00", "work_days": [1, 2, 3, 4, 5]})
    word = archive.add_word(actor=system, word="返现")
    out.texts["kind"] = ["png"]
    contact = ExternalContact.objects.in_org(system).get(corp=corp, external_userid="wmDemoCustomer0001")
    out.ids.update(corp=[corp.pk], code=[code.pk, group_code.pk], group=[chat.pk], broadcast=[broadcast.pk], config=[config.pk],
                   rule=[*out.ids.get("rule", []), word.pk], contact=[contact.pk])
    out.texts["callback_key"] = [corp.callback_key]


def _official_account(system: Actor, out: DetailRecords) -> None:
    from siyu.channels.official_account import accounts
    from siyu.channels.wecom.testing import AES_KEY, TOKEN

    account = accounts.add_account(actor=system, data={
        "appid": "wxdemoapp000001", "name": "思域示例服务号", "secret": "oa-secret", "callback_token": TOKEN,
        "encoding_aes_key": AES_KEY})
    out.texts["callback_key"] = [*out.texts.get("callback_key", []), account.callback_key]
