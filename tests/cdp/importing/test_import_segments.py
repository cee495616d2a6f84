"""An import keeps segment membership and name search in step by itself: one ``ProfilesChanged`` per committed
chunk (never per row), refreshed by the outbox dispatcher's handler to what a full recompute gives; the names it
writes (new profiles, filled blanks, rows through resolution) are searchable at once."""

from __future__ import annotations

from django.db import transaction
from import_support import csv_bytes

from siyu.cdp import profiles, search
from siyu.cdp.models import Profile, Segment, SegmentMembership
from siyu.cdp.segments import membership, services
from siyu.kernel import outbox as outbox_dispatcher
from siyu.kernel.actor import Actor
from siyu.kernel.models import OutboxMessage


def dispatch() -> None:
    outbox_dispatcher.dispatch_pending()
    assert not list(outbox_dispatcher.failed()), [m.last_error for m in outbox_dispatcher.failed()]


def names(actor, q) -> set[str]:
    return set(search.name_matches(Profile.objects.in_org(actor), q).values_list("name", flat=True))


def test_an_import_refreshes_segments_once_per_chunk_and_indexes_names(admin_actor, make_job, run_import):
    system = Actor.system(admin_actor.org_id)
    with transaction.atomic():
        vip = profiles.ensure_tag(actor=admin_actor, group="导入", name="VIP")
        shanghai_vip = services.create_segment(actor=admin_actor, name="shanghai vip", rules={"op": "and", "rules": [
            {"type": "attribute", "field": "city", "op": "eq", "value": "上海"},
            {"type": "tag", "tag_ids": [vip.pk]}]})
        # existing customers: one to fill (fast path), two that one row joins (slow path: a merge)
        blank = profiles.create_profile(actor=admin_actor, data={},
                                        identifiers=[{"type": "phone", "value": "13700000001"}]).profile
        x = profiles.create_profile(actor=admin_actor, data={},
                                    identifiers=[{"type": "phone", "value": "13700000002"}]).profile
        y = profiles.create_profile(actor=admin_actor, data={"city": "上海"},
                                    identifiers=[{"type": "email", "value": "y@example.cn"}]).profile
    dispatch()
    OutboxMessage.objects.all().delete()
    rows = [
        ["王小明", "13800138001", "", "", "", "上海", "VIP", ""],       # chunk 1: new, a member
        ["赵敏", "13800138002", "", "", "", "北京", "VIP", ""],         # chunk 1: new, not (city)
        ["钱多多", "13700000001", "", "", "", "上海", "VIP", ""],       # chunk 2: fills the blank profile
        ["孙悟空", "13700000002", "y@example.cn", "", "", "上海", "VIP", ""],  # chunk 2: merges x and y
    ]
    job = make_job(admin_actor, csv_bytes(rows))
    run_import(admin_actor, job, chunk_rows=2)
    messages = [m.payload for m in OutboxMessage.objects.filter(topic="cdp.ProfilesChanged").order_by("pk")]
    assert [m["reason"] for m in messages] == ["import", "import"]  # one per chunk
    new = dict(Profile.objects.in_org(system).filter(name__in=["王小明", "赵敏"]).values_list("name", "pk"))
    assert messages[0]["profile_ids"] == sorted(new.values())
    assert set(messages[1]["profile_ids"]) >= {blank.pk, x.pk, y.pk}
    assert not SegmentMembership.objects.exists()  # nothing evaluated inside the import's transactions
    dispatch()
    survivor = Profile.objects.in_org(system).get(pk__in=[x.pk, y.pk], status="active")
    assert set(SegmentMembership.objects.filter(segment=shanghai_vip).values_list("profile_id", flat=True)) == {
        new["王小明"], blank.pk, survivor.pk}
    assert {m.payload["profile_id"] for m in OutboxMessage.objects.filter(topic="cdp.SegmentEntered")} == {
        new["王小明"], blank.pk, survivor.pk}
    with transaction.atomic():
        assert membership.recompute_all(system, emit=True).total == 0
    assert Segment.objects.get(pk=shanghai_vip.pk).member_count == 3
    # the names the import wrote are searchable (SQLite: FTS rows per chunk; PostgreSQL: the trigram index)
    assert names(system, "王小明") == {"王小明"}
    assert names(system, "多多") == {"钱多多"}
    assert names(system, "悟空") == {"孙悟空"}
