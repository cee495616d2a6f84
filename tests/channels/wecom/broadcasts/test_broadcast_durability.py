"""A worker killed after WeCom accepted a task but before the commit: the retry adopts the task instead of
sending again (no duplicate for any customer). And the frequency cap and WeCom's rule, counted exactly."""

from __future__ import annotations

import pytest

from siyu.cdp import consent
from siyu.cdp.segments import services as segments
from siyu.channels.wecom.broadcasts import policy, services
from siyu.channels.wecom.broadcasts.models import Broadcast, BroadcastBatch, BroadcastRecipient
from siyu.channels.wecom.models import ExternalContact
from siyu.kernel.actor import Actor
from siyu.kernel.models import ScheduledAction

from .conftest import sim_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(org, admin_actor, connected):
    corp = connected(customers=6)
    consent.ensure_default_purposes(actor=admin_actor)
    for c in ExternalContact.objects.in_org(Actor.system(org.pk)).select_related("profile"):
        consent.record_consent(actor=admin_actor, profile=c.profile, purpose="marketing", granted=True,
                               source="test", channel="wecom")
    segment = segments.create_segment(actor=admin_actor, name="all", rules={"op": "and", "rules": []})

    def make(name: str) -> Broadcast:
        return services.create_broadcast(actor=admin_actor, data={
            "name": name, "text": f"{name} 的消息", "corp_id": corp.pk, "segment_id": segment.pk})

    return make


def test_killed_after_wecom_accepted_is_adopted_not_resent(ready, sim, monkeypatch, run_due):
    broadcast = ready("kill")
    real_save = BroadcastBatch.save
    crashes = []

    def crash_once(self, *args, **kwargs):
        if self.msgid and not crashes:  # WeCom accepted the task; the worker dies before the commit
            crashes.append(self.msgid)
            raise SystemError("worker killed")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(BroadcastBatch, "save", crash_once)
    run_due()
    assert crashes
    row = ScheduledAction.objects.get(action="wecom.broadcast.send", last_error__contains="worker killed")
    assert row.done_at is None
    ScheduledAction.objects.filter(pk=row.pk).update(locked_until=None)  # the lease ran out
    run_due()
    run_due()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DONE
    adopted = BroadcastBatch.objects.get(msgid=crashes[0])
    assert adopted.reconciled
    sends = sim_rows(sim, "SELECT external_userid FROM msg_template_sends")
    assert len(sends) == 6 and len({s["external_userid"] for s in sends}) == 6  # nobody twice
    assert len(sim_rows(sim, "SELECT msgid FROM msg_templates")) == 2  # one task per sender, none resent
    assert set(BroadcastRecipient.objects.values_list("status", flat=True)) == {"sent"}


def test_frequency_cap_counts_exactly(ready, admin_actor, run_due):
    policy.update_policy(actor=admin_actor, data={"max_per_window": 2, "window_days": 7, "wecom_rule": "month_days"})
    first, second = ready("one"), ready("two")
    run_due()
    third = ready("three")
    run_due()
    for b in (first, second):
        assert set(BroadcastRecipient.objects.filter(broadcast=b).values_list("status", flat=True)) == {"sent"}
    assert set(BroadcastRecipient.objects.filter(broadcast=third).values_list("status", flat=True)) == {"capped"}


def test_wecom_one_a_day_rule(ready, admin_actor, run_due):
    policy.update_policy(actor=admin_actor, data={"max_per_window": 10, "window_days": 7, "wecom_rule": "day_1"})
    first = ready("one")
    run_due()
    second = ready("two")
    run_due()
    assert set(BroadcastRecipient.objects.filter(broadcast=first).values_list("status", flat=True)) == {"sent"}
    assert set(BroadcastRecipient.objects.filter(broadcast=second).values_list("status", flat=True)) == {"wecom_limit"}
