"""Tags, consent, lifecycle (and the organisation's stage model), the timeline, merge reviews and unmerge
through the API."""

from __future__ import annotations

import time_machine

from siyu.audit.models import AuditLogEntry
from siyu.cdp.identifiers import normalise
from siyu.cdp.models import LifecycleStageDefinition, MergeReview, Profile, ProfileStatus, TimelineEntry
from siyu.cdp.resolution import resolve_profile

BASE = "/api/v1/cdp"


def new(send, api, **body):
    r = send(api, "post", f"{BASE}/profiles", {"name": "客户", **body})
    assert r.status_code == 201, r.content
    return r.json()["profile"]["id"]


def test_tags_add_and_remove_with_history_and_reserved_groups(api, send, api_client, org, admin_actor):
    pid = new(send, api)
    r = send(api, "post", f"{BASE}/profiles/{pid}/tags", {"tags": [{"group": "价值", "name": "VIP"},
                                                                   {"group": "兴趣", "name": "直播"}]})
    assert [(t["group"], t["name"]) for t in r.json()] == [("价值", "VIP"), ("兴趣", "直播")]
    vip = r.json()[0]["id"]
    # someone without cdp.tag.manage may use existing tags but not invent new ones
    rep = api_client(org, scopes=["cdp.profile.read", "cdp.profile.update"])
    assert send(rep, "post", f"{BASE}/profiles/{pid}/tags", {"tags": [{"group": "新组", "name": "新"}]}).status_code == 403
    assert send(rep, "post", f"{BASE}/profiles/{pid}/tags", {"tags": [{"group": "价值", "name": "VIP"}]}
                ).status_code == 200
    assert send(rep, "post", f"{BASE}/profiles/{pid}/tags", {"tags": []}).status_code == 422
    from siyu.cdp import tags

    wecom = tags.get_or_create_tag(actor=admin_actor, group="企微标签", name="意向", kind="channel", channel="wecom")
    r = send(api, "post", f"{BASE}/profiles/{pid}/tags", {"tags": [{"group": wecom.group.name, "name": wecom.name}]})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["tags"])
    assert api.delete(f"{BASE}/profiles/{pid}/tags/{vip}").status_code == 204
    assert api.delete(f"{BASE}/profiles/{pid}/tags/{vip}").status_code == 404
    assert [t["name"] for t in api.get(f"{BASE}/profiles/{pid}/tags").json()] == ["直播"]
    kinds = [i["kind"] for i in api.get(f"{BASE}/profiles/{pid}/timeline").json()["items"]]
    assert kinds == ["tag.removed", "tag.added", "tag.added", "profile.created"]


def test_consent_grant_withdraw_status_and_history(api, send, org):
    pid = new(send, api)
    with time_machine.travel("2026-01-01 10:00 +0800"):
        r = send(api, "post", f"{BASE}/profiles/{pid}/consent", {"purpose": "marketing", "granted": True,
                                                                  "source": "web_form", "notice_version": "v2",
                                                                  "evidence": {"form": "signup"}})
        assert r.status_code == 201, r.content
    with time_machine.travel("2026-02-01 10:00 +0800"):
        send(api, "post", f"{BASE}/profiles/{pid}/consent", {"purpose": "marketing", "granted": False,
                                                             "channel": "wecom", "source": "wecom_keyword"})
    body = api.get(f"{BASE}/profiles/{pid}/consent").json()
    marketing = {s["channel"]: s["granted"] for s in body["status"] if s["purpose"] == "marketing"}
    assert marketing == {"": True, "wecom": False, "official_account": True, "sms": True, "email": True}
    assert [s["granted"] for s in body["status"] if s["purpose"] == "profiling"] == [None]
    assert [(h["channel"], h["granted"], h["source"]) for h in body["history"]] == [
        ("wecom", False, "wecom_keyword"), ("", True, "web_form")]
    assert body["history"][1]["notice_version"] == "v2" and body["history"][1]["evidence"] == {"form": "signup"}
    r = send(api, "post", f"{BASE}/profiles/{pid}/consent", {"purpose": "nope", "granted": True})
    assert (r.status_code, list(r.json()["fields"])) == (422, ["purpose"])
    actions = set(AuditLogEntry.objects.filter(org_id=org.pk, object_id=str(pid)).values_list("action", flat=True))
    assert {"consent.grant", "consent.withdraw"} <= actions
    assert [p["key"] for p in api.get(f"{BASE}/consent-purposes").json()] == [
        "marketing", "profiling", "conversation_archive", "sensitive"]


