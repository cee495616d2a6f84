"""Broadcast attachments (image, link, mini-program): written in the console form, checked field by field (422,
nothing written), shown on the broadcast's page, and handed to WeCom in ``add_msg_template``'s format — proven
over real HTTP against the simulator, which records what each customer received."""

from __future__ import annotations

import json

import pytest

from siyu.cdp import consent
from siyu.cdp.segments import services as segments
from siyu.channels.wecom.broadcasts import services
from siyu.channels.wecom.broadcasts.models import Broadcast
from siyu.channels.wecom.models import ExternalContact
from siyu.kernel.actor import Actor
from siyu.kernel.errors import ValidationFailed
from siyu.kernel.models import ScheduledAction

from .conftest import sim_rows

pytestmark = pytest.mark.django_db(transaction=False)

IMAGE = {"kind": "image", "url": "https://cdn.example.com/618.png"}
LINK = {"kind": "link", "title": "618 会场", "url": "https://shop.example.com/618", "description": "全场五折",
        "picture_url": "https://cdn.example.com/cover.png"}
MINI = {"kind": "miniprogram", "title": "会员中心", "appid": "wx8bd80126147dfAAA", "page": "pages/index?from=618",
        "picture_media_id": "MEDIA_COVER_1"}


def _form(corp, segment, *attachments, text="618 大促"):
    post = {"name": "618 附件", "text": text, "corp_id": corp.pk, "segment_id": segment.pk}
    for n, item in attachments:
        post.update({f"attachments-{n}-{k}": v for k, v in item.items()})
    return post


def test_attachments_reach_wecom(org, admin_actor, admin_membership, login_client, connected, sim, run_due):
    corp = connected(customers=3)
    consent.ensure_default_purposes(actor=admin_actor)
    contacts = list(ExternalContact.objects.in_org(Actor.system(org.pk)).select_related("profile"))
    for c in contacts:
        consent.record_consent(actor=admin_actor, profile=c.profile, purpose="marketing", granted=True,
                               source="test", channel="wecom")
    segment = segments.create_segment(actor=admin_actor, name="everyone", rules={"op": "and", "rules": []})
    client = login_client(admin_membership)
    # Slots 0, 2 and 5 filled: empty slots are skipped, the order is kept.
    made = client.post("/channels/wecom/broadcasts/new/", _form(corp, segment, (0, IMAGE), (2, LINK), (5, MINI)))
    assert made.status_code == 302, made.content.decode()[-2000:]
    broadcast = Broadcast.objects.get()
    assert broadcast.attachments == [IMAGE, LINK, MINI]
    page = client.get(f"/channels/wecom/broadcasts/{broadcast.pk}/").content.decode()
    for shown in ("https://cdn.example.com/618.png", "618 会场", "wx8bd80126147dfAAA", "MEDIA_COVER_1"):
        assert shown in page

    run_due()

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DONE
    templates = sim_rows(sim, "SELECT body FROM msg_templates")
    assert templates
    for row in templates:  # WeCom's own field names (content.to_wecom), in the author's order
        assert json.loads(row["body"]) == {"text": {"content": "618 大促"}, "attachments": [
            {"msgtype": "image", "image": {"pic_url": IMAGE["url"]}},
            {"msgtype": "link", "link": {"title": LINK["title"], "url": LINK["url"], "desc": LINK["description"],
                                         "picurl": LINK["picture_url"]}},
            {"msgtype": "miniprogram", "miniprogram": {"title": MINI["title"], "appid": MINI["appid"],
                                                       "page": MINI["page"], "pic_media_id": "MEDIA_COVER_1"}}]}
    received = sim_rows(sim, "SELECT receiver, msgtype, payload FROM messages WHERE kind = 'broadcast' ORDER BY seq")
    by_customer: dict[str, list[str]] = {}
    for r in received:
        by_customer.setdefault(r["receiver"], []).append(r["msgtype"])
    assert by_customer == {c.external_userid: ["text", "image", "link", "miniprogram"] for c in contacts}
    link = next(json.loads(r["payload"]) for r in received if r["msgtype"] == "link")
    assert link["url"] == LINK["url"] and link["title"] == LINK["title"]
    # The API reports the same broadcast and its results per employee.
    one = client.get(f"/api/v1/channels/wecom/broadcasts/{broadcast.pk}").json()
    assert one["attachments"] == [IMAGE, LINK, MINI] and one["counts"]["sent"] == 3
    per_employee = client.get(f"/api/v1/channels/wecom/broadcasts/{broadcast.pk}/employees").json()
    assert sum(r["sent"] for r in per_employee) == sum(r["total"] for r in per_employee) == 3


def test_bad_attachments_are_refused_per_field(org, admin_actor, admin_membership, login_client, connected):
    corp = connected(customers=1)
    segment = segments.create_segment(actor=admin_actor, name="everyone", rules={"op": "and", "rules": []})
    client = login_client(admin_membership)
    bad = client.post("/channels/wecom/broadcasts/new/", _form(
        corp, segment,
        (0, {"kind": "image", "url": "https://a.example/x.png", "media_id": "M1"}),  # both
        (1, {"kind": "link", "title": "t" * 129, "url": "javascript:alert(1)"}),
        (2, {"kind": "miniprogram", "title": "m", "appid": "wx1"}),  # no page, no cover
        (3, {"title": "no kind"})))
    assert bad.status_code == 422
    body = bad.content.decode()
    for field in ("attachments[0].url", "attachments[1].title", "attachments[1].url", "attachments[2].page",
                  "attachments[2].picture_media_id", "attachments[3].kind"):
        assert field in body, field
    assert 'id="att-1-title"' in body and "is-invalid" in body  # the slot's field is marked
    assert not Broadcast.objects.exists()
    assert not ScheduledAction.objects.filter(action="wecom.broadcast.plan").exists()


def test_limits_and_attachment_only(org, admin_actor, connected):
    corp = connected(customers=1)
    segment = segments.create_segment(actor=admin_actor, name="everyone", rules={"op": "and", "rules": []})
    data = {"name": "图", "corp_id": corp.pk, "segment_id": segment.pk}
    with pytest.raises(ValidationFailed) as too_many:
        services.create_broadcast(actor=admin_actor, data={**data, "text": "x", "attachments": [IMAGE] * 10})
    assert "attachments" in too_many.value.fields
    with pytest.raises(ValidationFailed) as empty:
        services.create_broadcast(actor=admin_actor, data={**data, "text": "", "attachments": []})
    assert list(empty.value.fields) == ["text"]
    assert not Broadcast.objects.exists()
    only = services.create_broadcast(actor=admin_actor, data={
        **data, "text": "", "attachments": [{"kind": "image", "media_id": "MEDIA_1"}] * 9})
    assert only.text == "" and len(only.attachments) == 9