def test_lifecycle_set_and_history_and_configurable_stages(api, send, org):
    pid = new(send, api)
    with time_machine.travel("2026-03-01 09:00 +0800"):
        assert send(api, "put", f"{BASE}/profiles/{pid}/lifecycle", {"stage": "acquisition"}).status_code == 200
    with time_machine.travel("2026-03-05 09:00 +0800"):
        r = send(api, "put", f"{BASE}/profiles/{pid}/lifecycle", {"stage": "opportunity"})
    body = r.json()
    assert body["stage"] == "opportunity"
    assert [(h["stage"], h["entered_at"][:10], (h["exited_at"] or "")[:10]) for h in body["history"]] == [
        ("acquisition", "2026-03-01", "2026-03-05"), ("opportunity", "2026-03-05", "")]
    assert send(api, "put", f"{BASE}/profiles/{pid}/lifecycle", {"stage": "moon"}).status_code == 422
    stages = api.get(f"{BASE}/lifecycle-stages").json()
    assert [s["key"] for s in stages] == ["acquisition", "nurturing", "opportunity", "order", "service", "repurchase"]
    # rename and reorder, add one, drop an unused one
    new_list = [{"key": "nurturing", "label": "培育"}, {"key": "acquisition", "label": "获客"},
                {"key": "opportunity", "label": "商机"}, {"key": "order", "label": "成交"},
                {"key": "service", "label": "服务"}, {"key": "vip", "label": "大客户"}]
    r = send(api, "put", f"{BASE}/lifecycle-stages", {"stages": new_list})
    assert r.status_code == 200, r.content
    assert [(s["key"], s["label"], s["order"]) for s in r.json()] == [
        (s["key"], s["label"], n) for n, s in enumerate(new_list)]
    # a stage that profiles have been in cannot be dropped; bad keys are named
    r = send(api, "put", f"{BASE}/lifecycle-stages", {"stages": [{"key": "order", "label": "x"},
                                                                 {"key": "Bad Key", "label": "x"}]})
    assert r.status_code == 422
    assert set(r.json()["fields"]) == {"stages", "stages.1.key"}
    assert LifecycleStageDefinition.objects.filter(org=org).count() == 6


def test_timeline_pages_newest_first_with_kind_labels(api, send, admin_actor):
    pid = new(send, api)
    profile = Profile.objects.get(pk=pid)
    from siyu.cdp.timeline import add_entry

    with time_machine.travel("2026-01-01 00:00 +0800", tick=False) as t:
        for n in range(25):
            t.shift(60)
            add_entry(profile=profile, kind="event", data={"name": f"Page {n}"})
    seen, cursor = [], None
    while True:
        r = api.get(f"{BASE}/profiles/{pid}/timeline?limit=10" + (f"&cursor={cursor}" if cursor else ""))
        body = r.json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 26
    events = [i for i in seen if i["kind"] == "event"]
    assert [i["summary"] for i in events] == [f"Page {n}" for n in reversed(range(25))]
    assert (events[0]["label"], events[0]["icon"]) == ("Event", "bi-lightning")
    assert [i["at"] for i in seen] == sorted((i["at"] for i in seen), reverse=True)


def _conflicting_pair(actor):
    """Two customers with different unionids whose phones a third record joins: the guard queues a review."""
    a = resolve_profile(actor=actor, identifiers=[normalise("phone", "13800001111"), normalise("unionid", "uA")]).profile
    b = resolve_profile(actor=actor, identifiers=[normalise("phone", "13800002222"), normalise("unionid", "uB")]).profile
    res = resolve_profile(actor=actor, identifiers=[normalise("phone", "13800001111"), normalise("phone", "13800002222")])
    assert res.review is not None
    return a, b, res.review


def test_merge_review_approve_merges_and_unmerge_restores(api, send, admin_actor, org):
    a, b, review = _conflicting_pair(admin_actor)
    items = api.get(f"{BASE}/merge-reviews").json()["items"]
    assert [(i["id"], i["profiles"], i["reason"]) for i in items] == [(review.pk, [a.pk, b.pk], "conflicting_unionid")]
    assert items[0]["identifiers"] == [["phone", "138****1111"], ["phone", "138****2222"]]
    r = api.post(f"{BASE}/merge-reviews/{review.pk}/approve")
    assert (r.status_code, r.json()["status"]) == (200, "approved")
    assert Profile.objects.get(pk=b.pk).status == ProfileStatus.MERGED
    assert api.post(f"{BASE}/merge-reviews/{review.pk}/approve").status_code == 409
    assert api.get(f"{BASE}/merge-reviews").json()["items"] == []
    merges = api.get(f"{BASE}/merges").json()["items"]
    assert [(m["survivor_id"], m["merged_id"], m["undone_at"]) for m in merges] == [(a.pk, b.pk, None)]
    assert api.get(f"{BASE}/profiles/lookup?type=phone&value=13800002222").json()["id"] == a.pk
    r = api.post(f"{BASE}/merges/{merges[0]['id']}/unmerge")
    assert r.status_code == 200 and r.json()["undone_at"]
    assert Profile.objects.get(pk=b.pk).status == ProfileStatus.ACTIVE
    assert api.get(f"{BASE}/profiles/lookup?type=phone&value=13800002222").json()["id"] == b.pk
    assert api.post(f"{BASE}/merges/{merges[0]['id']}/unmerge").status_code == 409
    assert TimelineEntry.objects.filter(profile_id=a.pk, kind="profile.unmerged").count() == 1
    decided = AuditLogEntry.objects.filter(org_id=org.pk, object_type="cdp.merge_review").get()
    assert decided.action == "approve"


def test_merge_review_reject_and_outsiders(api, api_client, make_org, admin_actor, cdp_state):
    a, b, review = _conflicting_pair(admin_actor)
    other = api_client(make_org("Bravo").org)
    before = cdp_state()
    assert other.post(f"{BASE}/merge-reviews/{review.pk}/approve").status_code == 404
    assert other.post(f"{BASE}/merge-reviews/{review.pk}/reject").status_code == 404
    assert other.get(f"{BASE}/merge-reviews").json()["items"] == []
    assert cdp_state() == before
    r = api.post(f"{BASE}/merge-reviews/{review.pk}/reject")
    assert (r.status_code, r.json()["status"]) == (200, "rejected")
    assert MergeReview.objects.get(pk=review.pk).decided_at is not None
    assert Profile.objects.filter(pk__in=[a.pk, b.pk], status=ProfileStatus.ACTIVE).count() == 2
    assert [i["id"] for i in api.get(f"{BASE}/merge-reviews?status=rejected").json()["items"]] == [review.pk]
